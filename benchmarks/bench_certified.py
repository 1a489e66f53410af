"""Certified removal measured: speed against a retrain, accuracy against no noise, privacy.

For each certified model (``lr``, ``rff``, ``tmv`` over both) trained on the
members of a cohort, with features standardised per session (what ``train
--unlearnable certified`` does):

- **accuracy** on never-seen participants at each epsilon (mean and spread
  over 5 fits, each with its own noise; the noise's scale does not depend on
  epsilon, so a line after each model pools every fit), beside the same
  model fitted with (next to) no noise (``sigma = 1e-6``) and the RBF SVM;
- **speed**: the seconds of a certified removal of one participant (a
  Newton step from the sums the model keeps; exact residuals and further
  steps when its bound is too large to spend) against the seconds of the
  ``retrain`` strategy refitting the same model without them: the fastest
  of ``--repeats`` runs of each, medians over the targets (a baseline run
  in the same process: ratios, not absolute times, are what compare across
  machines), and the seconds of a second removal from the updated model
  (which first computes the Hessian it no longer keeps);
- **efficiency**: how often the budget ran out (a retrain instead of a step),
  how often the residual was computed exactly (its bound too large to
  spend), the most Newton steps a removal took, and how many removals of
  the same size the budget still allows;
- **privacy**: the participant-level check (U-LiRA: shadows trained with P
  and unlearned by the same removal, and shadows that never saw P) on the
  model after a certified removal and on the model retrained without P: how
  often each is called forgotten, how often each is flagged, and for how
  many targets the two get the same verdict; beside them a retrain drawing
  the *same* noise as the certified model (the original is seeded for
  this), which is what the removal approximates: the model a retrain
  without P could have given.

Cohorts: ``hard`` (:data:`eeg4students.unlearning.cohorts.HARD`, 40
participants, 32 members, 8 never seen), ``muse`` (the shared Muse
recordings, when present: 4 participants, 3 members) and, with
``--class-scale``, a class of 40 shaped like six EEG4Students sessions each
(4 channels, 5 tasks, 1,500-1,800 windows per participant: about 53,000
training windows), for speed and budget only (3 targets, no privacy check).

Run: ``.venv/bin/python benchmarks/bench_certified.py --muse`` (a few minutes
on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import numpy as np
import pandas as pd
from joblib import parallel_config

from eeg4students.adaptation import adapt_table
from eeg4students.models import CertifiedTMV
from eeg4students.models.certified import _minimise, _noise
from eeg4students.tables import format_table
from eeg4students.training import build_estimator, fit_estimator
from eeg4students.unlearning.cohorts import HARD, feature_columns, simulate_cohort
from eeg4students.unlearning.privacy import fit_shadows, window_scores
from eeg4students.unlearning.strategies import apply_strategy, unlearner

MODELS = ("lr", "rff", "tmv")
EPSILONS = (0.1, 0.3, 1.0, 3.0, 10.0)
#: Fits per setting whose accuracy is averaged (each draws its own noise).
DRAWS = 5
#: Epsilons of the class-scale run (a participant there is ~1,650 windows: the bound grows
#: with the square of the windows removed).
CLASS_EPSILONS = (1.0, 10.0, 100.0)


def _seeded(estimator, seed: int):
    """The certified model with its noise seeded (each base its own): a benchmark's copy."""
    parts = (
        [base for _, base in estimator.estimators]
        if isinstance(estimator, CertifiedTMV)
        else [estimator]
    )
    for i, part in enumerate(parts):
        part.set_params(random_state=seed + i)
    return estimator


def _same_noise_retrain(model, remain, columns):
    """The exact optimum on the remaining windows under the model's own (seeded) noise.

    What the certified removal approximates: a retrain drawing the same noise.
    """
    twin = copy.deepcopy(model)
    parts = twin.estimators_ if isinstance(twin, CertifiedTMV) else [twin]
    X, y = remain[columns].to_numpy(dtype=float), remain["task"].to_numpy()
    for part in parts:
        Z, targets = part._design(X), part._targets(y)
        noise = _noise(part.random_state, 0, part.noise_, part.coef_.shape)
        pairs = zip(targets, noise, strict=True)
        part.coef_ = np.array([_minimise(Z, t, part.lam, b)[0] for t, b in pairs])
    return twin


def _accuracy(model, table, columns) -> float:
    return float(np.mean(model.predict(table[columns].to_numpy()) == table["task"].to_numpy()))


