"""The end-to-end demo on built-in simulated data (``eeg4students demo``).

It simulates a classroom under the EEG4Students protocol, stores it as a
BIDS dataset, preprocesses it and extracts band-power features with the
quality accounting. Later stages (classifiers, unlearning) extend it until
it runs the whole pipeline.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd

from eeg4students import __version__
from eeg4students._files import atomic_write_text
from eeg4students.errors import EEG4StudentsError
from eeg4students.featureset import FeatureSet, compute_features, quality_by_recording
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset

_MARKER = ".eeg4students-demo"


def run_demo(
    out: str | Path = "demo-output",
    *,
    n_participants: int = 8,
    n_sessions: int = 2,
    seed: int = 0,
    progress: bool = True,
) -> dict:
    """Run the demo and write its outputs under ``out``.

    Parameters
    ----------
    out : str | Path
        Output folder. ``out/dataset`` is the simulated BIDS dataset (made
        afresh on every run) and ``out/summary.md`` the summary.
    n_participants, n_sessions : int
        Size of the simulated class.
    seed : int
        Seed of the simulation.
    progress : bool
        Show progress bars.

    Returns
    -------
    result : dict
        ``n_sessions`` (int), ``dataset`` (Path), ``summary`` (dict from
        :meth:`Dataset.summary`), ``features`` (FeatureSet), ``quality``
        (DataFrame, one line per recording), ``seconds`` (float, wall time)
        and ``summary_file`` (Path).
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()) and not (out / _MARKER).exists():
        raise EEG4StudentsError(
            f"{out} exists and was not made by the demo; choose another --out folder."
        )
    out.mkdir(parents=True, exist_ok=True)
    (out / _MARKER).touch()
    root = out / "dataset"
    if root.exists():
        shutil.rmtree(root)
    start = time.perf_counter()
    simulate_to_dataset(root, n_participants, n_sessions, seed=seed, progress=progress)
    dataset = Dataset(root)
    summary = dataset.summary()
    features = compute_features(dataset, progress=progress)
    quality = quality_by_recording(features.quality)
    atomic_write_text(out / "quality.tsv", features.quality.to_csv(sep="\t", index=False))
    seconds = time.perf_counter() - start
    summary_file = out / "summary.md"
    text = _summary_text(summary, features, quality, root, seconds, seed, n_sessions)
    atomic_write_text(summary_file, text)
    return {
        "n_sessions": n_sessions,
        "dataset": root,
        "summary": summary,
        "features": features,
        "quality": quality,
        "seconds": seconds,
        "summary_file": summary_file,
    }


def _summary_text(
    summary: dict,
    features: FeatureSet,
    quality: pd.DataFrame,
    root: Path,
    seconds: float,
    seed: int,
    n_sessions: int,
) -> str:
    kept = features.quality["kept"].sum() / max(features.quality["n_windows"].sum(), 1)
    lines = [
        "# eeg4students demo",
        "",
        f"- toolkit version: {__version__}",
        f"- simulated class (seed {seed}): {summary['participants']} participants x "
        f"{n_sessions} sessions, {summary['recordings']} recordings, "
        f"{summary['hours'] * 60:.1f} minutes of EEG",
        f"- channels: {summary['channels']}, sampling rates (Hz): {summary['sfreqs']}",
        f"- BIDS dataset: `{root}`",
        f"- features: {len(features.table)} windows x {len(features.feature_columns)} "
        f"log band powers, {kept:.1%} of windows kept; cache in `{features.folder}`",
        f"- run time: {seconds:.1f} s",
        "",
        "## Quality (share of windows kept, and why the rest was dropped, in %)",
        "",
        "```",
        quality.to_string(index=False),
        "```",
        "",
        f"## Excluded (below the minimum kept share): {len(features.excluded)}",
        "",
    ]
    lines += [
        f"- {r.level} {r.participant} {'' if pd.isna(r.session) else r.session} "
        f"{'' if pd.isna(r.block) else r.block}: {r.share_kept:.0%} kept"
        for r in features.excluded.itertuples()
    ] or ["- none"]
    return "\n".join(lines) + "\n"
