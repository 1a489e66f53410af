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
from eeg4students.importing import ImportJob, import_each
from eeg4students.modelstore import SavedModel
from eeg4students.parallel import backend
from eeg4students.report import write_report
from eeg4students.sample_data import SAMPLES, SAMPLES_DIR
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.tables import format_table, quality_view
from eeg4students.training import train_model
from eeg4students.unlearning.experiment import (
    frontier,
    split_members,
    sweep,
    tradeoff_report,
    tradeoff_view,
)
from eeg4students.unlearning.forget import forget_participant

_MARKER = ".eeg4students-demo"
#: Time-blocked folds per block in the demo: fewer, larger folds than the study's 7
#: (``eeg4students evaluate --folds 7`` for those), so the demo runs in about a minute
#: and a half.
DEMO_FOLDS = 4


def run_demo(
    out: str | Path = "demo-output",
    *,
    n_participants: int = 8,
    n_sessions: int = 2,
    seed: int = 0,
    schemes: tuple[str, ...] = ("cross-session", "time-blocked"),
    forget: bool = True,
    real_data: str | Path | None = SAMPLES_DIR,
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
    forget : bool
        End by forgetting one participant: every strategy measured in memory
        (``out/forgetting/``: table and trade-off figure), then the dataset
        itself forgets them with ``sharded`` (audit log, models updated).
        Models are trained on three quarters of the class; the rest are the
        never-seen participants the privacy attacks need.
    real_data : str | Path | None
        Folder of the sample recordings (those shipped with the package: a
        muse-lsl and an OpenBCI GUI recording, see
        :mod:`eeg4students.sample_data`), imported into ``out/real-data``
        with their quality; None skips them.
    n_jobs : int
        Worker processes for every stage (-1: every core; 1: this process).
    progress : bool
        Show progress bars.

    Returns
    -------
    result : dict
        ``n_sessions`` (int), ``dataset`` (Path), ``summary`` (dict from
        :meth:`Dataset.summary`), ``real`` (dict or None: ``dataset``,
        ``imported`` (list of ImportResult), ``quality`` (DataFrame)),
        ``features`` (FeatureSet), ``quality`` (DataFrame, one line per
        recording), ``evaluations`` (dict scheme ->
        Evaluation), ``model`` (SavedModel), ``forgetting`` (dict or None),
        ``seconds`` (float, wall time)
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
    # Every stage's joblib work (simulation, features, folds, shadows, settings) on n_jobs.
    with backend(n_jobs=n_jobs):
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
                n_splits=DEMO_FOLDS,
                n_jobs=n_jobs,
                progress=progress,
            )
            write_report(
                evaluations[scheme],
                out / "evaluation" / scheme,
                quality=features.quality,
                feature_settings=features.settings(),
                dataset=str(root),
            )
        people = sorted(features.table["participant"].unique())
        members, strangers = split_members(people, 0.25, seed) if len(people) > 2 else (people, [])
        model = train_model(dataset, "tmv", "demo", participants=members, progress=progress)
        forgetting = None
        if forget and strangers and len(members) > 1:
            forgetting = _forget_stage(out, dataset, features, members, strangers, progress)
        real = _real_data_stage(out, Path(real_data), progress) if real_data else None
    seconds = time.perf_counter() - start
    summary_file = out / "summary.md"
    text = _summary_text(
        summary, features, quality, evaluations, model, root, seconds, seed, n_sessions
    )
    if forgetting is not None:
        text += _forgetting_text(forgetting)
    if real is not None:
        text += _real_data_text(real)
    atomic_write_text(summary_file, text)
    return {
        "n_sessions": n_sessions,
        "dataset": root,
        "summary": summary,
        "features": features,
        "quality": quality,
        "evaluations": evaluations,
        "model": model,
        "forgetting": forgetting,
        "real": real,
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
        format_table(quality_view(quality)),
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


#: Shadow models of the demo's privacy check (``forget --evaluate`` uses 32).
DEMO_SHADOWS = 8
#: Trees of the forests the demo's forgetting trade-off is measured on (the
#: saved models and ``benchmarks/bench_unlearning.py`` use 300): every
#: strategy and every shadow retrains one, so this sets the stage's run time.
DEMO_TREES = 100
#: ConMU settings the demo tries (the full grid is ``forget --sweep``'s).
DEMO_GRID = [{"band": None}, {"band": 1.0}, {"band": 0.5}]
#: Privacy levels of the certified removals the demo draws (``forget --sweep``: 0.1-10).
DEMO_EPSILONS = (0.1, 1.0, 10.0)


def _forget_stage(out, dataset, features, members, strangers, progress) -> dict:
    """Measure every strategy on one participant, then forget them for real."""
    target = members[0]
    folder = out / "forgetting"
    folder.mkdir(parents=True, exist_ok=True)
    tradeoff = sweep(
        features.table,
        features.feature_columns,
        target,
        members,
        strangers,
        grid=DEMO_GRID,
        epsilons=DEMO_EPSILONS,
        model_params={"n_estimators": DEMO_TREES},
        n_shadows=DEMO_SHADOWS,
        progress=progress,
    )
    report = tradeoff_report(
        tradeoff,
        folder,
        target,
        settings={
            "model": f"Random Forest, {DEMO_TREES} trees",
            "members (trained on)": members,
            "never seen": strangers,
            "shadow models": DEMO_SHADOWS,
            "ConMU settings": [str(g) for g in DEMO_GRID],
            "certified removal (rff, the RBF SVM's twin)": [
                f"epsilon {e:g}" for e in DEMO_EPSILONS
            ],
        },
    )
    figure = folder / "tradeoff.png"
    train_model(
        dataset,
        "rf",
        "demofast",
        participants=members,
        unlearnable={"kind": "sharded", "q": 0.25},
        progress=progress,
    )
    result = forget_participant(dataset, target, "sharded")
    return {
        "participant": target,
        "tradeoff": tradeoff,
        "figure": figure,
        "report": report,
        "result": result,
    }


def _forgetting_text(forgetting: dict) -> str:
    result = forgetting["result"]
    table = tradeoff_view(forgetting["tradeoff"])
    lines = [
        "",
        f"## Forgetting participant {forgetting['participant']}",
        "",
        "Each strategy measured on a copy against the gold model retrained without them "
        f"(Random Forest, {DEMO_TREES} trees). Exact strategies are compared with a retrain "
        "by digest; certified removals (of rff, the RBF SVM's certified twin) by shadows "
        "trained and unlearned the same way; ConMU settings are judged on P's windows by the "
        "member test against "
        f"shadow models trained with and without P ({DEMO_SHADOWS} shadows; 5% false "
        "positives; `forget --evaluate` also unlearns the shadows):",
        "",
        "```",
        format_table(table),
        "```",
        "",
        frontier(forgetting["tradeoff"]),
        "",
        f"Trade-off figure: `{forgetting['figure']}`; report: `{forgetting['report']}`.",
        "",
        "Then the dataset forgot them for real. Beside the TMV model `demo`, the demo "
        "trained `demofast`, a Random Forest whose trees each saw a quarter of the "
        "participants (`train --unlearnable sharded`), so forgetting regrows only the trees "
        "that saw P: "
        f"{len(result.files_removed)} files removed, models updated: "
        + ", ".join(f"`{m['name']}` ({m['strategy']})" for m in result.models)
        + f"; audit entry {result.audit_entry['seq']} (`eeg4students audit verify`).",
    ]
    return "\n".join(lines) + "\n"


def _real_data_stage(out: Path, folder: Path, progress: bool) -> dict | None:
    """Import the sample recordings and measure their quality; None if they are absent."""
    jobs = [
        ImportJob(folder / sample.path, sample.participant, "1", sample.task)
        for sample in SAMPLES
        if (folder / sample.path).is_file()
    ]
    if not jobs:
        return None
    root = out / "real-data"
    if root.exists():
        shutil.rmtree(root)
    dataset = Dataset.create(root, name="eeg4students sample recordings")
    imported = list(import_each(dataset, jobs))
    failed = [r.error for r in imported if r.error]
    if failed:
        raise EEG4StudentsError(f"A sample recording could not be imported: {failed[0]}")
    # The samples come from two headsets of different layouts (Muse, OpenBCI Cyton): each
    # participant's recordings are processed with their own channels.
    parts = [
        compute_features(dataset, participants=[person], progress=progress)
        for person in dataset.participants()
    ]
    return {
        "dataset": root,
        "imported": imported,
        "quality": pd.concat([quality_by_recording(f.quality) for f in parts], ignore_index=True),
        "left_out": sorted({c for f in parts for c in f.left_out}),
    }


def _real_data_text(real: dict) -> str:
    lines = [
        "",
        "## Real sample recordings (shipped with the toolkit)",
        "",
        f"Imported into `{real['dataset']}`:",
        "",
    ]
    for r in real["imported"]:
        notes = "; ".join(r.notes) or "no notes"
        lines.append(f"- `{r.job.path.name}` ({r.fmt}, {r.seconds:.1f} s): {notes}")
    lines += [
        "",
        "Share of 2 s windows kept and why the rest was dropped (%):",
        "",
        "```",
        format_table(quality_view(real["quality"])),
        "```",
    ]
    return "\n".join(lines) + "\n"
