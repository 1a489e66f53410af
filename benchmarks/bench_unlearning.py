"""Forgetting one participant: run time, utility and privacy of every strategy.

On a simulated cohort (40 participants by default, one short session each)
and on the real Muse recordings (4 participants), a quarter of the
participants are held out as never-seen non-members; the rest train the
models. Several members are forgotten in turn with:

- ``retrain`` (the gold standard: a 300-tree Random Forest refit without P),
- ``sharded`` (a sharded forest, ``q`` of the trees per participant, trained
  in that form from the start; forgetting regrows only P's trees),
- ``conmu`` with every setting of ``SWEEP_GRID``.

Exact strategies are compared with the plain forest retrained without P;
a sharded forest forgets into exactly the sharded forest retrained without
P (tests/test_unlearning.py proves it), so against that gold its gaps are 0.

For each it prints run time and speed-up over retrain, test accuracy on the
never-seen participants, P's (forget) accuracy, the SVC membership attack's
AUC and its gap to the gold model's, and the share of P's windows the attack
calls non-members; then, over the participants forgotten in turn, the mean
and 95% confidence interval of (forget accuracy - test accuracy): at or
below zero means P is classified no better than a stranger.

    .venv/bin/python benchmarks/bench_unlearning.py [--participants 40] [--forget 5] [--q 0.1]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _data import real_dataset
from scipy import stats

from eeg4students.featureset import compute_features
from eeg4students.simulate import simulate_to_dataset
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.experiment import (
    SWEEP_GRID,
    forget_experiment,
    split_members,
)


def run(name: str, root: Path, n_forget: int, q: float) -> pd.DataFrame:
    features = compute_features(root, progress=False)
    table, columns = features.table, features.feature_columns
    people = sorted(table["participant"].unique())
    members, strangers = split_members(people, 0.25, seed=0)
    print(
        f"\n## {name}: {len(people)} participants ({len(members)} members, "
        f"{len(strangers)} never seen), {len(table)} windows"
    )
    sharded = {"kind": "sharded", "q": q}
    rows, original, original_sharded = [], None, None
    for participant in members[:n_forget]:
        base = forget_experiment(
            table, columns, participant, members, strangers, original=original
        )
        original, retrain_s = base["original"], base["retrain_seconds"]
        rows.append(_row(participant, "retrain", "", base, retrain_s))
        fast = forget_experiment(
            table,
            columns,
            participant,
            members,
            strangers,
            strategy="sharded",
            unlearnable=sharded,
            original=original_sharded,
            gold=base["gold"],
        )
        original_sharded = fast["original"]
        rows.append(_row(participant, "sharded", f"q={q}", fast, retrain_s))
        for knobs in SWEEP_GRID:
            result = forget_experiment(
                table,
                columns,
                participant,
                members,
                strangers,
                strategy="conmu",
                conmu=ConMUSettings(**knobs),
                original=original,
                gold=base["gold"],
            )
            label = " ".join(f"{k}={v}" for k, v in knobs.items())
            rows.append(_row(participant, "conmu", label, result, retrain_s))
    frame = pd.DataFrame(rows)
    summary = frame.groupby(["strategy", "settings"], sort=False).agg(
        seconds=("seconds", "mean"),
        speedup=("speedup", "mean"),
        test_acc=("test_accuracy", "mean"),
        test_gap=("test_gap", "mean"),
        forget_acc=("forget_accuracy", "mean"),
        auc=("svc_auc", "mean"),
        auc_gap=("auc_gap", "mean"),
        p_nonmember=("nonmember_share", "mean"),
    )
    with pd.option_context("display.width", 200):
        print(summary.round(3).to_string())
    print("\nforget accuracy - never-seen accuracy, mean [95% CI] over participants forgotten:")
    for (strategy, settings), group in frame.groupby(["strategy", "settings"], sort=False):
        diff = group["forget_accuracy"] - group["test_accuracy"]
        half = stats.t.ppf(0.975, len(diff) - 1) * diff.std(ddof=1) / np.sqrt(len(diff))
        print(
            f"  {strategy:8s} {settings:40s} {diff.mean():+.3f} [{diff.mean() - half:+.3f}, "
            f"{diff.mean() + half:+.3f}]"
        )
    return summary


def _row(participant, strategy, settings, result, retrain_seconds) -> dict:
    model, gold = result["report"]["model"], result["report"]["gold"]
    return {
        "participant": participant,
        "strategy": strategy,
        "settings": settings,
        "seconds": result["seconds"],
        "speedup": retrain_seconds / max(result["seconds"], 1e-9),
        "test_accuracy": model["test_accuracy"],
        "test_gap": model["test_accuracy"] - gold["test_accuracy"],
        "forget_accuracy": model["forget_accuracy"],
        "svc_auc": model["svc_auc"],
        "auc_gap": model["svc_auc"] - gold["svc_auc"],
        "nonmember_share": model["target_nonmember_share"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--forget", type=int, default=5, help="members forgotten in turn")
    parser.add_argument("--q", type=float, default=0.1, help="sharded forest: trees per person")
    parser.add_argument("--only", choices=("real", "simulated"))
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "real":
            root = Path(tmp) / "sim"
            simulate_to_dataset(
                root, args.participants, 1, seed=0, task_seconds=20, progress=False
            )
            run(f"simulated cohort of {args.participants}", root, args.forget, args.q)
        if args.only != "simulated":
            dataset = real_dataset(Path(tmp) / "muse")
            if dataset is not None:
                run("real Muse recordings", dataset.root, args.forget, args.q)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
