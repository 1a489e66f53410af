"""Honest evaluation: splitters that respect time, and one call that runs them.

Windows cut from one task block overlap in time and share its electrode
contact and drift, so where they land decides what a score means:

- ``time-blocked`` (the EEG4Students study's scheme): per participant, each
  block is cut into ``n_splits`` contiguous chunks and fold ``k`` tests the
  ``k``-th chunk of every block; training windows that overlap a test window
  in time are dropped (the gap), so no sample is on both sides;
- ``cross-session`` (the headline for within-person models): per participant,
  train on the other sessions, test on one;
- ``loso``: leave one participant out (models meant for new people);
- ``shuffled``: stratified k-fold over shuffled windows. It leaks (neighbours
  of a test window are in training) and is labelled ``leaky`` wherever it
  appears; it exists to show how much it inflates accuracy.

:func:`evaluate` returns a tidy table: one row per participant x pipeline x
fold with accuracy, balanced accuracy, Cohen's kappa, fit and predict time
and train/test sizes, plus confusion matrices per participant and pipeline.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator, Sequence
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
from sklearn.model_selection import StratifiedKFold

from eeg4students._progress import progress_bar
from eeg4students.adaptation import adapt_table
from eeg4students.errors import EEG4StudentsError
from eeg4students.models import (
    MODEL_NAMES,
    TimeMajorityVoting,
    make_model,
    model_columns,
    vote,
)
from eeg4students.names import SCHEMES

LEAKY_SCHEMES = ("shuffled",)
TMV_VARIANTS = ("tmv-block", "tmv-causal")


class EvaluationError(EEG4StudentsError, ValueError):
    """An evaluation that cannot run as asked."""


Split = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class TimeBlockedKFold:
    """Fold ``k`` tests the ``k``-th contiguous chunk of every task block.

    Parameters
    ----------
    n_splits : int
        Chunks per block (7 in the study: 42 s blocks in 6 s chunks).
    window : float
        Window length in seconds: training windows starting less than this
        before or after a test window of the same block are dropped.
    """

    n_splits: int = 7
    window: float = 2.0

    def split(self, meta: pd.DataFrame) -> Iterator[Split]:
        """Yield (train, test) row positions of ``meta`` (needs ``block``, ``start``)."""
        blocks = meta["block"].to_numpy()
        starts = meta["start"].to_numpy(dtype=float)
        chunk = np.empty(len(meta), dtype=int)
        for block in pd.unique(blocks):
            rows = np.flatnonzero(blocks == block)
            rows = rows[np.argsort(starts[rows], kind="stable")]
            for k, part in enumerate(np.array_split(rows, self.n_splits)):
                chunk[part] = k
        for k in range(self.n_splits):
            test = np.flatnonzero(chunk == k)
            if not len(test):
                continue
            near = np.zeros(len(meta), dtype=bool)
            for block in pd.unique(blocks[test]):
                in_block = blocks == block
                times = starts[test[blocks[test] == block]]
                lo, hi = times.min() - self.window, times.max() + self.window
                near |= in_block & (starts > lo) & (starts < hi)
            train = np.flatnonzero((chunk != k) & ~near)
            yield train, test


@dataclass(frozen=True)
class CrossSession:
    """Train on a participant's other sessions, test on one."""

    def split(self, meta: pd.DataFrame) -> Iterator[Split]:
        """Yield (train, test) row positions, one fold per session."""
        sessions = meta["session"].to_numpy()
        for session in sorted(pd.unique(sessions)):
            yield np.flatnonzero(sessions != session), np.flatnonzero(sessions == session)


@dataclass(frozen=True)
class LeaveParticipantOut:
    """Train on every other participant, test on one."""

    def split(self, meta: pd.DataFrame) -> Iterator[Split]:
        """Yield (train, test) row positions, one fold per participant."""
        people = meta["participant"].to_numpy()
        for person in sorted(pd.unique(people)):
            yield np.flatnonzero(people != person), np.flatnonzero(people == person)


@dataclass(frozen=True)
class ShuffledKFold:
    """Stratified k-fold over shuffled windows. Leaky: for comparison only."""

    n_splits: int = 7
    random_state: int = 0

    def split(self, meta: pd.DataFrame) -> Iterator[Split]:
        """Yield (train, test) row positions (needs ``task``)."""
        y = meta["task"].to_numpy()
        folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.random_state)
        yield from folds.split(np.zeros(len(y)), y)


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


def splitter_for(scheme: str, n_splits: int, window: float, random_state: int = 0):
    """Return the splitter of a scheme name (see :data:`SCHEMES`)."""
    if scheme == "time-blocked":
        return TimeBlockedKFold(n_splits, window)
    if scheme == "cross-session":
        return CrossSession()
    if scheme == "loso":
        return LeaveParticipantOut()
    if scheme == "shuffled":
        return ShuffledKFold(n_splits, random_state)
    raise EvaluationError(f"Unknown scheme {scheme!r}: use one of {', '.join(SCHEMES)}.")


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
        names.append("tmv" if key.startswith("tmv") else key)
    return list(dict.fromkeys(names))


def _folds(meta: pd.DataFrame, scheme: str, splitter) -> Iterator[tuple[str, int, Split]]:
    """Yield (participant, fold, split) with positions into ``meta``."""
    if scheme == "loso":
        for fold, (train, test) in enumerate(splitter.split(meta)):
            yield str(meta["participant"].iloc[test[0]]), fold, (train, test)
        return
    for person, rows in meta.groupby("participant", sort=True).indices.items():
        part = meta.iloc[rows]
        for fold, (train, test) in enumerate(splitter.split(part)):
            yield str(person), fold, (rows[train], rows[test])


