"""Forgetting experiments on a feature table, in memory: nothing on disk changes.

:func:`forget_experiment` trains a model on the member participants, forgets
one of them (P) with a strategy, retrains the gold model without P, and
measures the original, updated and gold models
(:func:`~eeg4students.unlearning.metrics.forgetting_report`): accuracies,
P's participant-level privacy check against shadow models, and P among the
evaluation strangers. Never-trained participants are split into calibration
strangers (ConMU's stopping rule) and evaluation strangers (the figures).
:func:`sweep` runs retrain, sharded and a grid of ConMU settings on one P
and :func:`tradeoff_figure` plots P's privacy against accuracy and run time.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from matplotlib.figure import Figure

from eeg4students._files import atomic_write_text
from eeg4students._progress import progress_bar
from eeg4students.training import build_estimator, fit_estimator
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.metrics import forgetting_report
from eeg4students.unlearning.privacy import (
    N_SHADOWS,
    Shadows,
    fit_shadows,
    split_strangers,
    strongest,
)
from eeg4students.unlearning.strategies import apply_strategy, unlearner

#: The default ConMU settings of ``forget --sweep``: every selection band.
SWEEP_GRID = [{"band": band} for band in (None, 2.0, 1.0, 0.5)]
#: The privacy levels of the certified removals ``forget --sweep`` draws.
SWEEP_EPSILONS = (0.1, 0.3, 1.0, 3.0, 10.0)
#: The certified model drawn beside each kind of model (the RBF SVM's twin is rff).
CERTIFIED_TWIN = {
    "rf": "rff",
    "svm": "rff",
    "lr": "lr",
    "rff": "rff",
    "tslr": "tslr",
    "tmv": "tmv",
}

#: The columns of a sweep table worth printing, in order.
TRADEOFF_COLUMNS = [
    "strategy",
    "setting",
    "seconds",
    "speedup",
    "test_accuracy",
    "forget_accuracy",
    "z",
    "threshold",
    "verdict",
    "removals_left",
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
    strangers: list[str],
    *,
    model: str = "rf",
    model_params: dict | None = None,
    strategy: str = "retrain",
    unlearnable: dict | None = None,
    conmu: ConMUSettings | None = None,
    original=None,
    gold=None,
    shadows: Shadows | None = None,
    reference: dict | None = None,
    n_shadows: int = N_SHADOWS,
    seed: int = 0,
) -> dict:
    """Train with ``participant``, forget them, measure against the gold retrained model.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table.
    columns : list of str
        Feature columns.
    participant : str
        Who to forget (one of ``members``).
    members, strangers : list of str
        Trained and never-trained participants. The strangers are split into
        calibration and evaluation sets (:func:`~eeg4students.unlearning.privacy.split_strangers`).
    model, model_params, unlearnable : see :func:`eeg4students.training.build_estimator`
    strategy : {"retrain", "sharded", "certified", "conmu"}
    conmu : ConMUSettings | None
    original, gold : fitted estimators | None
        Reuse an already trained original (it is copied, not changed) or gold model.
    shadows : Shadows | None
        Reuse P's shadow models (of this model kind); None trains ``n_shadows``
        (with unlearned shadows for an approximate strategy: U-LiRA). Reused
        shadows without unlearned ones test an approximate update for
        member-likeness only.
    reference : dict | None
        The ``report`` of an earlier experiment with the same ``original``,
        ``gold`` and ``shadows``: their measurements are reused, not repeated.
    n_shadows : int
    seed : int
        Seed of the stranger split and the shadows.

    Returns
    -------
    result : dict
        ``strategy`` (as run), ``note``, ``exact``, ``seconds`` (forgetting),
        ``retrain_seconds`` (fitting the gold model; None when it was given),
        ``times`` per stage, ``info``, ``report`` (from
        :func:`~eeg4students.unlearning.metrics.forgetting_report`), and the
        ``original``, ``gold`` and ``shadows`` for reuse.
    """
    calibration, evaluation = split_strangers(strangers, seed)
    in_members = table["participant"].isin(members)
    remain = table[in_members & (table["participant"] != participant)]
    forget = table[table["participant"] == participant]

    def template():
        return build_estimator(model, model_params, unlearnable, feature_columns=columns)

    if original is None:
        original = fit_estimator(template(), table[in_members], columns)
    retrain_seconds = None
    if gold is None:
        start = time.perf_counter()
        gold = fit_estimator(template(), remain, columns)
        retrain_seconds = time.perf_counter() - start
    unlearn = unlearner(
        strategy,
        template,
        participant,
        columns,
        calibration=table[table["participant"].isin(calibration)],
        conmu=conmu,
    )
    outcome = apply_strategy(
        strategy,
        copy.deepcopy(original),
        template,
        participant,
        remain,
        forget,
        columns,
        calibration=table[table["participant"].isin(calibration)],
        conmu=conmu,
    )
    if shadows is None:
        # U-LiRA: for an approximate strategy, member shadows unlearned the same way.
        shadows = fit_shadows(
            table,
            columns,
            participant,
            [*members, *evaluation],
            len(members),
            template,
            n_shadows=n_shadows,
            unlearn=None if outcome.exact else unlearn,
            strategy=None if outcome.exact else strategy,
            seed=seed,
        )
    models = {"original": original, "model": outcome.estimator, "gold": gold}
    if reference is not None:
        models = {"model": outcome.estimator, "gold": gold}
    report = forgetting_report(
        models,
        forget=forget,
        remain=remain,
        test=table[table["participant"].isin(evaluation)],
        columns=columns,
        shadows=shadows,
        exact=outcome.exact,
        skip=("gold",) if reference is not None else (),
    )
    if reference is not None:
        report["original"], report["gold"] = reference["original"], reference["gold"]
    return {
        "strategy": outcome.strategy,
        "note": outcome.note,
        "exact": outcome.exact,
        "seconds": outcome.seconds,
        "retrain_seconds": retrain_seconds,
        "times": outcome.times,
        "info": outcome.info,
        "report": report,
        "original": original,
        "gold": gold,
        "shadows": shadows,
    }


def sweep(
    table: pd.DataFrame,
    columns: list[str],
    participant: str,
    members: list[str],
    strangers: list[str],
    *,
    model: str = "rf",
    model_params: dict | None = None,
    grid: list[dict] | None = None,
    sharded_q: float | None = 0.25,
    epsilons: tuple[float, ...] = SWEEP_EPSILONS,
    n_shadows: int = N_SHADOWS,
    progress: bool = True,
) -> pd.DataFrame:
    """Forget one participant with retrain, sharded, certified removals and ConMU settings.

    ``model`` and ``model_params`` name the model (see
    :func:`~eeg4students.training.build_estimator`). ``sharded`` uses a
    sharded forest (``sharded_q`` of the trees per participant; None leaves
    it out) trained in that form from the start, with
    shadows of its own kind. ``certified`` trains the model's certified twin
    (:data:`CERTIFIED_TWIN`) at each of ``epsilons`` and removes P with a
    Newton step, each judged by shadows trained and unlearned the same way
    (U-LiRA). Every ConMU setting starts from the same original model and is
    judged with the same shadows and gold model as ``retrain``.

    Returns
    -------
    table : pandas.DataFrame
        One row per setting: ``strategy``, ``setting`` (the knobs as text) and
        the knobs, ``seconds``, ``speedup`` over retrain, ``test_accuracy``,
        ``forget_accuracy`` (updated model), ``z`` and ``threshold`` of the
        member test, ``verdict`` and ``forgotten``, ``original_verdict``,
        ``power``, ``removals_left`` (certified: removals of this size the
        budget still allows before a retrain) and ``note``.
    """
    grid = grid or SWEEP_GRID
    common = {"model": model, "model_params": model_params, "n_shadows": n_shadows}
    base = forget_experiment(table, columns, participant, members, strangers, **common)
    # Speed-ups are over the retrain strategy's own run (so retrain's is 1 exactly).
    retrain_seconds = base["seconds"]
    rows = [_row("retrain", {}, base, retrain_seconds)]

    def trained_in(form: dict, strategy: str, **overrides) -> dict:
        """P forgotten from a model trained in an unlearnable form from the start."""
        return forget_experiment(
            table,
            columns,
            participant,
            members,
            strangers,
            strategy=strategy,
            unlearnable=form,
            **{**common, **overrides},
        )

    if sharded_q is not None:
        fast = trained_in({"kind": "sharded", "q": sharded_q}, "sharded")
        rows.append(_row("sharded", {"q": sharded_q}, fast, retrain_seconds))
    twin = CERTIFIED_TWIN.get(model)
    for epsilon in epsilons if twin else ():
        form = {"kind": "certified", "epsilon": epsilon}
        certified = trained_in(form, "certified", model=twin, model_params=None)
        setting = {"model": twin, "epsilon": epsilon}
        rows.append(_row("certified", setting, certified, retrain_seconds))
    jobs = (
        delayed(forget_experiment)(
            table,
            columns,
            participant,
            members,
            strangers,
            strategy="conmu",
            conmu=ConMUSettings(**knobs),
            original=base["original"],
            gold=base["gold"],
            shadows=base["shadows"],
            reference=base["report"],
            **common,
        )
        for knobs in grid
    )
    results = Parallel(return_as="generator")(jobs)
    for knobs, result in progress_bar(
        zip(grid, results, strict=True), total=len(grid), desc="sweep", enabled=progress
    ):
        rows.append(_row("conmu", knobs, result, retrain_seconds))
    return pd.DataFrame(rows)


def _setting_text(strategy: str, knobs: dict) -> str:
    if strategy == "sharded":
        return f"q={knobs['q']}"
    if strategy == "conmu":
        band = "all" if knobs.get("band") is None else knobs["band"]
        return f"band={band}"
    if strategy == "certified":
        return f"{knobs['model']}, epsilon={knobs['epsilon']:g}"
    return ""


def _row(strategy: str, knobs: dict, result: dict, retrain_seconds: float) -> dict:
    report = result["report"]
    model = report["model"]
    seconds = result["seconds"]
    screen = model["private"]["screen"]
    statistic = strongest(screen)
    if result["exact"]:
        verdict = "exact" if report.get("identical") else "exact: DIFFERS"
    else:
        verdict = model["privacy"]["verdict"]
    return {
        "strategy": strategy,
        "setting": _setting_text(strategy, knobs),
        **{k: ("all" if v is None else v) for k, v in knobs.items()},
        "seconds": seconds,
        "speedup": retrain_seconds / seconds if seconds else float("nan"),
        "test_accuracy": model["test_accuracy"],
        "forget_accuracy": model["forget_accuracy"],
        "z": statistic["z"],
        "threshold": statistic["threshold"],
        "verdict": verdict,
        "forgotten": verdict in ("exact", "forgotten"),
        "original_verdict": report["original"]["privacy"]["verdict"],
        "power": screen["power"],
        "removals_left": _removals_left(result["info"].get("certificate")),
        "note": result["note"],
    }


def _removals_left(certificate: dict | None) -> float:
    """Removals of this one's size the budget still allows (NaN when not certified)."""
    if not certificate:
        return float("nan")
    parts = [certificate] if "epsilon" in certificate else list(certificate.values())
    if any(p["retrained"] for p in parts):
        return 0.0
    return float(min(p["left"] // p["bound"] if p["bound"] > 0 else np.inf for p in parts))


def tradeoff_view(results: pd.DataFrame) -> pd.DataFrame:
    """The sweep's table as people read it: :data:`TRADEOFF_COLUMNS`, P's verdict in words.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`sweep`.

    Returns
    -------
    view : pandas.DataFrame
        ``verdict`` in words ("exact", "forgotten", "NOT FORGOTTEN",
        "inconclusive"); numbers rounded to 3 decimals.
    """
    view = results.reindex(columns=TRADEOFF_COLUMNS).copy()
    view["verdict"] = [v.upper() if v == "not forgotten" else v for v in results["verdict"]]
    return view.round(3)


def frontier(results: pd.DataFrame) -> str:
    """One sentence: which settings forgot P as well as the gold model and faster than retrain.

    A setting qualifies when it is exact, or its verdict is "forgotten" (not
    flagged by a check with the power to flag it), and it ran faster than
    ``retrain``.
    """
    retrain = results.loc[results["strategy"] == "retrain", "seconds"].iloc[0]
    good = results[(results["strategy"] != "retrain") & results["forgotten"]]
    faster = good[good["seconds"] < retrain]
    if faster.empty:
        return (
            "No setting was both faster than retrain and forgotten "
            f"({len(good)} of {len(results) - 1} were exact or forgotten)."
        )
    names = ", ".join(f"{r.strategy} {r.setting}".strip() for r in faster.itertuples())
    return f"Faster than retrain ({retrain:.2f} s) and exact or forgotten: {names}."


def tradeoff_figure(results: pd.DataFrame, path: str | Path, title: str = "") -> Path:
    """P's member-likeness (statistic above the threshold) vs accuracy, sized by run time.

    Each setting is a numbered point; the legend beside the axes names it
    with its run time, so labels never overlap however close the points are.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`sweep` (``strategy``, ``setting``, ``seconds``, ``z``,
        ``threshold``, ``test_accuracy``).
    path : str | Path
        The PNG to write (atomically).
    title : str
        Figure title.

    Returns
    -------
    path : Path
    """
    from matplotlib.lines import Line2D

    fig = Figure(figsize=(9.0, 4.8), layout="constrained")
    ax = fig.subplots()
    sizes = 40 + 300 * results["seconds"] / max(results["seconds"].max(), 1e-9)
    palette = {
        "retrain": "tab:red",
        "sharded": "tab:green",
        "certified": "tab:purple",
        "conmu": "tab:blue",
    }
    excess = results["z"] - results["threshold"]
    handles = []
    places: dict[tuple[float, float], list[str]] = {}
    for number, (row, x, size) in enumerate(
        zip(results.itertuples(), excess, sizes, strict=True), start=1
    ):
        colour = palette.get(row.strategy, "tab:gray")
        ax.scatter(x, row.test_accuracy, s=size, color=colour, alpha=0.55)
        places.setdefault((round(float(x), 3), round(float(row.test_accuracy), 4)), []).append(
            str(number)
        )
        setting = "" if pd.isna(row.setting) else f" {row.setting}"
        handles.append(
            Line2D(
                [],
                [],
                marker="o",
                linestyle="",
                color=colour,
                alpha=0.6,
                label=f"{number}. {row.strategy}{setting} ({row.seconds:.2f} s)",
            )
        )
    for (x, y), numbers in places.items():  # settings with equal results share one label
        ax.annotate(
            ",".join(numbers), (x, y), xytext=(6, 6), textcoords="offset points", fontsize=8
        )
    ax.axvline(0, color="black", linewidth=0.8, linestyle="--")
    ax.set_xlabel(
        "P's statistic above the 5%-false-positive threshold of the member test\n"
        "(at or left of the dashed line: not member-like)"
    )
    ax.set_ylabel("accuracy on never-seen participants")
    ax.set_title(title or "Forgetting one participant: privacy, utility, run time", fontsize=10)
    ax.margins(x=0.15, y=0.15)
    ax.legend(
        handles=handles,
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        fontsize=8,
        title="setting (run time; point size)",
        title_fontsize=8,
        frameon=False,
    )
    from eeg4students.report import save_figure

    return save_figure(fig, path)


def tradeoff_report(
    results: pd.DataFrame,
    out: str | Path,
    participant: str,
    *,
    settings: dict | None = None,
) -> Path:
    """Write ``tradeoff.csv``, ``tradeoff.png`` and a self-contained ``report.html``.

    Parameters
    ----------
    results : pandas.DataFrame
        From :func:`sweep`.
    out : str | Path
        Output folder (created).
    participant : str
        Who was forgotten.
    settings : dict | None
        How the sweep was run (model, members, strangers, shadows...), shown
        as a table.

    Returns
    -------
    report : Path
        ``out/report.html``, the figure embedded.
    """
    from eeg4students.report import new_report, save_report, settings_html, table_html

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "tradeoff.csv", results.to_csv(index=False))
    title = f"Forgetting {participant}: privacy, utility, run time"
    figure = tradeoff_figure(results, out / "tradeoff.png", title=title)
    report = new_report(title)
    report.add_html(
        f"<p>Every strategy forgot participant <b>{participant}</b> from a copy of the same "
        "model; each is compared with the gold model retrained without them. "
        "<code>z</code> is P's statistic under the member test (shadow models trained with "
        "and without P), <code>threshold</code> the one models that never saw P stay under "
        "95% of the time; <code>verdict</code>: exact strategies are compared with a retrain "
        "by digest, certified removals by shadows trained and unlearned the same way "
        "(U-LiRA), ConMU settings by the member test (the sweep shares its shadows; "
        "<code>forget --evaluate</code> also unlearns them). "
        "<code>test_accuracy</code> is on participants the model never saw.</p>"
        + table_html(tradeoff_view(results), index=False)
        + f"<p>{frontier(results)}</p>",
        "Strategies",
    )
    report.add_image(
        figure,
        "Privacy against accuracy",
        caption="One numbered point per setting (named in the legend with its run time; "
        "larger points took longer): left of the dashed line, P's statistic is within what a "
        "model that never saw P gives; higher is more accurate on never-seen participants. "
        "Settings with equal results share a label.",
    )
    report.add_html(settings_html(settings or {}), "Settings")
    return save_report(report, out / "report.html")
