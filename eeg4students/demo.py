"""The end-to-end demo on built-in simulated data (``eeg4students demo``).

It simulates a classroom under the EEG4Students protocol, stores it as a
BIDS dataset, preprocesses it and extracts band-power features with the
quality accounting, evaluates RF, RBF SVM and TMV across sessions (the
headline) and time-blocked within sessions (the study's scheme) with a
report for each, and trains a TMV model saved in the dataset with its card.
The unlearning stage extends it.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pandas as pd

from eeg4students import __version__
from eeg4students._files import atomic_write_text
from eeg4students.errors import EEG4StudentsError
from eeg4students.evaluation import Evaluation, evaluate
from eeg4students.featureset import FeatureSet, compute_features, quality_by_recording
from eeg4students.modelstore import SavedModel, train_model
from eeg4students.report import write_report
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset

_MARKER = ".eeg4students-demo"


def run_demo(
    out: str | Path = "demo-output",
    *,
    n_participants: int = 8,
    n_sessions: int = 2,
    seed: int = 0,
    schemes: tuple[str, ...] = ("cross-session", "time-blocked"),
    n_jobs: int = -1,
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
    schemes : tuple of str
        Evaluation schemes, each reported under ``out/evaluation/<scheme>/``
        (cross-session only with two or more sessions).
    n_jobs : int
        Parallel folds (-1: every core).
    progress : bool
        Show progress bars.

    Returns
    -------
    result : dict
        ``n_sessions`` (int), ``dataset`` (Path), ``summary`` (dict from
        :meth:`Dataset.summary`), ``features`` (FeatureSet), ``quality``
        (DataFrame, one line per recording), ``evaluations`` (dict scheme ->
        Evaluation), ``model`` (SavedModel), ``seconds`` (float, wall time)
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
    evaluations = {}
    # Cross-session evaluation needs two sessions per participant.
    for scheme in (s for s in schemes if s != "cross-session" or n_sessions > 1):
        evaluations[scheme] = evaluate(
            features.table,
            features.feature_columns,
            ["rf", "svm", "tmv"],
            scheme,
            n_jobs=n_jobs,
            progress=progress,
        )
        write_report(
            evaluations[scheme],
            out / "evaluation" / scheme,
            quality=features.quality,
            dataset=str(root),
        )
    model = train_model(dataset, "tmv", "demo", overwrite=True, progress=progress)
    seconds = time.perf_counter() - start
    summary_file = out / "summary.md"
    text = _summary_text(
        summary, features, quality, evaluations, model, root, seconds, seed, n_sessions
    )
    atomic_write_text(summary_file, text)
    return {
        "n_sessions": n_sessions,
        "dataset": root,
        "summary": summary,
        "features": features,
        "quality": quality,
        "evaluations": evaluations,
        "model": model,
        "seconds": seconds,
        "summary_file": summary_file,
    }


def _summary_text(
    summary: dict,
    features: FeatureSet,
    quality: pd.DataFrame,
    evaluations: dict[str, Evaluation],
    model: SavedModel,
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
        "## Classification (mean accuracy over participants; chance 0.20)",
        "",
        *(
            f"- {scheme}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in evaluation.summary().loc["mean"].items())
            + f" (report: `{Path('evaluation') / scheme / 'report.html'}`)"
            for scheme, evaluation in evaluations.items()
        ),
        "",
        f"Saved model `{model.card['name']}` ({model.card['model']}, bases ranked "
        f"{', '.join(model.card['tmv_ranking'] or [])}) in `{model.path}`.",
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
