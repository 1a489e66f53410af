"""Cost of honest evaluation, per participant, on data shaped like the study's.

One simulated participant with 6 sessions x 5 one-minute tasks (42 s kept per
task after the 30% transition; 2 s windows every 1 s), 7-fold time-blocked
evaluation of RF (300 trees) + RBF SVM + TMV. Prints wall time on 1 and on
2 parallel jobs, the ratio to a baseline measured in the same process (the
plain 300-tree forest alone over the same folds), and checks that the
forest's accuracy inside the evaluation equals the plain forest's.

Also prints the per-window latency of causal TMV (median and 99th
percentile over single-window predictions), as live feedback needs it.

    .venv/bin/python benchmarks/bench_evaluation.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.ensemble import RandomForestClassifier

from eeg4students.evaluation import evaluate
from eeg4students.featureset import compute_features
from eeg4students.models import make_model
from eeg4students.models.tmv import CausalVoter
from eeg4students.simulate import simulate_to_dataset
from eeg4students.splitters import TimeBlockedKFold


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "ds"
        simulate_to_dataset(root, 1, 6, seed=3, progress=False)
        features = compute_features(root, progress=False)
    table, columns = features.table, features.feature_columns
    print(f"one participant: {len(table)} windows, {table['block'].nunique()} blocks")

    meta = table.sort_values(["participant", "session", "recording", "block", "start"])
    meta = meta.reset_index(drop=True)
    X, y = meta[columns].to_numpy(), meta["task"].to_numpy()
    start = time.perf_counter()
    plain = []
    for train, test in TimeBlockedKFold(7, 2.0).split(meta):
        forest = RandomForestClassifier(300, max_features="sqrt", random_state=0)
        plain.append(forest.fit(X[train], y[train]).score(X[test], y[test]))
    baseline = time.perf_counter() - start
    print(
        f"baseline, plain RF(300) 7-fold on 1 core: {baseline:.2f} s, "
        f"accuracy {np.mean(plain):.3f}"
    )

    for n_jobs in (1, 2):
        start = time.perf_counter()
        result = evaluate(table, columns, ["rf", "svm", "tmv"], n_jobs=n_jobs, progress=False)
        wall = time.perf_counter() - start
        means = result.scores.groupby("pipeline")["accuracy"].mean().round(3).to_dict()
        same = np.isclose(means["rf"], np.mean(plain), atol=5e-4)
        print(
            f"RF + SVM + TMV, 7-fold, n_jobs={n_jobs}: {wall:.2f} s "
            f"({wall / baseline:.2f}x the baseline); accuracy {means}; "
            f"RF equals the plain forest: {same}"
        )

    tmv = make_model("tmv").fit(X, y, groups=meta["block"].to_numpy())
    voter = CausalVoter(tmv)
    latencies = []
    for row in X[:300]:
        start = time.perf_counter()
        voter.update(row)
        latencies.append(time.perf_counter() - start)
    ms = np.array(latencies) * 1e3
    print(
        f"causal TMV per-window latency: median {np.median(ms):.2f} ms, "
        f"p99 {np.percentile(ms, 99):.2f} ms"
    )


if __name__ == "__main__":
    main()
