"""Accuracy of RF, RBF SVM and TMV under every evaluation scheme.

On the real Muse recordings (``../shared/data/muse-mental-state``, or the
folder in ``EEG4STUDENTS_SHARED_DATA``; 4 participants x 3 mental states x 2
days) and on a simulated classroom (8 participants x 2 sessions x 5 tasks),
prints the mean accuracy per pipeline under time-blocked, cross-session,
leave-one-participant-out and shuffled (LEAKY) evaluation, per-participant
tables, and how much shuffling inflates accuracy over time-blocked folds.

    .venv/bin/python benchmarks/bench_classification.py [--n-jobs 2] [--only real|simulated]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pandas as pd
from _data import real_dataset

from eeg4students.evaluation import SCHEMES, evaluate
from eeg4students.featureset import compute_features
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset


def run(name: str, dataset: Dataset, n_jobs: int) -> pd.DataFrame:
    features = compute_features(dataset, progress=False)
    print(
        f"\n## {name}: {len(features.table)} windows, {features.table['participant'].nunique()} "
        f"participants, {features.table['task'].nunique()} classes"
    )
    means = {}
    for scheme in SCHEMES:
        start = time.perf_counter()
        result = evaluate(
            features.table,
            features.feature_columns,
            ["rf", "svm", "tmv"],
            scheme,
            n_jobs=n_jobs,
            progress=False,
        )
        summary = result.summary()
        label = f"{scheme} (LEAKY)" if result.settings["leaky"] else scheme
        means[label] = summary.loc["mean"]
        print(f"\n{label}, per participant ({time.perf_counter() - start:.0f} s):")
        print(summary.round(3).to_string())
    table = pd.DataFrame(means).T
    print(f"\n{name}: mean accuracy per scheme")
    print(table.round(3).to_string())
    inflation = table.loc["shuffled (LEAKY)"] - table.loc["time-blocked"]
    print(f"shuffled minus time-blocked: {inflation.round(3).to_dict()}")
    return table


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n-jobs", type=int, default=2)
    parser.add_argument("--only", choices=("real", "simulated"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.only != "simulated":
            dataset = real_dataset(Path(tmp) / "muse")
            if dataset is not None:
                run("real Muse recordings", dataset, args.n_jobs)
        if args.only != "real":
            root = Path(tmp) / "sim"
            simulate_to_dataset(root, 8, 2, seed=0, progress=False)
            run("simulated classroom (seed 0)", Dataset(root), args.n_jobs)


if __name__ == "__main__":
    main()
