"""Figures and the HTML report of an evaluation.

Every figure names the scheme it comes from, and a leaky scheme says so in
its title. Figures are written as PNG with matplotlib's object API (no
pyplot state); the report is one self-contained HTML page that links them.
"""

from __future__ import annotations

import html
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from eeg4students import __version__
from eeg4students._files import atomic_write_text
from eeg4students.evaluation import Evaluation


def _title(evaluation: Evaluation, what: str) -> str:
    scheme = evaluation.settings["scheme"]
    leaky = " (LEAKY: shuffled windows, inflated)" if evaluation.settings["leaky"] else ""
    return f"{what}: {scheme}{leaky}"


def _figure(width: float, height: float):
    """A figure and its axes, without pyplot's global state (safe in threads and servers)."""
    fig = Figure(figsize=(width, height))
    return fig, fig.subplots()


def _save(fig: Figure, path: Path) -> Path:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def accuracy_by_participant(evaluation: Evaluation, path: Path) -> Path:
    """Bars of mean accuracy per participant and pipeline, best participants first."""
    table = evaluation.summary().drop(index="mean")
    order = table.max(axis=1).sort_values(ascending=False).index
    table = table.loc[order]
    n_tasks = len(next(iter(evaluation.confusion.values())))
    fig, ax = _figure(max(6, 0.9 * len(table) + 3), 5)
    width = 0.8 / table.shape[1]
    x = np.arange(len(table))
    for i, pipeline in enumerate(table.columns):
        ax.bar(x + i * width, table[pipeline], width, label=pipeline)
    ax.axhline(1 / n_tasks, color="k", ls="--", lw=1, label=f"chance (1/{n_tasks})")
    ax.set_xticks(x + width * (table.shape[1] - 1) / 2, table.index, rotation=45, ha="right")
    ax.set_ylim(0, 1)
    ax.set_ylabel("accuracy")
    ax.set_title(_title(evaluation, "Accuracy per participant"))
    ax.legend(fontsize=8, ncol=3, loc="upper center", bbox_to_anchor=(0.5, -0.3))
    return _save(fig, path)


def confusion_heatmap(evaluation: Evaluation, pipeline: str, path: Path) -> Path:
    """Confusion over tasks for one pipeline, summed over participants, rows normalised."""
    matrices = [m for (_, p), m in evaluation.confusion.items() if p == pipeline]
    total = sum(m.to_numpy() for m in matrices)
    labels = list(matrices[0].index)
    share = total / np.maximum(total.sum(axis=1, keepdims=True), 1)
    fig, ax = _figure(1.1 * len(labels) + 2, 1.0 * len(labels) + 1.5)
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
    ax.set_xlabel("predicted")
    ax.set_ylabel("true task")
    ax.set_title(_title(evaluation, f"Confusion, {pipeline}"), fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.046)
    return _save(fig, path)


def accuracy_vs_time(evaluation: Evaluation, path: Path) -> Path:
    """Mean accuracy against mean fit + predict time per fold, one point per pipeline."""
    scores = evaluation.scores
    per = scores.assign(seconds=scores["fit_time"] + scores["predict_time"])
    per = per.groupby("pipeline")[["accuracy", "seconds"]].mean()
    fig, ax = _figure(5.5, 4)
    ax.scatter(per["seconds"], per["accuracy"])
    for name, row in per.iterrows():
        ax.annotate(
            name,
            (row["seconds"], row["accuracy"]),
            textcoords="offset points",
            xytext=(4, 4),
            fontsize=8,
        )
    ax.set_xscale("log")
    ax.set_xlabel("fit + predict time per fold (s, log)")
    ax.set_ylabel("mean accuracy")
    ax.set_title(_title(evaluation, "Accuracy vs run time"), fontsize=9)
    return _save(fig, path)


def kept_vs_accuracy(evaluation: Evaluation, quality: pd.DataFrame, path: Path) -> Path:
    """Share of windows kept against accuracy, one point per participant and pipeline."""
    kept = quality.groupby("participant")["share_kept"].mean()
    table = evaluation.summary().drop(index="mean")
    fig, ax = _figure(5.5, 4)
    for pipeline in table.columns:
        ax.scatter(kept.reindex(table.index), table[pipeline], label=pipeline, s=18)
    ax.set_xlabel("share of windows kept (mean over blocks)")
    ax.set_ylabel("accuracy")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.set_title(_title(evaluation, "Data kept vs accuracy"), fontsize=9)
    ax.legend(fontsize=8)
    return _save(fig, path)


