"""Accuracy on a new day and a new student, with and without session adaptation.

Evaluates RF, RBF SVM, LDA and TMV on band powers and the Riemannian
pipelines (tangent space + logistic regression, MDM) on the windows'
covariance matrices, across sessions and leave-participant-out
on the simulated class (8 participants x 2 sessions, seed 0) and on the real
Muse recordings (``../shared/data/muse-mental-state``, when present), once on
the features as they are and once with ``adapt="session"`` (every feature
standardised within each participant's session from its own windows,
labels unused). Prints mean accuracy over participants with a 95% bootstrap
interval over participants, and the sessions the adaptation names as
unbalanced. About 6 minutes on 2 cores::

    .venv/bin/python benchmarks/bench_transfer.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from _data import real_dataset

from eeg4students.evaluation import evaluate
from eeg4students.features import FeatureParams
from eeg4students.featureset import compute_features
from eeg4students.simulate import simulate_to_dataset

MODELS = ["rf", "svm", "lda", "tmv", "tslr", "mdm"]


def interval(values: np.ndarray, seed: int = 0) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    means = [rng.choice(values, len(values)).mean() for _ in range(2000)]
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def report(name: str, root: Path) -> None:
    features = compute_features(root, feat=FeatureParams(covariance=True), progress=False)
    for scheme in ("cross-session", "loso"):
        for adapt in (None, "session"):
            result = evaluate(
                features.table,
                features.feature_columns,
                MODELS,
                scheme,
                adapt=adapt,
                n_jobs=-1,
                progress=False,
            )
            table = result.summary().drop(index="mean")
            cells = []
            for pipeline in table.columns:
                lo, hi = interval(table[pipeline].dropna().to_numpy())
                cells.append(f"{pipeline} {table[pipeline].mean():.3f} [{lo:.2f}, {hi:.2f}]")
            label = adapt or "none"
            print(f"{name:9s} {scheme:13s} adapt={label:7s} " + "  ".join(cells))
            if adapt and result.notes:
                print(
                    f"          {len(result.notes)} unbalanced session(s), e.g. {result.notes[0]}"
                )


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        sim = Path(tmp) / "sim"
        simulate_to_dataset(sim, 8, 2, seed=0, progress=False)
        report("simulated", sim)
        real = real_dataset(Path(tmp) / "muse")
        if real is not None:
            report("real Muse", real.root)


if __name__ == "__main__":
    main()
