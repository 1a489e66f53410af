"""Honest evaluation: run pipelines under a scheme and gather tidy tables.

The schemes are the cross-validators of :mod:`eeg4students.splitters`
(``time-blocked``, ``cross-session``, ``loso``, ``calibration`` and the
leaky ``shuffled``, labelled as such wherever it appears). :func:`evaluate`
returns one row per participant x pipeline x fold with accuracy, balanced
accuracy, Cohen's kappa, fit and predict time and train/test sizes, plus
confusion matrices per participant and pipeline; :func:`choose_scheme` picks
the honest scheme for a table.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from joblib import Parallel, delayed
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    cohen_kappa_score,
    confusion_matrix,
)

from eeg4students._progress import progress_bar
from eeg4students.adaptation import adapt_table
from eeg4students.models import MODEL_NAMES, fit_model, make_model, make_tmv, model_columns, vote
from eeg4students.names import TMV_MODELS
from eeg4students.splitters import (
    CALIBRATION_MINUTES,
    EvaluationError,
    choose_scheme,
    splitter_for,
)

LEAKY_SCHEMES = ("shuffled",)
#: The votes an evaluation reports for each TMV model (``tmv-block``, ``tmv-causal``...).
TMV_MODES = ("block", "causal")
TMV_VARIANTS = tuple(f"{m}-{mode}" for m in TMV_MODELS for mode in TMV_MODES)


__all__ = ["Evaluation", "EvaluationError", "chance_levels", "choose_scheme", "evaluate"]


@dataclass
class Evaluation:
    """What :func:`evaluate` measured.

    Attributes
    ----------
    scores : pandas.DataFrame
        One row per participant x pipeline x fold: ``scheme``, ``leaky``,
        ``participant``, ``pipeline``, ``fold``, ``accuracy``,
        ``balanced_accuracy``, ``kappa``, ``fit_time`` and ``predict_time``
        (s), ``n_train``, ``n_test``.
    confusion : dict of (participant, pipeline) to pandas.DataFrame
        Confusion counts summed over folds (rows true task, columns predicted).
    skipped : list of str
        Participants or folds left out, and why.
    settings : dict
        How the numbers were produced (scheme, folds, window, models).
    tmv_ranking : pandas.DataFrame
        TMV's chosen base order per participant and fold.
    notes : list of str
        What may mislead in these numbers (e.g. sessions where session
        adaptation leans on one task).
    """

    scores: pd.DataFrame
    confusion: dict[tuple[str, str], pd.DataFrame]
    skipped: list[str]
    settings: dict
    tmv_ranking: pd.DataFrame = field(default_factory=pd.DataFrame)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> pd.DataFrame:
        """Mean accuracy per participant and pipeline (columns), with an overall mean row."""
        table = self.scores.pivot_table(
            index="participant", columns="pipeline", values="accuracy", aggfunc="mean"
        )
        table.loc["mean"] = table.mean()
        return table

    def learning_curve(self) -> pd.DataFrame:
        """Calibration scheme: mean accuracy over participants per model (rows) and level.

        Returns
        -------
        curve : pandas.DataFrame
            Columns ``+M min`` in increasing M, then ``own``; empty for the
            other schemes.
        """
        if "variant" not in self.scores:
            return pd.DataFrame()
        per_person = self.scores.groupby(["model", "variant", "participant"])["accuracy"].mean()
        curve = per_person.groupby(["model", "variant"]).mean().unstack("variant")
        levels = sorted((v for v in curve.columns if v != "own"), key=level_minutes)
        return curve[[*levels, "own"]]


def chance_levels(table: pd.DataFrame) -> tuple[int, float]:
    """The number of tasks and the share of the most frequent one (a guess's accuracy).

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table with ``task``.

    Returns
    -------
    n_tasks : int
    majority : float
        Accuracy of always answering the most frequent task.
    """
    counts = table["task"].value_counts()
    return len(counts), float(counts.iloc[0] / counts.sum()) if len(counts) else 0.0


def _expand(models: Sequence[str]) -> list[str]:
    """Model names to fit (``tmv`` stands for both TMV variants)."""
    names = []
    for name in models:
        key = name.strip().lower()
        if key not in (*MODEL_NAMES, *TMV_VARIANTS):
            raise EvaluationError(
                f"Unknown model {name!r}: use some of {', '.join(MODEL_NAMES)} "
                f"(or {', '.join(TMV_VARIANTS)})."
            )
        names.append(key.rsplit("-", 1)[0] if key in TMV_VARIANTS else key)
    return list(dict.fromkeys(names))


def _coverage(meta: pd.DataFrame, n_splits: int) -> tuple[set, list[str], list[str]]:
    """Participants too small for the time-blocked folds (left out), and notes on short blocks.

    Returns
    -------
    too_small : set of str
        Participants left out.
    left_out : list of str
        Why each of them is left out.
    notes : list of str
        Blocks kept but tested in fewer folds than the others (nothing is left out).
    """
    sizes = meta.groupby(["participant", "block"]).size()
    largest = sizes.groupby(level=0).max()
    too_small = set(largest[largest < n_splits].index)
    left_out = [
        f"{person}: every block has fewer than {n_splits} windows, too few for {n_splits} "
        "folds; use fewer --folds or a shorter --hop"
        for person in sorted(too_small)
    ]
    notes = [
        f"{person}: block {block} has {size} windows, so it is tested in {size} of the "
        f"{n_splits} folds only"
        for (person, block), size in sizes[sizes < n_splits].items()
        if person not in too_small
    ]
    return too_small, left_out, notes


def _run_fold(
    X,
    y,
    blocks,
    person,
    fold,
    train,
    test,
    names,
    labels,
    k,
    random_state,
    params,
    columns,
    column_names,
):
    """Fit and score every model on one fold; each base is fitted once and shared with TMV.

    ``columns`` maps each model name to the positions of its columns in X
    (covariance columns for the Riemannian models, both for ``tmvts``, band
    powers for the rest); ``column_names`` names X's columns.
    """
    if len(np.unique(y[train])) < 2 or not len(test):
        return [], [], {}, f"{person} fold {fold}: too little training data for two tasks"
    rows, ranking, confusion = [], [], {}
    fitted, fit_times = {}, {}
    wanted = [n for n in names if n not in TMV_MODELS]
    bases = {name: params.get(name, {}) for name in ("rf", "svm", "tslr")}

    def build(name):
        if name in TMV_MODELS:
            routed = [column_names[i] for i in columns[name]]
            return make_tmv(
                name,
                base_params=bases,
                random_state=random_state,
                feature_columns=routed,
                k=k,
                **params.get(name, {}),
            )
        return make_model(name, random_state=random_state, **params.get(name, {}))

    tmvs = {name: build(name) for name in names if name in TMV_MODELS}
    for name in wanted:
        start = time.perf_counter()
        fitted[name] = fit_model(
            build(name), X[train][:, columns[name]], y[train], blocks=blocks[train]
        )
        fit_times[name] = time.perf_counter() - start
    outputs = {}
    for name, tmv in tmvs.items():
        start = time.perf_counter()
        Xt = X[:, columns[name]]
        # tmv shares the bases fitted alone (same columns); tmvts routes columns itself.
        shared = fitted if name == "tmv" else {}
        tmv.fit(Xt[train], y[train], groups=blocks[train], prefitted=shared)
        # TMV's cost includes its bases' fits, whether shared or not.
        fit_time = time.perf_counter() - start
        fit_time += sum(fit_times.get(base, 0.0) for base, _ in tmv.estimators if base in shared)
        ranking.append(
            {"participant": person, "fold": fold, "model": name, "ranking": tmv.ranking_}
        )
        start = time.perf_counter()
        top, second = tmv.predict_bases(Xt[test])
        elapsed = time.perf_counter() - start
        for mode in TMV_MODES:
            pred = vote(top, second, mode=mode, blocks=blocks[test], k=k)
            outputs[f"{name}-{mode}"] = (pred, fit_time, elapsed)
    for name in wanted:
        start = time.perf_counter()
        outputs[name] = (fitted[name].predict(X[test][:, columns[name]]), fit_times[name])
        outputs[name] += (time.perf_counter() - start,)
    for pipeline, (pred, fit_time, predict_time) in outputs.items():
        with warnings.catch_warnings():
            # A test session may lack a task (an excluded block); balanced accuracy
            # then averages over the tasks it has, which is what we want.
            warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
            balanced = balanced_accuracy_score(y[test], pred)
        rows.append(
            {
                "participant": person,
                "pipeline": pipeline,
                "fold": fold,
                "accuracy": accuracy_score(y[test], pred),
                "balanced_accuracy": balanced,
                "kappa": cohen_kappa_score(y[test], pred),
                "fit_time": fit_time,
                "predict_time": predict_time,
                "n_train": len(train),
                "n_test": len(test),
            }
        )
        confusion[(person, pipeline)] = confusion_matrix(y[test], pred, labels=labels)
    return rows, ranking, confusion, None


def evaluate(
    table: pd.DataFrame,
    feature_columns: Sequence[str],
    models: Sequence[str] = ("rf", "svm", "tmv"),
    scheme: str = "time-blocked",
    *,
    n_splits: int = 7,
    window: float = 2.0,
    k: int = 5,
    random_state: int = 0,
    model_params: dict[str, dict] | None = None,
    adapt: str | None = None,
    minutes: Sequence[float] = CALIBRATION_MINUTES,
    balance: bool = True,
    n_jobs: int | None = None,
    progress: bool = True,
) -> Evaluation:
    """Run pipelines under an evaluation scheme.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``FeatureSet.table``): metadata columns and features.
    feature_columns : sequence of str
        The feature columns.
    models : sequence of str
        Model names (see :data:`eeg4students.models.MODEL_NAMES`); ``tmv``
        reports both ``tmv-block`` and ``tmv-causal`` (``tmvts`` likewise).
    scheme : str
        One of :data:`SCHEMES`.
    n_splits : int
        Folds of the time-blocked and shuffled schemes.
    window : float
        Window length (s), for the time-blocked gap.
    k : int
        Causal TMV vote length in windows.
    random_state : int
        Seed of the models and of the shuffled split.
    model_params : dict | None
        Settings per model name, e.g. ``{"rf": {"n_estimators": 100}}``;
        TMV's bases take the settings of ``rf`` and ``svm`` (``tmvts``'s
        also those of ``tslr``).
    adapt : str | None
        ``"session"``: standardise every feature within each participant's
        session from its own windows, labels unused
        (:mod:`eeg4students.adaptation`); sessions where that may mislead
        (a task missing or much rarer) are listed in ``notes``. None: as
        the features are.
    minutes : sequence of float
        Calibration levels of the ``calibration`` scheme (minutes of the
        student's labelled data). Its pipelines are named ``MODEL +M min``
        and ``MODEL own``; its rows also hold ``model``, ``variant`` and
        ``calibration_s`` (seconds of calibration recording used).
    balance : bool
        Calibration scheme: repeat the student's windows to weigh about as
        much as the cohort (``n_train`` counts the copies); off, each
        window counts once.
    n_jobs : int | None
        Folds run in parallel (joblib; ``-1`` for every core). None follows
        :func:`eeg4students.parallel.backend` (one process by default).
        Results do not depend on it.
    progress : bool
        Show a progress bar over folds.

    Returns
    -------
    evaluation : Evaluation

    Raises
    ------
    EvaluationError
        For an unknown scheme or model, a table with fewer than two tasks, or
        when no participant has enough data for the folds asked.
    """
    splitter = splitter_for(scheme, n_splits, window, random_state, minutes, balance)
    names = _expand(models)
    params = model_params or {}
    if table["task"].nunique() < 2:
        raise EvaluationError(
            f"The feature table has {table['task'].nunique()} task(s); classification needs "
            "at least two (check the task annotations and the excluded blocks)."
        )
    if scheme in ("loso", "calibration") and table["participant"].nunique() < 2:
        raise EvaluationError(f"The {scheme} scheme needs at least two participants.")
    if scheme == "calibration" and (not len(minutes) or min(minutes) < 0):
        raise EvaluationError("Calibration minutes must be zero or more, e.g. --minutes 0,1,2,5.")
    try:
        table, adapt_notes = adapt_table(table, feature_columns, adapt)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc
    meta = table.sort_values(["participant", "session", "recording", "block", "start"])
    meta = meta.reset_index(drop=True)
    X = meta[list(feature_columns)].to_numpy(dtype=float)
    y = meta["task"].to_numpy()
    blocks = meta["block"].to_numpy()
    skipped, coverage_notes = [], []
    if scheme == "time-blocked":
        too_small, skipped, coverage_notes = _coverage(meta, n_splits)
        meta = meta[~meta["participant"].isin(too_small)].reset_index(drop=True)
        if meta.empty:
            raise EvaluationError(
                f"No participant has a block with {n_splits} windows for the time-blocked "
                "folds; use fewer --folds or a shorter --hop."
            )
        X = meta[list(feature_columns)].to_numpy(dtype=float)
        y = meta["task"].to_numpy()
        blocks = meta["block"].to_numpy()
    folds = list(splitter.folds(meta))
    labels = np.unique(y)
    position = {c: i for i, c in enumerate(feature_columns)}
    # Each model's columns; TMV votes over its RF and SVM bases, so it takes theirs.
    columns = {
        name: np.array(
            [position[c] for c in model_columns("rf" if name == "tmv" else name, feature_columns)]
        )
        for name in names
    }
    jobs = (
        delayed(_run_fold)(
            X,
            y,
            blocks,
            person,
            fold,
            train,
            test,
            names,
            labels,
            k,
            random_state,
            params,
            columns,
            list(feature_columns),
        )
        for person, fold, train, test, _ in folds
    )
    rows, ranking = [], []
    confusion: dict[tuple[str, str], np.ndarray] = {}
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    outcomes = progress_bar(results, total=len(folds), desc=scheme, unit="fold", enabled=progress)
    for fold, (fold_rows, fold_ranking, fold_confusion, note) in zip(folds, outcomes, strict=True):
        extra = fold.extra
        variant = extra.get("variant")
        if note:
            skipped.append(note + (f" ({variant})" if variant else ""))
        for row in fold_rows:
            if variant:
                model = row["pipeline"]
                row = {**row, "pipeline": f"{model} {variant}", "model": model, **extra}
            rows.append(
                {
                    "scheme": scheme,
                    "leaky": scheme in LEAKY_SCHEMES,
                    "adapt": adapt or "none",
                    **row,
                }
            )
        ranking += [{**r, **extra} for r in fold_ranking]
        for (person, pipeline), counts in fold_confusion.items():
            key = (person, f"{pipeline} {variant}" if variant else pipeline)
            confusion[key] = confusion.get(key, 0) + counts
    if not rows:
        raise EvaluationError(
            f"No participant has enough data for the {scheme} scheme"
            + (
                " (each needs at least two sessions)"
                if scheme in ("cross-session", "calibration")
                else ""
            )
            + "; use another --scheme or fewer --folds."
        )
    return Evaluation(
        scores=pd.DataFrame(rows),
        confusion={
            key: pd.DataFrame(value, index=labels, columns=labels)
            for key, value in confusion.items()
        },
        skipped=skipped,
        settings={
            "scheme": scheme,
            "leaky": scheme in LEAKY_SCHEMES,
            "n_splits": n_splits if scheme in ("time-blocked", "shuffled") else None,
            "window_s": window,
            "tmv_k": k,
            "models": list(models),
            "model_params": params,
            "adapt": adapt,
            "calibration_minutes": (
                [float(m) for m in minutes] if scheme == "calibration" else None
            ),
            "calibration_balance": balance if scheme == "calibration" else None,
            "random_state": random_state,
        },
        tmv_ranking=pd.DataFrame(ranking),
        notes=adapt_notes + coverage_notes + _calibration_notes(pd.DataFrame(rows)),
    )


def level_minutes(variant: str) -> float:
    """Minutes of a calibration level's name (``+2 min`` -> 2.0)."""
    return float(variant.removeprefix("+").removesuffix(" min"))


def _calibration_notes(scores: pd.DataFrame) -> list[str]:
    """Levels of the calibration scheme that asked for more than the students had."""
    if "calibration_s" not in scores:
        return []
    notes = []
    levels = scores.dropna(subset=["calibration_s"]).drop_duplicates(
        ["participant", "fold", "variant"]
    )
    for variant, level in levels.groupby("variant", sort=False):
        asked = level_minutes(variant) * 60.0
        had = level["calibration_s"]
        short = level[had < 0.9 * asked]
        if asked and len(short):
            notes.append(
                f"{variant}: {len(short)} of {len(level)} test sessions had only "
                f"{short['calibration_s'].min() / 60:.1f}-{short['calibration_s'].max() / 60:.1f} "
                "min of the student's other sessions to calibrate with (after quality "
                "exclusion), so this level used all of it"
            )
    return notes


def evaluate_adaptations(
    table: pd.DataFrame,
    feature_columns: Sequence[str],
    models: Sequence[str],
    scheme: str,
    adapts: Sequence[str | None],
    **options,
) -> Evaluation:
    """Run :func:`evaluate` once per adaptation and put the results side by side.

    Parameters
    ----------
    table, feature_columns, models, scheme
        As for :func:`evaluate`.
    adapts : sequence of str | None
        Adaptations to compare, e.g. ``[None, "session"]``.
    **options
        Other arguments of :func:`evaluate`.

    Returns
    -------
    evaluation : Evaluation
        With one adaptation, :func:`evaluate`'s. With several, one
        evaluation whose adapted pipelines are named ``PIPELINE [ADAPT]``
        (``lda [session]``; unadapted ones keep their names), the ``adapt``
        column telling them apart in ``scores``, notes prefixed with their
        adaptation and ``settings["adapt"]`` listing them.
    """
    adapts = list(dict.fromkeys(adapts)) or [None]
    if len(adapts) == 1:
        return evaluate(table, feature_columns, models, scheme, adapt=adapts[0], **options)
    parts = [
        (adapt, evaluate(table, feature_columns, models, scheme, adapt=adapt, **options))
        for adapt in adapts
    ]

    def named(pipeline: str, adapt: str | None) -> str:
        return pipeline if adapt is None else f"{pipeline} [{adapt}]"

    scores, confusion, ranking, skipped, notes = [], {}, [], [], []
    for adapt, part in parts:
        renamed = part.scores.assign(pipeline=[named(p, adapt) for p in part.scores["pipeline"]])
        if "model" in renamed:  # the calibration scheme's learning curve is per model
            renamed["model"] = [named(m, adapt) for m in renamed["model"]]
        scores.append(renamed)
        confusion.update({(who, named(p, adapt)): m for (who, p), m in part.confusion.items()})
        ranking.append(part.tmv_ranking.assign(adapt=adapt or "none"))
        skipped += [s for s in part.skipped if s not in skipped]
        notes += [f"[{adapt}] {n}" if adapt else n for n in part.notes]
    settings = {**parts[0][1].settings, "adapt": [a or "none" for a in adapts]}
    return Evaluation(
        scores=pd.concat(scores, ignore_index=True),
        confusion=confusion,
        skipped=skipped,
        settings=settings,
        tmv_ranking=pd.concat(ranking, ignore_index=True),
        notes=notes,
    )
