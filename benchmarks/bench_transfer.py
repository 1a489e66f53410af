"""Accuracy on a new day and a new student: adaptation, Riemannian pipelines, calibration.

On the simulated class (8 participants x 2 sessions, seed 0) and on the real
Muse recordings (``../shared/data/muse-mental-state``, when present):

1. RF, RBF SVM, LDA and TMV on band powers, the Riemannian pipelines (tangent
   space + logistic regression, MDM) on the windows' covariance matrices,
   and TMV over RF, SVM and tangent space (``tmvts``), across sessions and
   leave-participant-out, with the features as they are, adapted per
   session (band powers standardised, matrices re-centred, labels unused)
   and, leave-participant-out, adapted per participant;
2. the calibration scheme: a cohort model plus the first 0, 1, 2 and 5
   minutes of the new student's other sessions (balanced against the
   cohort; for LDA also unbalanced), beside a model trained on all of the
   student's other sessions.

Prints markdown rows: mean accuracy over participants with a 95% bootstrap
interval over participants, then the Muse participants one by one. About 20
minutes on 2 cores::

    .venv/bin/python benchmarks/bench_transfer.py [--quick]

``--quick`` runs LDA, TMV and TS + LR only.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from _data import real_dataset

from eeg4students.evaluation import evaluate, level_minutes
from eeg4students.features import FeatureParams
from eeg4students.featureset import compute_features
from eeg4students.simulate import simulate_to_dataset

MODELS = ["lda", "rf", "svm", "tmv", "tslr", "mdm", "tmvts"]
QUICK = ["lda", "tmv", "tslr"]
CALIBRATION_MODELS = ["lda", "tmv", "tslr"]


def interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95% bootstrap interval of the mean over participants."""
    rng = np.random.default_rng(seed)
    means = [rng.choice(values, len(values)).mean() for _ in range(2000)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def cell(values: pd.Series) -> str:
    values = values.dropna().to_numpy()
    lo, hi = interval(values)
    return f"{values.mean():.3f} [{lo:.2f}, {hi:.2f}]"


def level(pipeline: str) -> float:
    """Minutes of a calibration pipeline's level (``lda +2 min`` -> 2; ``own`` last)."""
    return level_minutes(pipeline.split(" ", 1)[1]) if not pipeline.endswith("own") else 1e9


def run(name: str, root: Path, models: list[str], per_person: list) -> None:
    features = compute_features(root, feat=FeatureParams(covariance=True), progress=False)
    args = (features.table, features.feature_columns)
    runs = [
        ("cross-session", None),
        ("cross-session", "session"),
        ("loso", None),
        ("loso", "session"),
        ("loso", "participant"),
    ]
    for scheme, adapt in runs:
        result = evaluate(*args, models, scheme, adapt=adapt, n_jobs=-1, progress=False)
        table = result.summary().drop(index="mean")
        cells = " | ".join(cell(table[p]) for p in table.columns)
        print(f"| {name} | {scheme} | {adapt or 'none'} | {cells} |", flush=True)
        if name == "real Muse":
            per_person.append(table.assign(run=f"{scheme}, adapt {adapt or 'none'}"))
    print(f"pipelines: {', '.join(table.columns)}")
    chosen = [m for m in CALIBRATION_MODELS if m in models]
    result = evaluate(*args, chosen, "calibration", n_jobs=-1, progress=False)
    table = result.summary().drop(index="mean")
    pipelines = result.scores.drop_duplicates("pipeline").set_index("pipeline")
    for model, group in pipelines.groupby("model", sort=False):
        row = sorted(group.index, key=lambda p: (p.endswith("own"), level(p)))
        print(f"| {name} | calibration | {model} | " + " | ".join(cell(table[p]) for p in row))
    print(f"levels: +0, 1, 2, 5 min, own; notes: {'; '.join(result.notes) or 'none'}")
    # The same for LDA without balancing: each of the student's windows counts once.
    result = evaluate(*args, ["lda"], "calibration", balance=False, n_jobs=-1, progress=False)
    table = result.summary().drop(index="mean")
    row = sorted(table.columns, key=lambda p: (p.endswith("own"), level(p)))
    print(f"| {name} | calibration, unbalanced | lda | " + " | ".join(cell(table[p]) for p in row))
    if name == "real Muse":
        per_person.append(table.assign(run="calibration"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="LDA, TMV and TS + LR only")
    args = parser.parse_args()
    models = QUICK if args.quick else MODELS
    per_person: list[pd.DataFrame] = []
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        simulate_to_dataset(sim, 8, 2, seed=0, progress=False)
        run("simulated, 8 x 2", sim, models, per_person)
        real = real_dataset(Path(tmp) / "muse")
        if real is not None:
            run("real Muse", real.root, models, per_person)
    for table in per_person:
        print(f"\nReal Muse per participant, {table['run'].iloc[0]}:")
        print(table.drop(columns="run").round(3).to_string())


if __name__ == "__main__":
    main()