def measure(
    table,
    columns,
    members,
    test,
    model,
    targets,
    n_shadows,
    seed,
    epsilons=EPSILONS,
    draws=DRAWS,
    repeats=3,
    settings=None,
) -> list[dict]:
    """One row per epsilon: accuracy, speed, budget and privacy of certified removal."""
    trained = table[table["participant"].isin(members)]
    pool = sorted({*members, *test["participant"].unique()})
    rows = []
    plain = fit_estimator(
        build_estimator(
            model, None, {"kind": "certified", **(settings or {}), "sigma": 1e-6, "epsilon": 1.0}
        ),
        trained,
        columns,
    )
    plain_accuracy = _accuracy(plain, test, columns)
    pooled = []
    for epsilon in epsilons:
        unlearnable = {"kind": "certified", **(settings or {}), "epsilon": epsilon}

        def template(unlearnable=unlearnable):
            return build_estimator(model, None, unlearnable)

        # Seeded (a benchmark needs no certificate), so that a retrain with the same noise
        # can be computed for the privacy check; the shadows draw their own noise.
        original = fit_estimator(_seeded(template(), seed + 100 * len(rows)), trained, columns)
        # Each fit draws its own noise: the accuracy is a mean over draws.
        fits = [original] + [fit_estimator(template(), trained, columns) for _ in range(draws - 1)]
        accuracy = [_accuracy(fit, test, columns) for fit in fits]
        pooled += accuracy
        step_seconds, retrain_seconds, retrained, left, verdicts = [], [], 0, [], []
        exact, newton, second_seconds = 0, [], []
        powers = []
        for target in targets:
            remain = trained[trained["participant"] != target]
            forget = trained[trained["participant"] == target]
            # The fastest of a few runs of each (each on a fresh copy): a removal takes
            # milliseconds, and one run can land on a busy moment of the machine.
            runs = [
                apply_strategy(
                    "certified", copy.deepcopy(original), template, target, remain, forget, columns
                )
                for _ in range(repeats)
            ]
            golds = [
                apply_strategy(
                    "retrain", copy.deepcopy(original), template, target, remain, forget, columns
                )
                for _ in range(repeats)
            ]
            certified, gold = runs[0], golds[0]
            step_seconds.append(min(run.seconds for run in runs))
            retrain_seconds.append(min(run.seconds for run in golds))
            # A second removal from the updated model: it kept no Hessian (the one it had was
            # taken at weights trained with the first person), so it computes one.
            second = next(p for p in members if p != target)
            again = copy.deepcopy(certified.estimator)
            rest = remain[remain["participant"] != second]
            gone = remain[remain["participant"] == second]
            outcome = apply_strategy("certified", again, template, second, rest, gone, columns)
            second_seconds.append(outcome.seconds)
            certificate = certified.info["certificate"]
            parts = [certificate] if "epsilon" in certificate else list(certificate.values())
            retrained += any(p["retrained"] for p in parts)
            exact += any(p["exact"] for p in parts)
            newton.append(max(p["steps"] for p in parts))
            left.append(min(p["left"] // max(p["bound"], 1e-12) for p in parts))
            if n_shadows:
                shadows = fit_shadows(
                    table,
                    columns,
                    target,
                    pool,
                    len(members),
                    template,
                    n_shadows=n_shadows,
                    unlearn=unlearner("certified", template, target, columns),
                    strategy="certified",
                    seed=seed,
                )
                X, y = forget[columns].to_numpy(), forget["task"].to_numpy()
                powers.append(shadows.power())
                same = _same_noise_retrain(original, remain, columns)
                for name, fitted in (
                    ("certified", certified.estimator),
                    ("retrain", gold.estimator),
                    ("same noise", same),
                ):
                    check = shadows.check(window_scores(fitted, X, y), against="unlearned")
                    verdicts.append({"kind": name, "verdict": check["verdict"], "target": target})
        verdict = pd.DataFrame(verdicts)
        agree = agree_same = float("nan")
        if not verdict.empty:
            pairs = verdict.pivot(index="target", columns="kind", values="verdict")
            agree = float((pairs["certified"] == pairs["retrain"]).mean())
            agree_same = float((pairs["certified"] == pairs["same noise"]).mean())

        def share(kind, word, verdict=verdict):
            if verdict.empty:
                return float("nan")
            return float((verdict.loc[verdict["kind"] == kind, "verdict"] == word).mean())

        rows.append(
            {
                "model": model,
                "epsilon": epsilon,
                "test accuracy": f"{np.mean(accuracy):.3f} +- {np.std(accuracy):.3f}",
                "without noise": round(plain_accuracy, 3),
                "removal s (median)": round(float(np.median(step_seconds)), 4),
                "retrain s (median)": round(float(np.median(retrain_seconds)), 4),
                "second removal s (median)": round(float(np.median(second_seconds)), 4),
                "speed-up": round(float(np.median(retrain_seconds) / np.median(step_seconds)), 1),
                "budget ran out": f"{retrained}/{len(targets)}",
                "exact residual": f"{exact}/{len(targets)}",
                "Newton steps (max)": max(newton),
                "removals left (median)": float(np.median(left)),
                "stated power": round(float(np.mean(powers)), 3) if powers else float("nan"),
                "forgotten after removal": round(share("certified", "forgotten"), 3),
                "forgotten after retrain": round(share("retrain", "forgotten"), 3),
                "flagged after removal": round(share("certified", "not forgotten"), 3),
                "flagged after retrain": round(share("retrain", "not forgotten"), 3),
                "same verdict": round(agree, 3),
                "flagged, same-noise retrain": round(share("same noise", "not forgotten"), 3),
                "same verdict, same noise": round(agree_same, 3),
            }
        )
        print(f"  {model} epsilon {epsilon:g}: done", flush=True)
    # The noise's scale does not depend on epsilon (epsilon sets the budget): every fit
    # above is a draw of the same model.
    print(
        f"  {model}: test accuracy over all {len(pooled)} fits {np.mean(pooled):.3f} +- "
        f"{np.std(pooled):.3f}, without noise {plain_accuracy:.3f} "
        f"({100 * (np.mean(pooled) - plain_accuracy):+.1f} points)",
        flush=True,
    )
    return rows


def svm_accuracy(table, columns, members, test) -> float:
    trained = table[table["participant"].isin(members)]
    return round(
        _accuracy(fit_estimator(build_estimator("svm"), trained, columns), test, columns), 3
    )


def run(args) -> None:
    summary = []
    settings = {key: getattr(args, key) for key in ("sigma", "lam") if getattr(args, key)}
    options = {"repeats": args.repeats, "settings": settings}
    table = simulate_cohort(HARD, seed=args.seed)
    columns = feature_columns(HARD)
    table, _ = adapt_table(table, columns, "session")
    people = sorted(table["participant"].unique())
    order = [people[i] for i in np.random.default_rng(args.seed).permutation(len(people))]
    members, test_people = sorted(order[:32]), sorted(order[32:])
    test = table[table["participant"].isin(test_people)]
    print(f"hard cohort: svm accuracy {svm_accuracy(table, columns, members, test)}", flush=True)
    for model in args.models:
        rows = measure(
            table,
            columns,
            members,
            test,
            model,
            members[: args.targets],
            args.shadows,
            args.seed,
            **options,
        )
        summary += [{"data": "hard, 40", **row} for row in rows]
    if args.muse:
        import tempfile
        from pathlib import Path

        from _data import real_dataset

        from eeg4students.featureset import compute_features

        with tempfile.TemporaryDirectory() as tmp:
            dataset = real_dataset(Path(tmp) / "muse")
            features = compute_features(dataset, progress=False) if dataset else None
        if features is not None:
            muse, muse_columns = features.table, features.feature_columns
            muse, _ = adapt_table(muse, muse_columns, "session")
            muse_people = sorted(muse["participant"].unique())
            members, test = muse_people[:3], muse[muse["participant"] == muse_people[3]]
            accuracy = svm_accuracy(muse, muse_columns, members, test)
            print(f"muse: svm accuracy {accuracy}", flush=True)
            for model in args.models:
                rows = measure(
                    muse, muse_columns, members, test, model, members, 0, args.seed, **options
                )
                summary += [{"data": "muse, 4", **row} for row in rows]
    if args.class_scale:
        shape = dataclasses.replace(
            HARD,
            channels=4,
            tasks=("Think", "Count", "Recall", "Breathe", "Draw"),
            windows=(1500, 1800),
            blocks=6,
        )
        table = simulate_cohort(shape, seed=args.seed)
        columns = feature_columns(shape)
        table, _ = adapt_table(table, columns, "session")
        people = sorted(table["participant"].unique())
        members, test = people[:32], table[table["participant"].isin(people[32:])]
        for model in ("lr", "rff"):
            rows = measure(
                table,
                columns,
                members,
                test,
                model,
                members[:3],
                0,
                args.seed,
                CLASS_EPSILONS,
                1,
                **options,
            )
            summary += [{"data": "class, 40 x 6 sessions", **row} for row in rows]
    print(format_table(pd.DataFrame(summary).astype(object).fillna(""), width=250))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=list(MODELS))
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument("--shadows", type=int, default=16, help="0: no privacy check")
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--n-jobs", type=int, default=-1, help="worker processes (-1: all)")
    parser.add_argument("--muse", action="store_true", help="also the shared Muse recordings")
    parser.add_argument(
        "--sigma", type=float, help="the certified models' sigma (default: theirs)"
    )
    parser.add_argument("--lam", type=float, help="their L2 strength (default: theirs)")
    parser.add_argument(
        "--repeats", type=int, default=3, help="runs of each removal and retrain timed (fastest)"
    )
    parser.add_argument(
        "--class-scale", action="store_true", help="also a class of 40 with six sessions each"
    )
    args = parser.parse_args()
    with parallel_config(n_jobs=args.n_jobs):
        run(args)


if __name__ == "__main__":
    start = time.perf_counter()
    main()
    print(f"({time.perf_counter() - start:.0f} s)")
