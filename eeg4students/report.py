"""Figures and the HTML report of an evaluation.

Every figure names the scheme it comes from, and a leaky scheme says so in
its title. Figures are drawn with matplotlib's object API (no pyplot state),
written as PNG beside the report, and embedded in one self-contained HTML
file made by :class:`mne.Report` (no file beside it is needed to read it).
"""

from __future__ import annotations

import html
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eeg4students import __version__
from eeg4students._files import atomic_path
from eeg4students.evaluation import Evaluation, level_minutes

if TYPE_CHECKING:  # mne is imported where a report is made
    import mne

#: What each scheme tests, for captions and the report's introduction.
SCHEME_TEXT = {
    "time-blocked": "each task block cut into {n} consecutive parts; each part tested in "
    "turn by a model trained on the rest of the participant's data, training windows "
    "that overlap a test window dropped",
    "cross-session": "each session of a participant tested by a model trained on their "
    "other sessions, as on a new day",
    "loso": "each participant tested by a model trained on everyone else, as a new student",
    "calibration": "each session of a participant tested by a model trained on everyone else "
    "plus the first minutes of the participant's other sessions (+M min, shared evenly "
    "between the tasks), and by a model trained on all their other sessions (own)",
    "shuffled": "windows shuffled into {n} folds: overlapping windows of one block on both "
    "sides of the split, so accuracies are inflated (LEAKY)",
}


def file_part(pipeline: str) -> str:
    """A pipeline name as part of a file name: ``lda +1 min [session]`` -> ``lda_1min_session``."""
    return re.sub(r"[^A-Za-z0-9.-]+", "_", pipeline.replace(" min", "min")).strip("_")


def scheme_text(settings: Mapping) -> str:
    """One clause saying how a scheme splits the data (from ``Evaluation.settings``)."""
    text = SCHEME_TEXT.get(settings["scheme"], settings["scheme"])
    return text.format(n=settings.get("n_splits") or "k")


def _title(evaluation: Evaluation, what: str) -> str:
    scheme = evaluation.settings["scheme"]
    leaky = " (LEAKY: shuffled windows, inflated)" if evaluation.settings["leaky"] else ""
    return f"{what}: {scheme}{leaky}"


def _figure(width: float, height: float):
    """A figure and its axes, without pyplot's global state (safe in threads and servers)."""
    fig = Figure(figsize=(width, height), layout="constrained")
    return fig, fig.subplots()


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write a figure as PNG atomically (readers never see half a file).

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        The figure.
    path : str | Path
        The ``.png`` file.

    Returns
    -------
    path : Path
    """
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, dpi=110, format="png")
    return path


def _chance(evaluation: Evaluation) -> int:
    return len(next(iter(evaluation.confusion.values())))


def accuracy_by_participant(evaluation: Evaluation, path: Path) -> Path:
    """Bars of mean accuracy per participant and pipeline, best participants first (PNG)."""
    return save_figure(_accuracy_by_participant(evaluation), Path(path))


def _accuracy_by_participant(evaluation: Evaluation) -> Figure:
    table = evaluation.summary().drop(index="mean")
    order = table.max(axis=1).sort_values(ascending=False).index
    table = table.loc[order]
    n_tasks = _chance(evaluation)
    fig, ax = _figure(max(6.5, 0.9 * len(table) + 3), 4.8)
    width = 0.8 / table.shape[1]
    x = np.arange(len(table))
    for i, pipeline in enumerate(table.columns):
        ax.bar(x + i * width, table[pipeline].fillna(0), width, label=pipeline)
    ax.axhline(1 / n_tasks, color="k", ls="--", lw=1, label=f"chance (1/{n_tasks})")
    ax.set_xticks(x + width * (table.shape[1] - 1) / 2, table.index, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_xlabel("participant")
    ax.set_ylabel("mean accuracy over folds")
    ax.set_title(_title(evaluation, "Accuracy per participant"))
    ax.legend(
        fontsize=8,
        ncol=min(6, table.shape[1] + 1),
        loc="lower center",
        bbox_to_anchor=(0.5, 1.08),
        frameon=False,
    )
    return fig


def learning_curve(evaluation: Evaluation, path: Path) -> Path:
    """Accuracy against minutes of a new student's calibration data (calibration scheme; PNG)."""
    return save_figure(_learning_curve(evaluation), Path(path))