def write_report(
    evaluation: Evaluation,
    out: str | Path,
    *,
    quality: pd.DataFrame | None = None,
    feature_settings: dict | None = None,
    dataset: str | None = None,
) -> Path:
    """Write the scores table, figures and an HTML report.

    Parameters
    ----------
    evaluation : Evaluation
        From :func:`eeg4students.evaluation.evaluate`.
    out : str | Path
        Output folder (created).
    quality : pandas.DataFrame | None
        ``FeatureSet.quality``, for the data-kept figure.
    feature_settings : dict | None
        How the features were made, shown in the report.
    dataset : str | None
        The dataset's path or name, shown in the report.

    Returns
    -------
    report : Path
        ``out/report.html``. Beside it: ``scores.csv`` (one row per
        participant x pipeline x fold), ``summary.csv`` (mean accuracy per
        participant and pipeline), ``confusion_<pipeline>.csv`` and the PNGs.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    scheme = evaluation.settings["scheme"]
    evaluation.scores.to_csv(out / "scores.csv", index=False)
    summary = evaluation.summary()
    summary.to_csv(out / "summary.csv")
    figures = [accuracy_by_participant(evaluation, out / "accuracy_by_participant.png")]
    for pipeline in summary.columns:
        matrices = [m for (_, p), m in evaluation.confusion.items() if p == pipeline]
        sum(m for m in matrices).to_csv(out / f"confusion_{pipeline}.csv")
        figures.append(confusion_heatmap(evaluation, pipeline, out / f"confusion_{pipeline}.png"))
    figures.append(accuracy_vs_time(evaluation, out / "accuracy_vs_time.png"))
    if quality is not None:
        figures.append(kept_vs_accuracy(evaluation, quality, out / "kept_vs_accuracy.png"))
    warning = ""
    if evaluation.settings["leaky"]:
        warning = (
            "<p class='leaky'><b>LEAKY.</b> Shuffled folds put overlapping windows of one "
            "task block on both sides of the split; these accuracies are inflated and only "
            "show how much. Use time-blocked, cross-session or loso numbers.</p>"
        )
    settings = {**evaluation.settings, "toolkit version": __version__}
    if dataset:
        settings["dataset"] = dataset
    rows = "".join(
        f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td></tr>"
        for k, v in {**settings, **(feature_settings or {})}.items()
    )
    skipped = "".join(f"<li>{html.escape(s)}</li>" for s in evaluation.skipped) or "<li>none</li>"
    images = "".join(
        f"<figure><img src='{f.name}' alt='{f.stem}'><figcaption>{f.stem}</figcaption></figure>"
        for f in figures
    )
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>eeg4students evaluation: {html.escape(scheme)}</title>
<style>
body {{ font-family: sans-serif; max-width: 70em; margin: 2em auto; }}
table {{ border-collapse: collapse; }} td, th {{ border: 1px solid #ccc; padding: 2px 8px; }}
.leaky {{ background: #fdd; padding: 0.5em; border: 2px solid #c00; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 32em; }}
</style></head><body>
<h1>Evaluation: {html.escape(scheme)}</h1>
{warning}
<p>Mean accuracy per participant (rows) and pipeline (columns). <code>tmv-block</code>
votes over each window's whole task block (block boundaries from the protocol's cue
markers); <code>tmv-causal</code> votes over the last windows only, as in live use.
Every block's windows are counted, including blocks where the bases do poorly.</p>
{summary.round(3).to_html()}
<h2>Figures</h2>
{images}
<h2>Settings</h2>
<table>{rows}</table>
<h2>Left out</h2>
<ul>{skipped}</ul>
<p>Per-fold scores: <a href="scores.csv">scores.csv</a>.</p>
</body></html>
"""
    report = out / "report.html"
    atomic_write_text(report, page)
    return report
