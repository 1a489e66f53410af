"""The withdrawal verdict on cases whose answer is known: false positives, power, calibration.

For each target participant P of a cohort, ``--shadows`` shadow models are
fitted (half never see P, half are trained with P), then ``--fresh`` new
models that never saw P and ``--fresh`` new models trained with P are drawn
exactly as the shadows are and checked (20 targets x 25: 500 of each kind):

- **false-positive rate**: the share of never-seen models called NOT
  FORGOTTEN (nominal 5%);
- **not passed**: the share of models trained with P that are NOT FORGOTTEN
  or inconclusive (never "forgotten"), and the share flagged outright;
- **stated power**: the mean over targets of the power the check states,
  against the share of models trained with P it flags;
- **AUC, TPR at 5% and 1%** of the statistic (each model's largest z above
  its threshold) pooled over targets, members against never-seen models;
- **previous check**: the share of models trained with P that the check
  this one replaced (P's mean score against a t fitted to 8 "out" and 8
  "in" shadows, two-sided at 5%) flags: how hard the cohort is for an
  attack (17 of 32 on the real 43-person cohort it imitates);
- **leave-participant-out accuracy** (balanced, 8 folds): how alike the
  participants are;
- **exact strategies**: ``retrain`` and ``sharded`` updates compared with a
  fresh retrain without P by digest.

Cohorts: ``hard`` (:data:`eeg4students.unlearning.cohorts.HARD`: 40
participants, 2 channels, 30-50 windows each, models that remember little of
one person; 32 members, 5 calibration and 3 evaluation strangers, as in the
real 43-person study with 3 fewer), ``muse`` (the shared Muse recordings,
when present: 4 participants, 3 members; the shadows can only vary seeds).

Run: ``.venv/bin/python benchmarks/bench_privacy.py --models svm rf tmv
--muse`` (20 targets of 82 fits each per model: a few minutes for the SVM,
about half an hour each for the 300-tree forest and TMV on 2 cores).
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, parallel_config
from scipy.stats import t
from sklearn.model_selection import GroupKFold, cross_val_score

from eeg4students.tables import format_table
from eeg4students.training import build_estimator, fit_estimator
from eeg4students.unlearning.cohorts import HARD, CohortShape, feature_columns, simulate_cohort
from eeg4students.unlearning.digest import state_digest
from eeg4students.unlearning.privacy import (
    MIN_POWER,
    WHOLE,
    attack_summary,
    fit_shadows,
    reseeded,
    strongest,
    window_scores,
)
from eeg4students.unlearning.strategies import apply_strategy

UNLEARNABLE = {
    "rf": {"kind": "sharded", "q": 0.25},
    "svm": {"kind": "sharded", "shards": 4},
    "tmv": {"kind": "sharded", "q": 0.25, "shards": 4},
}
#: Shadows per side of the previous check.
PREVIOUS_SHADOWS = 8


def previous_check(out: np.ndarray, members: np.ndarray, score: float, fpr: float = 0.05) -> bool:
    """The check this toolkit used before (stop 31): is a model's mean score member-like?

    P's mean window score under a model against Student t predictive
    distributions fitted to the "out" and "in" shadows' mean scores; flagged
    when the log-likelihood ratio in/out exceeds its ``1 - fpr / 2`` quantile
    under "out" (the other half of ``fpr`` went to an "over-forgotten" tail).
    """

    def predictive(values):
        n = len(values)
        return n - 1, values.mean(), max(values.std(ddof=1), 1e-6) * np.sqrt(1 + 1 / n)

    inside, outside = predictive(members), predictive(out)

    def llr(x):
        return t.logpdf(x, *inside) - t.logpdf(x, *outside)

    grid = outside[1] + outside[2] * t.ppf(np.linspace(0.0005, 0.9995, 2000), outside[0])
    return bool(llr(score) > np.quantile(llr(grid), 1 - fpr / 2))


def measure(table, columns, members, pool, model, targets, n_shadows, n_fresh, params, seed=0):
    """Check fresh never-seen and member models for every target; one row per checked model."""
    rng = np.random.default_rng(seed)

    def template():
        return build_estimator(model, params)

    rows = []
    for target in targets:
        start = time.perf_counter()
        shadows = fit_shadows(
            table, columns, target, pool, len(members), template, n_shadows=n_shadows, seed=seed
        )
        power = shadows.power()
        target_rows = table[table["participant"] == target]
        X, y = target_rows[columns].to_numpy(float), target_rows["task"].to_numpy()
        others = [p for p in pool if p != target]
        plans = []
        for member in (False, True):
            for _ in range(n_fresh):
                chosen = sorted(rng.choice(others, len(members) - 1, replace=False).tolist())
                plans.append(
                    (member, [*chosen, target] if member else chosen, int(rng.integers(2**31)))
                )

        def one(people, model_seed, X, y):
            fitted = fit_estimator(
                reseeded(template(), model_seed), table[table["participant"].isin(people)], columns
            )
            return window_scores(fitted, X, y)

        scores = Parallel()(delayed(one)(people, s, X, y) for _, people, s in plans)
        # The previous check scored a plain model (TMV had no single score then).
        plain = WHOLE in shadows.out
        for (member, _, _), score in zip(plans, scores, strict=True):
            check = shadows.check(score)
            before = None
            if plain:
                before = previous_check(
                    shadows.out[WHOLE][:PREVIOUS_SHADOWS].mean(axis=1),
                    shadows.members[WHOLE][:PREVIOUS_SHADOWS].mean(axis=1),
                    float(score[WHOLE].mean()),
                )
            rows.append(
                {
                    "model": model,
                    "target": target,
                    "windows": len(target_rows),
                    "member": member,
                    "verdict": check["verdict"],
                    "margin": strongest(check)["margin"],
                    "power": power,
                    "previous": before,
                }
            )
        print(
            f"  {model} {target}: {len(target_rows)} windows, power {power:.2f}, "
            f"{time.perf_counter() - start:.0f} s",
            flush=True,
        )
    return pd.DataFrame(rows)


def summarise(rows: pd.DataFrame) -> dict:
    out, inside = rows[~rows["member"]], rows[rows["member"]]
    attack = attack_summary(inside["margin"], out["margin"])
    per_target = inside.groupby("target")["verdict"].apply(lambda v: (v == "not forgotten").mean())
    not_passed = inside.groupby("target")["verdict"].apply(lambda v: (v != "forgotten").mean())
    previous = inside["previous"].dropna()
    return {
        "never-seen models": len(out),
        "false positives": round(float((out["verdict"] == "not forgotten").mean()), 3),
        "members flagged": round(float((inside["verdict"] == "not forgotten").mean()), 3),
        "members not passed": round(float((inside["verdict"] != "forgotten").mean()), 3),
        "previous check flagged": (
            round(float(previous.astype(bool).mean()), 3) if len(previous) else ""
        ),
        "targets mostly not passed": f"{int((not_passed >= 0.5).sum())}/{len(not_passed)}",
        "mean stated power": round(float(rows.groupby("target")["power"].first().mean()), 3),
        "share flagged": round(float(per_target.mean()), 3),
        "targets below 0.8 power": int(
            (rows.groupby("target")["power"].first() < MIN_POWER).sum()
        ),
        "AUC": attack["auc"],
        "TPR@5%": attack["tpr@0.05"],
        "TPR@1%": attack["tpr@0.01"],
    }


def exactness(table, columns, members, model, target) -> dict:
    """retrain and sharded updates against a fresh retrain without the target, by digest."""
    remain = table[table["participant"].isin([p for p in members if p != target])]
    forget = table[table["participant"] == target]
    result = {}
    for strategy, unlearnable in (("retrain", None), ("sharded", UNLEARNABLE.get(model))):

        def template(unlearnable=unlearnable):
            return build_estimator(model, None, unlearnable)

        original = fit_estimator(template(), table[table["participant"].isin(members)], columns)
        outcome = apply_strategy(
            strategy, copy.deepcopy(original), template, target, remain, forget, columns
        )
        gold = fit_estimator(template(), remain, columns)
        result[strategy] = state_digest(outcome.estimator) == state_digest(gold)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", default=["svm", "rf", "tmv"])
    parser.add_argument("--targets", type=int, default=20)
    parser.add_argument(
        "--fresh", type=int, default=25, help="never-seen and member models per target"
    )
    parser.add_argument("--shadows", type=int, default=32)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--n-jobs", type=int, default=-1, help="worker processes (-1: all)")
    parser.add_argument("--muse", action="store_true", help="also the shared Muse recordings")
    parser.add_argument(
        "--shape",
        nargs="*",
        default=[],
        metavar="FIELD=VALUE",
        help="change the simulated cohort, e.g. artifacts=0.1 ar=0.5 (CohortShape's fields)",
    )
    args = parser.parse_args()
    fields = {f.name: f.type for f in dataclasses.fields(CohortShape)}
    changes = {}
    for item in args.shape:
        name, _, value = item.partition("=")
        if name not in fields or fields[name] not in ("int", "float"):
            parser.error(
                f"--shape {item}: give a number field of CohortShape ({', '.join(fields)})"
            )
        changes[name] = int(value) if fields[name] == "int" else float(value)
    args.cohort = dataclasses.replace(HARD, **changes)
    with parallel_config(n_jobs=args.n_jobs):
        run(args)


def participant_accuracy(table, columns, model) -> float:
    """Balanced leave-participant-out accuracy (8 folds): how alike the participants are."""
    scores = cross_val_score(
        build_estimator(model),
        table[columns].to_numpy(float),
        table["task"].to_numpy(),
        groups=table["participant"].to_numpy(),
        cv=GroupKFold(n_splits=8),
        scoring="balanced_accuracy",
    )
    return round(float(scores.mean()), 3)


def run(args) -> None:
    table = simulate_cohort(args.cohort, seed=args.seed)
    columns = feature_columns(args.cohort)
    people = sorted(table["participant"].unique())
    order = [people[i] for i in np.random.default_rng(args.seed).permutation(len(people))]
    members = sorted(order[:32])
    evaluation = sorted(order[37:])  # order[32:37]: calibration strangers, unused here
    pool = members + evaluation
    summary = []
    for model in args.models:
        print(f"hard cohort, {model}", flush=True)
        rows = measure(
            table,
            columns,
            members,
            pool,
            model,
            members[: args.targets],
            args.shadows,
            args.fresh,
            None,
        )
        summary.append(
            {
                "data": "hard, 40",
                "model": model,
                "LPO accuracy": participant_accuracy(table, columns, model),
                **summarise(rows),
            }
        )
        if model in UNLEARNABLE:
            same = exactness(table, columns, members, model, members[0])
            summary[-1]["retrain / sharded identical"] = f"{same['retrain']} / {same['sharded']}"
    if args.muse:
        import tempfile
        from pathlib import Path

        from _data import real_dataset

        from eeg4students.featureset import compute_features

        with tempfile.TemporaryDirectory() as tmp:
            dataset = real_dataset(Path(tmp) / "muse")
            features = compute_features(dataset, progress=False) if dataset else None
        if features is None:
            args.models = []
        else:
            muse, muse_columns = features.table, features.feature_columns
        muse_people = sorted(muse["participant"].unique()) if features is not None else []
        for model in args.models:
            print(f"muse, {model}", flush=True)
            rows = measure(
                muse,
                muse_columns,
                muse_people[:3],
                muse_people[:3],
                model,
                muse_people[:3],
                args.shadows,
                args.fresh // 5,
                None,
            )
            summary.append({"data": "muse, 4", "model": model, **summarise(rows)})
    print(format_table(pd.DataFrame(summary).astype(object).fillna(""), width=200))


if __name__ == "__main__":
    main()