def _learning_curve(evaluation: Evaluation) -> Figure:
    curve = evaluation.learning_curve()
    levels = [c for c in curve.columns if c != "own"]
    minutes = [level_minutes(c) for c in levels]
    n_tasks = _chance(evaluation)
    fig, ax = _figure(6.5, 4.6)
    for i, (model, row) in enumerate(curve.iterrows()):
        colour = f"C{i}"
        ax.plot(minutes, row[levels].to_numpy(), "o-", color=colour, label=f"{model}: cohort + M")
        if np.isfinite(row["own"]):
            ax.axhline(row["own"], color=colour, ls=":", lw=1.5, label=f"{model}: own sessions")
    ax.axhline(1 / n_tasks, color="k", ls="--", lw=1, label=f"chance (1/{n_tasks})")
    ax.set_ylim(0, 1)
    ax.set_xlabel("minutes of the new student's labelled data (M)")
    ax.set_ylabel("mean accuracy over participants")
    ax.set_title(_title(evaluation, "Calibration learning curve"))
    ax.legend(fontsize=8, loc="lower right")
    return fig


def confusion_heatmap(evaluation: Evaluation, pipeline: str, path: Path) -> Path:
    """Confusion over tasks for one pipeline, summed over participants, rows normalised (PNG)."""
    return save_figure(_confusion_heatmap(evaluation, pipeline), Path(path))