def _coverage(meta: pd.DataFrame, n_splits: int) -> tuple[set, list[str]]:
    """Participants too small for the time-blocked folds, and notes on short blocks."""
    sizes = meta.groupby(["participant", "block"]).size()
    largest = sizes.groupby(level=0).max()
    too_small = set(largest[largest < n_splits].index)
    notes = [
        f"{person}: every block has fewer than {n_splits} windows, too few for {n_splits} "
        "folds; use fewer --folds or a shorter --hop"
        for person in sorted(too_small)
    ]
    notes += [
        f"{person}: block {block} has {size} windows, so it is tested in {size} of the "
        f"{n_splits} folds only"
        for (person, block), size in sizes[sizes < n_splits].items()
        if person not in too_small
    ]
    return too_small, notes


def _run_fold(
    X, y, blocks, person, fold, train, test, names, labels, k, random_state, params, columns
):
    """Fit and score every model on one fold; each base is fitted once and shared with TMV.

    ``columns`` maps each model name to the positions of its columns in X
    (covariance columns for the Riemannian models, band powers for the rest).
    """
    if len(np.unique(y[train])) < 2 or not len(test):
        return [], [], {}, f"{person} fold {fold}: too little training data for two tasks"
    rows, ranking, confusion = [], [], {}
    fitted, fit_times = {}, {}
    wanted = [n for n in names if n != "tmv"]

    def build(name):
        return make_model(name, random_state=random_state, **params.get(name, {}))

    tmv = None
    if "tmv" in names:
        tmv = TimeMajorityVoting([("rf", build("rf")), ("svm", build("svm"))], k=k)
    for name in wanted:
        start = time.perf_counter()
        fitted[name] = build(name).fit(X[train][:, columns[name]], y[train])
        fit_times[name] = time.perf_counter() - start
    if tmv is not None:
        start = time.perf_counter()
        Xt = X[:, columns["tmv"]]
        tmv.fit(Xt[train], y[train], groups=blocks[train], prefitted=fitted)
        # TMV's cost includes its bases' fits, whether shared or not.
        shared = sum(fit_times.get(name, 0.0) for name, _ in tmv.estimators)
        fit_times["tmv"] = time.perf_counter() - start + shared
        ranking.append({"participant": person, "fold": fold, "ranking": tmv.ranking_})
    outputs = {}
    for name in wanted:
        start = time.perf_counter()
        outputs[name] = (fitted[name].predict(X[test][:, columns[name]]), fit_times[name])
        outputs[name] += (time.perf_counter() - start,)
    if tmv is not None:
        start = time.perf_counter()
        top, second = tmv.predict_bases(Xt[test])
        elapsed = time.perf_counter() - start
        for variant, mode in zip(TMV_VARIANTS, ("block", "causal"), strict=True):
            pred = vote(top, second, mode=mode, blocks=blocks[test], k=k)
            outputs[variant] = (pred, fit_times["tmv"], elapsed)
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
        reports both ``tmv-block`` and ``tmv-causal``.
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
        TMV's bases take the settings of ``rf`` and ``svm``.
    adapt : str | None
        ``"session"``: standardise every feature within each participant's
        session from its own windows, labels unused
        (:mod:`eeg4students.adaptation`); sessions where that may mislead
        (a task missing or much rarer) are listed in ``notes``. None: as
        the features are.
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
    splitter = splitter_for(scheme, n_splits, window, random_state)
    names = _expand(models)
    params = model_params or {}
    if table["task"].nunique() < 2:
        raise EvaluationError(
            f"The feature table has {table['task'].nunique()} task(s); classification needs "
            "at least two (check the task annotations and the excluded blocks)."
        )
    if scheme == "loso" and table["participant"].nunique() < 2:
        raise EvaluationError("Leave-participant-out needs at least two participants.")
    try:
        table, adapt_notes = adapt_table(table, feature_columns, adapt)
    except ValueError as exc:
        raise EvaluationError(str(exc)) from exc
    meta = table.sort_values(["participant", "session", "recording", "block", "start"])
    meta = meta.reset_index(drop=True)
    X = meta[list(feature_columns)].to_numpy(dtype=float)
    y = meta["task"].to_numpy()
    blocks = meta["block"].to_numpy()
    skipped = []
    if scheme == "time-blocked":
        too_small, skipped = _coverage(meta, n_splits)
        meta = meta[~meta["participant"].isin(too_small)].reset_index(drop=True)
        if meta.empty:
            raise EvaluationError(
                f"No participant has a block with {n_splits} windows for the time-blocked "
                "folds; use fewer --folds or a shorter --hop."
            )
        X = meta[list(feature_columns)].to_numpy(dtype=float)
        y = meta["task"].to_numpy()
        blocks = meta["block"].to_numpy()
    folds = list(_folds(meta, scheme, splitter))
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
        )
        for person, fold, (train, test) in folds
    )
    rows, ranking = [], []
    confusion: dict[tuple[str, str], np.ndarray] = {}
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    for fold_rows, fold_ranking, fold_confusion, note in progress_bar(
        results, total=len(folds), desc=scheme, unit="fold", enabled=progress
    ):
        if note:
            skipped.append(note)
        for row in fold_rows:
            rows.append({"scheme": scheme, "leaky": scheme in LEAKY_SCHEMES, **row})
        ranking += fold_ranking
        for key, counts in fold_confusion.items():
            confusion[key] = confusion.get(key, 0) + counts
    if not rows:
        raise EvaluationError(
            f"No participant has enough data for the {scheme} scheme"
            + (" (each needs at least two sessions)" if scheme == "cross-session" else "")
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
            "random_state": random_state,
        },
        tmv_ranking=pd.DataFrame(ranking),
        notes=adapt_notes,
    )
