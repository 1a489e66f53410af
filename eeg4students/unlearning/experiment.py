"""Forgetting experiments on a feature table, in memory: nothing on disk changes.

:func:`forget_experiment` trains a model on the member participants, forgets
one of them with a strategy, retrains the gold model without them, and
measures both (:func:`~eeg4students.unlearning.metrics.forgetting_report`)
with the never-trained participants as non-members. :func:`sweep` runs a
grid of ConMU settings and :func:`tradeoff_figure` plots the privacy /
utility / run-time trade-off.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from matplotlib.figure import Figure

from eeg4students.modelstore import build_estimator, fit_estimator
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.metrics import forgetting_report
from eeg4students.unlearning.strategies import apply_strategy, table_arrays

#: The default ConMU settings of ``forget --sweep``: every selection band, with
#: and without the noisy proxy-labelled copies (whose weight only matters with noise).
SWEEP_GRID = [
    {"band": band, "noise_steps": steps, "proxy_weight": weight}
    for band in (None, 2.0, 1.0, 0.5)
    for steps, weight in ((0, 0.0), (3, 0.5), (3, 2.0))
]


#: The columns of a sweep table worth printing, in order.
TRADEOFF_COLUMNS = [
    "strategy",
    "band",
    "noise_steps",
    "q",
    "seconds",
    "speedup",
    "test_accuracy",
    "forget_accuracy",
    "svc_auc",
    "auc_gap",
    "target_nonmember_share",
]


def split_members(participants: list[str], test_share: float = 0.25, seed: int = 0):
    """Split participants into members (trained on) and non-members (never seen)."""
    rng = np.random.default_rng(seed)
    people = sorted(participants)
    n_test = max(1, round(test_share * len(people)))
    test = sorted(rng.choice(people, n_test, replace=False).tolist())
    return [p for p in people if p not in test], test


def forget_experiment(
    table: pd.DataFrame,
    columns: list[str],
    participant: str,
    members: list[str],
    nonmembers: list[str],
    *,
    model: str = "rf",
    model_params: dict | None = None,
    strategy: str = "retrain",
    unlearnable: dict | None = None,
    conmu: ConMUSettings | None = None,
    original=None,
    gold=None,
) -> dict:
    """Train with ``participant``, forget them, compare with the gold retrained model.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table.
    columns : list of str
        Feature columns.
    participant : str
        Who to forget (one of ``members``).
    members, nonmembers : list of str
        Trained and never-trained participants.
    model, model_params, unlearnable : see :func:`eeg4students.modelstore.build_estimator`
    strategy : {"retrain", "sharded", "conmu"}
    conmu : ConMUSettings | None
    original, gold : fitted estimators | None
        Reuse an already trained original (it is copied, not changed) or gold model.

    Returns
    -------
    result : dict
        ``strategy`` (as run), ``note``, ``seconds`` (forgetting),
        ``retrain_seconds`` (fitting the gold model; None when it was given),
        ``times`` per stage, ``info``, ``report`` (from
        :func:`forgetting_report`), and ``original``/``gold`` models for reuse.
    """
    in_members = table["participant"].isin(members)
    remain = table[in_members & (table["participant"] != participant)]
    forget = table[table["participant"] == participant]
    test = table[table["participant"].isin(nonmembers)]

    def template():
        return build_estimator(model, model_params, unlearnable)

    if original is None:
        original = fit_estimator(template(), table[in_members], columns)
    retrain_seconds = None
    if gold is None:
        start = time.perf_counter()
        gold = fit_estimator(build_estimator(model, model_params, unlearnable), remain, columns)
        retrain_seconds = time.perf_counter() - start
    outcome = apply_strategy(
        strategy,
        copy.deepcopy(original),
        template,
        participant,
        remain,
        forget,
        columns,
        nonmember=test,
        conmu=conmu,
    )
    X_f, y_f, _ = table_arrays(forget, columns)
    report = forgetting_report(
        outcome.estimator,
        gold,
        forget=(X_f, y_f),
        remain=table_arrays(remain, columns),
        test=table_arrays(test, columns),
    )
    return {
        "strategy": outcome.strategy,
        "note": outcome.note,
        "seconds": outcome.seconds,
        "retrain_seconds": retrain_seconds,
        "times": outcome.times,
        "info": outcome.info,
        "report": report,
        "original": original,
        "gold": gold,
    }


def sweep(
    table: pd.DataFrame,
    columns: list[str],
    participant: str,
    members: list[str],
    nonmembers: list[str],
    *,
    model: str = "rf",
    grid: list[dict] | None = None,
    sharded_q: float | None = 0.25,
    progress: bool = True,
) -> pd.DataFrame:
    """Forget one participant with retrain, sharded and every ConMU setting of a grid.

    ``sharded`` uses a sharded forest (``sharded_q`` of the trees per
    participant; None leaves it out) trained in that form from the start.

    Returns
    -------
    table : pandas.DataFrame
        One row per setting: the knobs, ``seconds``, ``speedup`` over retrain,
        ``test_accuracy``, ``forget_accuracy``, ``svc_auc``, ``auc_gap`` (to the
        gold model), ``target_nonmember_share`` and ``gap``.
    """
    from tqdm.auto import tqdm

    grid = grid or SWEEP_GRID
    base = forget_experiment(table, columns, participant, members, nonmembers, model=model)
    retrain_seconds = base["retrain_seconds"]
    rows = [_row("retrain", {}, base, retrain_seconds)]
    if sharded_q is not None:
        fast = forget_experiment(
            table,
            columns,
            participant,
            members,
            nonmembers,
            model=model,
            strategy="sharded",
            unlearnable={"kind": "sharded", "q": sharded_q},
            gold=base["gold"],
        )
        rows.append(_row("sharded", {"q": sharded_q}, fast, retrain_seconds))
    jobs = (
        delayed(forget_experiment)(
            table,
            columns,
            participant,
            members,
            nonmembers,
            model=model,
            strategy="conmu",
            conmu=ConMUSettings(**knobs),
            original=base["original"],
            gold=base["gold"],
        )
        for knobs in grid
    )
    results = Parallel(return_as="generator")(jobs)
    for knobs, result in tqdm(
        zip(grid, results, strict=True), total=len(grid), desc="sweep", disable=not progress
    ):
        rows.append(_row("conmu", knobs, result, retrain_seconds))
    return pd.DataFrame(rows)


def _row(strategy: str, knobs: dict, result: dict, retrain_seconds: float) -> dict:
    model, gold = result["report"]["model"], result["report"]["gold"]
    seconds = result["seconds"]
    return {
        "strategy": strategy,
        **{k: ("all" if v is None else v) for k, v in knobs.items()},
        "seconds": seconds,
        "speedup": retrain_seconds / seconds if seconds else float("nan"),
        "test_accuracy": model["test_accuracy"],
        "forget_accuracy": model["forget_accuracy"],
        "svc_auc": model["svc_auc"],
        "auc_gap": abs(model["svc_auc"] - gold["svc_auc"]),
        "target_nonmember_share": model["target_nonmember_share"],
        "gap": result["report"]["gap"],
    }


def tradeoff_figure(results: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """Privacy (attack AUC gap to gold) vs utility (test accuracy), sized by run time."""
    fig = Figure(figsize=(6.5, 4.5))
    ax = fig.subplots()
    sizes = 30 + 300 * results["seconds"] / max(results["seconds"].max(), 1e-9)
    palette = {"retrain": "tab:red", "sharded": "tab:green", "conmu": "tab:blue"}
    colours = [palette.get(s, "tab:gray") for s in results["strategy"]]
    ax.scatter(results["auc_gap"], results["test_accuracy"], s=sizes, c=colours, alpha=0.7)
    for _, row in results.iterrows():
        label = {
            "retrain": "retrain",
            "sharded": f"sharded q={row.get('q')}",
        }.get(
            row["strategy"],
            f"b={row.get('band')} n={row.get('noise_steps')} w={row.get('proxy_weight')}",
        )
        ax.annotate(
            f"{label}\n{row['seconds']:.2f}s",
            (row["auc_gap"], row["test_accuracy"]),
            fontsize=6,
            xytext=(3, 3),
            textcoords="offset points",
        )
    ax.set_xlabel("privacy: |attack AUC - gold model's| (lower is better)")
    ax.set_ylabel("utility: accuracy on never-seen participants")
    ax.set_title(title or "Forgetting trade-off (marker size: run time)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return Path(path)