def _confusion_heatmap(evaluation: Evaluation, pipeline: str) -> Figure:
    matrices = [m for (_, p), m in evaluation.confusion.items() if p == pipeline]
    total = sum(m.to_numpy() for m in matrices)
    labels = list(matrices[0].index)
    share = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure(1.1 * len(labels) + 2.5, 1.0 * len(labels) + 1.8)
    image = ax.imshow(share, vmin=0, vmax=1, cmap="Blues")
    for i in range(len(labels)):
        for j in range(len(labels)):
            ax.text(
                j,
                i,
                f"{share[i, j]:.2f}",
                ha="center",
                va="center",
                color="white" if share[i, j] > 0.5 else "black",
                fontsize=8,
            )
    ax.set_xticks(range(len(labels)), labels, rotation=45, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted task")
    ax.set_ylabel("true task")
    ax.set_title(_title(evaluation, f"Confusion, {pipeline}"), fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046, label="share of the true task's windows")
    return fig


def accuracy_vs_time(evaluation: Evaluation, path: Path) -> Path:
    """Mean accuracy against mean fit + predict time per fold, one point per pipeline (PNG)."""
    return save_figure(_accuracy_vs_time(evaluation), Path(path))


def _accuracy_vs_time(evaluation: Evaluation) -> Figure:
    scores = evaluation.scores
    per = scores.assign(seconds=scores["fit_time"] + scores["predict_time"])
    per = per.groupby("pipeline")[["accuracy", "seconds"]].mean()
    fig, ax = _figure(6, 4.2)
    for name, row in per.iterrows():
        ax.scatter(row["seconds"], row["accuracy"], s=40, label=name)
    ax.set_xscale("log")
    low, high = per["seconds"].min(), per["seconds"].max()
    ax.set_xlim(low / 2, high * 2)
    ax.set_xlabel("fit + predict time per fold (s, log scale)")
    ax.set_ylabel("mean accuracy")
    ax.set_ylim(0, 1)
    ax.axhline(1 / _chance(evaluation), color="k", ls="--", lw=1)
    ax.legend(fontsize=8, loc="lower right")
    ax.set_title(_title(evaluation, "Accuracy vs run time"), fontsize=9)
    return fig


def kept_vs_accuracy(evaluation: Evaluation, quality: pd.DataFrame, path: Path) -> Path:
    """Share of windows kept against accuracy, one point per participant and pipeline (PNG).

    The x axis spans the shares observed (padded), not 0-1: shares usually
    differ by a few points and would otherwise sit on top of each other.
    """
    return save_figure(_kept_vs_accuracy(evaluation, quality), Path(path))


def _kept_vs_accuracy(evaluation: Evaluation, quality: pd.DataFrame) -> Figure:
    kept = quality.groupby("participant")["share_kept"].mean()
    table = evaluation.summary().drop(index="mean")
    x = kept.reindex(table.index)
    fig, ax = _figure(6, 4.2)
    for pipeline in table.columns:
        ax.scatter(x, table[pipeline], label=pipeline, s=22, alpha=0.8)
    low, high = float(np.nanmin(x)), float(np.nanmax(x))
    pad = max(0.02, 0.1 * (high - low))
    ax.set_xlim(max(0.0, low - pad), min(1.0, high + pad) + 0.005)
    ax.xaxis.set_major_formatter(lambda v, _: f"{v:.0%}")
    ax.set_xlabel("windows kept after artifact and contact checks (mean over blocks)")
    ax.set_ylabel("mean accuracy")
    ax.set_ylim(0, 1.02)
    ax.set_title(_title(evaluation, "Data kept vs accuracy"), fontsize=9)
    ax.legend(fontsize=8, loc="lower left", ncol=2)
    return fig


#: What a setting left as None does (it is not "not used": the notch is applied at the
#: recording's mains frequency, the rail is the headset's...).
NONE_MEANS = {
    "line_freq": "the recording's mains frequency, else 50 Hz",
    "rail_uv": "the headset's amplifier rail",
    "channels": "every EEG channel",
    "reference": "as recorded",
    "max_ptp_uv": "(no amplitude limit)",
}


def settings_html(settings: Mapping) -> str:
    """An HTML table of settings; nested settings become nested tables, lists comma lists.

    Parameters
    ----------
    settings : mapping
        Setting name -> value (mappings, lists, None and plain values).

    Returns
    -------
    html : str
        A ``<table>``; None shows what it means (:data:`NONE_MEANS`, else "(not
        used)"), empty values as "(none)".
    """

    def cell(key, value) -> str:
        if isinstance(value, Mapping):
            return settings_html(value) if value else "(none)"
        if isinstance(value, list | tuple):
            return html.escape(", ".join(str(v) for v in value)) or "(none)"
        if value is None:
            return html.escape(NONE_MEANS.get(str(key), "(not used)"))
        return html.escape(str(value))

    rows = "".join(
        f"<tr><th>{html.escape(str(key))}</th><td>{cell(key, value)}</td></tr>"
        for key, value in settings.items()
    )
    return f"<table class='table table-sm settings'>{rows}</table>"


#: How report tables are laid out: row labels and text left, numbers and their headers
#: right, digits of equal width so decimal points line up.
TABLE_STYLE = (
    "<style>table.e4s{border-collapse:collapse;margin:.5em 0}"
    "table.e4s th,table.e4s td{padding:.2em .7em;border-bottom:1px solid #ddd}"
    "table.e4s .num{text-align:right;font-variant-numeric:tabular-nums}"
    "table.e4s .text{text-align:left}"
    "table.e4s tbody th{text-align:left;font-weight:600}</style>"
)


def _cell_text(value, decimals: int | None) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    if decimals is not None and isinstance(value, int | float) and not isinstance(value, bool):
        return f"{value:.{decimals}f}"
    return str(value)


def table_html(table: pd.DataFrame, *, index: bool = True, digits: int = 3) -> str:
    """A table as HTML laid out as it is read.

    The row labels are the first column, under their own header (the
    index's name); each column's numbers share one precision and are
    right-aligned under a right-aligned header; text is left-aligned;
    missing values are an en dash.

    Parameters
    ----------
    table : pandas.DataFrame
        The table.
    index : bool
        Show the index as the first column.
    digits : int
        Decimals of floats.

    Returns
    -------
    html : str
    """
    import html as html_lib

    columns = list(table.columns)
    numeric = [pd.api.types.is_numeric_dtype(table[c]) for c in columns]
    decimals = [
        digits if num and pd.api.types.is_float_dtype(table[c]) else None
        for c, num in zip(columns, numeric, strict=True)
    ]

    def esc(value) -> str:
        return html_lib.escape(str(value))

    head = f"<th scope='col' class='text'>{esc(table.index.name or '')}</th>" if index else ""
    head += "".join(
        f"<th scope='col' class='{'num' if num else 'text'}'>{esc(c)}</th>"
        for c, num in zip(columns, numeric, strict=True)
    )
    body = []
    for label, row in zip(table.index, table.itertuples(index=False), strict=True):
        cells = f"<th scope='row'>{esc(label)}</th>" if index else ""
        cells += "".join(
            f"<td class='{'num' if num else 'text'}'>{esc(_cell_text(v, d))}</td>"
            for v, num, d in zip(row, numeric, decimals, strict=True)
        )
        body.append(f"<tr>{cells}</tr>")
    return (
        f"{TABLE_STYLE}<table class='e4s'><thead><tr>{head}</tr></thead>"
        f"<tbody>{''.join(body)}</tbody></table>"
    )


def new_report(title: str) -> mne.Report:
    """An empty :class:`mne.Report` with a title (it embeds the PNGs added to it).

    Parameters
    ----------
    title : str
        The report's title.

    Returns
    -------
    report : mne.Report
    """
    import mne

    return mne.Report(title=title, image_format="png", verbose="error")


def save_report(report: mne.Report, path: Path) -> Path:
    """Save a report atomically as one self-contained HTML file.

    Parameters
    ----------
    report : mne.Report
        The report.
    path : Path
        The ``.html`` file to (re)place; readers see the old or the new file.

    Returns
    -------
    path : Path
    """
    import mne

    with atomic_path(path) as tmp, mne.utils.use_log_level("error"):
        staged = tmp.with_suffix(".html")  # mne.Report wants an .html name
        try:
            report.save(staged, open_browser=False, overwrite=True, verbose="error")
            os.replace(staged, tmp)
        finally:
            staged.unlink(missing_ok=True)
    return path


def write_report(
    evaluation: Evaluation,
    out: str | Path,
    *,
    quality: pd.DataFrame | None = None,
    feature_settings: dict | None = None,
    dataset: str | None = None,
) -> Path:
    """Write the scores table, figures and a self-contained HTML report.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`eeg4students.evaluation.evaluate`.
    out : str | Path
        Output folder (created).
    quality : pandas.DataFrame | None
        ``FeatureSet.quality``, for the data-kept figure.
    feature_settings : dict | None
        How the features were made (e.g. ``{"preprocess": ..., "features":
        ...}``), shown as tables in the report.
    dataset : str | None
        The dataset's path or name, shown in the report.

    Returns
    -------
    report : Path
        ``out/report.html``: one file with the figures embedded. Beside it:
        ``scores.csv`` (one row per participant x pipeline x fold),
        ``summary.csv`` (mean accuracy per participant and pipeline),
        ``confusion_<pipeline>.csv`` (see :func:`file_part`) and each figure as PNG.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    settings = evaluation.settings
    scheme = settings["scheme"]
    how = scheme_text(settings)
    evaluation.scores.to_csv(out / "scores.csv", index=False)
    summary = evaluation.summary()
    summary.to_csv(out / "summary.csv")
    n_tasks = _chance(evaluation)
    n_people = len(summary) - 1

    report = new_report(f"eeg4students evaluation: {scheme}")
    leaky = ""
    if settings["leaky"]:
        leaky = (
            "<p style='background:#fdd;padding:.5em;border:2px solid #c00'><b>LEAKY.</b> "
            "Shuffled folds put overlapping windows of one task block on both sides of the "
            "split; these accuracies are inflated and only show how much. Use time-blocked, "
            "cross-session or loso numbers.</p>"
        )
    report.add_html(
        f"{leaky}<p>Scheme <b>{html.escape(scheme)}</b>: {html.escape(how)}. "
        f"{n_people} participants, {n_tasks} tasks (chance {1 / n_tasks:.2f}). Every "
        "block's windows are counted, including blocks where the classifiers do poorly. "
        "<code>tmv-block</code> votes over each window's whole task block (block "
        "boundaries from the protocol's cue markers); <code>tmv-causal</code> votes over "
        "the last windows only, as in live use.</p>"
        "<p>Mean accuracy per participant (rows) and pipeline (columns); the last row is "
        "the mean over participants; a dash means the pipeline could not be scored for "
        f"that participant (see Left out). Per-fold scores are in scores.csv beside this "
        "file.</p>" + table_html(summary),
        "Mean accuracy",
    )
    figures = []
    if scheme == "calibration":
        figures.append(
            (
                "learning_curve.png",
                _learning_curve(evaluation),
                "Calibration learning curve",
                "Mean accuracy on a new student's session of a model trained on the other "
                "participants plus M minutes of the student's labelled data from their other "
                "sessions (solid), and of a model trained on all of the student's other "
                "sessions (dotted). Where a level asks for more than the student has, it "
                "uses all of it (see Notes).",
            )
        )
    figures += [
        (
            "accuracy_by_participant.png",
            _accuracy_by_participant(evaluation),
            "Accuracy per participant",
            f"Mean accuracy of each pipeline for each participant. Scheme: {how}. Participants "
            f"are sorted by their best pipeline; the dashed line is chance (1/{n_tasks}).",
        )
    ]
    for pipeline in summary.columns:
        matrices = [m for (_, p), m in evaluation.confusion.items() if p == pipeline]
        stem = f"confusion_{file_part(pipeline)}"
        sum(m for m in matrices).to_csv(out / f"{stem}.csv")
        figures.append(
            (
                f"{stem}.png",
                _confusion_heatmap(evaluation, pipeline),
                f"Confusion: {pipeline}",
                f"How often {pipeline} predicted each task (columns) for windows of each "
                "true task (rows), summed over participants and folds; each row adds up to "
                "1 and the diagonal is the share recognised. Counts are in "
                f"{stem}.csv.",
            )
        )
    figures.append(
        (
            "accuracy_vs_time.png",
            _accuracy_vs_time(evaluation),
            "Accuracy vs run time",
            "Mean accuracy of each pipeline against the time it took to train and predict "
            "one fold (log scale): up and to the left is better. The dashed line is chance.",
        )
    )
    if quality is not None:
        figures.append(
            (
                "kept_vs_accuracy.png",
                _kept_vs_accuracy(evaluation, quality),
                "Data kept vs accuracy",
                "One point per participant and pipeline: the share of the participant's "
                "windows that passed the artifact and electrode-contact checks against their "
                "accuracy. Low accuracy with little data kept points at the headset's fit "
                "rather than the classifier.",
            )
        )
    for name, fig, title, caption in figures:
        # Drawn once: the PNG beside the report is the image embedded in it.
        report.add_image(save_figure(fig, out / name), title, caption=caption)

    shown = {**settings, "toolkit version": __version__}
    if dataset:
        shown["dataset"] = dataset
    report.add_html(settings_html({"evaluation": shown, **(feature_settings or {})}), "Settings")
    skipped = "".join(f"<li>{html.escape(s)}</li>" for s in evaluation.skipped)
    report.add_html(f"<ul>{skipped or '<li>nothing</li>'}</ul>", "Left out")
    if evaluation.notes:
        notes = "".join(f"<li>{html.escape(n)}</li>" for n in evaluation.notes)
        report.add_html(f"<ul>{notes}</ul>", "Notes")
    return save_report(report, out / "report.html")
