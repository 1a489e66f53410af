"""The withdrawal verdict on cases whose answer is known: false positives, power, calibration.

For each target participant P of a cohort, ``--shadows`` shadow models are
fitted (half never see P, half are trained with P), then ``--fresh`` new
models that never saw P and ``--fresh`` new models trained with P are drawn
exactly as the shadows are and checked:

- **false-positive rate**: the share of never-seen models called NOT
  FORGOTTEN (nominal 5%);
- **not passed**: the share of models trained with P that are NOT FORGOTTEN
  or inconclusive (never "forgotten"), and the share flagged outright;
- **stated power**: the mean over targets of the power the check states,
  against the share of models trained with P it flags;
- **AUC, TPR at 5% and 1%** of the statistic (each model's largest z above
  its threshold) pooled over targets, members against never-seen models;
- **exact strategies**: ``retrain`` and ``sharded`` updates compared with a
  fresh retrain without P by digest.

Cohorts: ``hard`` (:data:`eeg4students.unlearning.cohorts.HARD`: 40
participants, 2 channels, 30-50 windows each, leave-participant-out accuracy
about 0.65; 32 members, 5 calibration and 3 evaluation strangers, as in the
real 43-person study with 3 fewer), ``muse`` (the shared Muse recordings,
when present: 4 participants, 3 members; the shadows can only vary seeds).

Run: ``.venv/bin/python benchmarks/bench_privacy.py --models svm --muse``
(about 4 minutes on 2 cores: 10 targets of 132 SVM fits each); ``--models
rf tmv`` fits 300-tree forests (one target took 445 s on 2 busy cores).
"""

from __future__ import annotations

import argparse
import copy
import time

import numpy as np
import pandas as pd
from joblib import Parallel, delayed

from eeg4students.modelstore import build_estimator, fit_estimator
from eeg4students.tables import format_table
from eeg4students.unlearning.cohorts import HARD, feature_columns, simulate_cohort
from eeg4students.unlearning.digest import state_digest
from eeg4students.unlearning.privacy import (
    MIN_POWER,
    attack_summary,
    fit_shadows,
    reseeded,
    strongest,
    window_scores,
)
from eeg4students.unlearning.strategies import apply_strategy

UNLEARNABLE = {"rf": {"kind": "sharded", "q": 0.25}, "svm": {"kind": "sharded", "shards": 4}}


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
        for (member, _, _), score in zip(plans, scores, strict=True):
            check = shadows.check(score)
            rows.append(
                {
                    "model": model,
                    "target": target,
                    "windows": len(target_rows),
                    "member": member,
                    "verdict": check["verdict"],
                    "margin": strongest(check)["margin"],
                    "power": power,
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
    return {
        "never-seen models": len(out),
        "false positives": round(float((out["verdict"] == "not forgotten").mean()), 3),
        "members flagged": round(float((inside["verdict"] == "not forgotten").mean()), 3),
        "members not passed": round(float((inside["verdict"] != "forgotten").mean()), 3),
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
    parser.add_argument("--targets", type=int, default=10)
    parser.add_argument(
        "--fresh", type=int, default=50, help="never-seen and member models per target"
    )
    parser.add_argument("--shadows", type=int, default=32)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--muse", action="store_true", help="also the shared Muse recordings")
    args = parser.parse_args()

    table = simulate_cohort(HARD, seed=args.seed)
    columns = feature_columns(HARD)
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
        summary.append({"data": "hard, 40", "model": model, **summarise(rows)})
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
    print(format_table(pd.DataFrame(summary).fillna(""), width=200))


if __name__ == "__main__":
    main()
