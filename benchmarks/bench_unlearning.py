"""Forgetting one participant at a time: run time, utility and P's privacy of every strategy.

On a simulated cohort (40 participants by default, one session each) and on
the real Muse recordings (4 participants), a quarter of the participants are
never-seen strangers (half kept for ConMU's stopping rule, half for the
figures) and the rest train the models. Several members are forgotten in
turn, each with:

- ``retrain`` (the gold standard: a 300-tree Random Forest refit without P),
- ``sharded`` (a sharded forest, ``q`` of the trees per participant, trained
  in that form from the start; forgetting regrows only P's trees),
- ``conmu`` with every setting of ``SWEEP_GRID``,

and ``none`` (the original model, nothing forgotten) shows what the attack
sees when nothing is done.

Privacy is measured on P with the participant-level member test of
:mod:`eeg4students.unlearning.privacy`: for each forgotten participant,
shadow models of the strategy's model kind trained with and without P.
Positives are the updated model's statistic above its threshold; negatives
the same for "out" shadow models that never saw P (each left out of the test
in turn). The table gives the attack's AUC (0.5: updated models look like
models that never saw P) and its true-positive rate at 5% false positives,
over all forgotten participants, and the share of them that are exact or
forgotten (exact strategies are compared with a retrain by digest, ConMU
settings by the member test on the shared shadows; ``forget --evaluate``
also unlearns the shadows, U-LiRA) and that are inconclusive.
Utility: accuracy on the evaluation strangers and its gap to the gold model,
and on P's own windows.

    .venv/bin/python benchmarks/bench_unlearning.py [--participants 40] [--forget 8]
        [--shadows 32] [--q 0.1] [--only simulated|real] [--n-jobs 2]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
from _data import real_dataset

from eeg4students.featureset import compute_features
from eeg4students.parallel import backend
from eeg4students.simulate import simulate_to_dataset
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.experiment import SWEEP_GRID, forget_experiment, split_members
from eeg4students.unlearning.privacy import Shadows, attack_summary, strongest


def _negatives(shadows) -> list[float]:
    """The statistic above the threshold of each "out" shadow, tested without it."""
    margins = []
    for j in range(len(next(iter(shadows.out.values())))):
        rest = Shadows(
            shadows.participant,
            shadows.windows,
            {b: np.delete(v, j, 0) for b, v in shadows.out.items()},
            shadows.members,
        )
        margins.append(strongest(rest.check({b: v[j] for b, v in shadows.out.items()}))["margin"])
    return margins


def run(name: str, root: Path, n_forget: int, q: float, n_shadows: int) -> pd.DataFrame:
    features = compute_features(root, progress=False)
    table, columns = features.table, features.feature_columns
    people = sorted(table["participant"].unique())
    members, strangers = split_members(people, 0.25, seed=0)
    print(
        f"\n## {name}: {len(people)} participants ({len(members)} members, "
        f"{len(strangers)} never seen), {len(table)} windows, {n_shadows} shadows per target"
    )
    sharded = {"kind": "sharded", "q": q}
    rows, original, original_sharded = [], None, None
    common = {"n_shadows": n_shadows}
    for participant in members[:n_forget]:
        start = time.perf_counter()
        base = forget_experiment(
            table, columns, participant, members, strangers, original=original, **common
        )
        original, retrain_s = base["original"], base["retrain_seconds"]
        negatives = _negatives(base["shadows"])
        rows.append(_row(participant, "none", "original", base, retrain_s, negatives, "original"))
        rows.append(_row(participant, "retrain", "", base, retrain_s, negatives))
        fast = forget_experiment(
            table,
            columns,
            participant,
            members,
            strangers,
            strategy="sharded",
            unlearnable=sharded,
            original=original_sharded,
            **common,
        )
        original_sharded = fast["original"]
        # Its exactness against a sharded retrain (its own gold); its accuracy against the
        # plain forest's retrain, like every other row.
        plain = base["report"]["gold"]["test_accuracy"]
        rows.append(
            _row(
                participant,
                "sharded",
                f"q={q}",
                fast,
                retrain_s,
                _negatives(fast["shadows"]),
                reference=plain,
            )
        )
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
                shadows=base["shadows"],
                reference=base["report"],
                **common,
            )
            label = " ".join(f"{k}={v}" for k, v in knobs.items())
            rows.append(_row(participant, "conmu", label, result, retrain_s, negatives))
        print(f"  {participant}: {time.perf_counter() - start:.0f} s")
    frame = pd.DataFrame(rows)
    summary = []
    for (strategy, settings), group in frame.groupby(["strategy", "settings"], sort=False):
        attack = attack_summary(group["margin"], np.concatenate(group["negatives"].to_list()))
        summary.append(
            {
                "strategy": strategy,
                "settings": settings,
                "seconds": group["seconds"].mean(),
                "speedup": group["speedup"].mean(),
                "test_acc": group["test_accuracy"].mean(),
                "test_gap_pt": 100 * group["test_gap"].mean(),
                "P_acc": group["forget_accuracy"].mean(),
                "attack_auc": attack["auc"],
                "tpr_at_5%": attack["tpr@0.05"],
                "forgotten": group["forgotten"].mean(),
                "inconclusive": (group["verdict"] == "inconclusive").mean(),
            }
        )
    summary = pd.DataFrame(summary)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(summary.round(3).to_string(index=False))
    return summary


def _row(
    participant,
    strategy,
    settings,
    result,
    retrain_seconds,
    negatives,
    which="model",
    reference=None,
):
    report = result["report"]
    entry, gold = report[which], report["gold"]
    reference = gold["test_accuracy"] if reference is None else reference
    seconds = 0.0 if which == "original" else result["seconds"]
    if which == "model" and result["exact"]:
        verdict = "exact" if report["identical"] else "exact: DIFFERS"
    else:
        verdict = entry["privacy"]["verdict"]
    return {
        "participant": participant,
        "strategy": strategy,
        "settings": settings,
        "seconds": seconds,
        "speedup": retrain_seconds / max(seconds, 1e-9) if seconds else float("nan"),
        "test_accuracy": entry["test_accuracy"],
        "test_gap": entry["test_accuracy"] - reference,
        "forget_accuracy": entry["forget_accuracy"],
        "margin": strongest(entry["private"]["screen"])["margin"],
        "forgotten": verdict in ("exact", "forgotten"),
        "verdict": verdict,
        "negatives": negatives,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--participants", type=int, default=40)
    parser.add_argument("--forget", type=int, default=8, help="members forgotten in turn")
    parser.add_argument("--shadows", type=int, default=32, help="shadow models per target")
    parser.add_argument("--q", type=float, default=0.1, help="sharded forest: trees per person")
    parser.add_argument("--only", choices=("real", "simulated"))
    parser.add_argument("--n-jobs", type=int, default=2, help="parallel shadow fits")
    args = parser.parse_args()
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp, backend(n_jobs=args.n_jobs):
        if args.only != "real":
            root = Path(tmp) / "sim"
            simulate_to_dataset(
                root, args.participants, 1, seed=0, task_seconds=20, progress=False
            )
            run(
                f"simulated cohort of {args.participants}",
                root,
                args.forget,
                args.q,
                args.shadows,
            )
        if args.only != "simulated":
            dataset = real_dataset(Path(tmp) / "muse")
            if dataset is not None:
                run("real Muse recordings", dataset.root, args.forget, args.q, args.shadows)
    print(f"\n(total {time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
