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
- ``calibration``: a new student with a little labelled data. For every
  participant and each of their sessions in turn, a model trained on the
  other participants plus the first 0, 1, 2, 5 minutes (``--minutes``) of
  this participant's other sessions, shared evenly between the tasks, is
  tested on the session; beside it (``own``) a model trained on all of the
  participant's other sessions, as in ``cross-session``. Together they make
  a learning curve: how much calibration a cohort model needs to match a
  model of the student's own;
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
from eeg4students.names import SCHEMES, TMV_MODELS

LEAKY_SCHEMES = ("shuffled",)
#: The votes an evaluation reports for each TMV model (``tmv-block``, ``tmv-causal``...).
TMV_MODES = ("block", "causal")
TMV_VARIANTS = tuple(f"{m}-{mode}" for m in TMV_MODELS for mode in TMV_MODES)


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


#: Minutes of a new student's labelled data the calibration scheme tries.
CALIBRATION_MINUTES = (0.0, 1.0, 2.0, 5.0)


@dataclass(frozen=True)
class Calibration:
    """A cohort model given the first minutes of a new student's other sessions.

    Parameters
    ----------
    minutes : tuple of float
        Calibration levels (minutes of the student's recordings, shared evenly
        between the tasks; 0 is the cohort alone).
    window : float
        Window length (s): a window counts when it ends inside the level's
        time.
    balance : bool
        Repeat the student's calibration windows until they weigh about as
        much as the cohort's (a whole number of copies; a few minutes of one
        student otherwise drown in hours of everyone else's data). Off:
        each window counts once.
    """

    minutes: tuple[float, ...] = CALIBRATION_MINUTES
    window: float = 2.0
    balance: bool = True

    def split(self, meta: pd.DataFrame, person: str) -> Iterator[tuple[Split, str, float]]:
        """Yield ((train, test), variant, seconds) for every session of ``person``.

        ``variant`` is ``+M min`` for a level (the cohort plus the student's
        calibration windows) or ``own`` (all the student's other sessions);
        ``seconds`` is the calibration recording time the level took (s; the
        other sessions' length when they are shorter than asked, NaN for
        ``own``). Sessions are tested in label order; the calibration windows
        come from the other sessions in order, each task's first seconds.
        """
        people = meta["participant"].to_numpy()
        sessions = meta["session"].to_numpy()
        cohort = np.flatnonzero(people != person)
        mine = people == person
        tasks = np.unique(meta["task"].to_numpy())
        for session in sorted(pd.unique(sessions[mine])):
            test = np.flatnonzero(mine & (sessions == session))
            other = np.flatnonzero(mine & (sessions != session))
            # Time counts from the start of the other sessions: they are the calibration.
            into = _seconds_into_task(meta.iloc[other], self.window)
            for minutes in self.minutes:
                budget = minutes * 60.0 / len(tasks)
                kept = into + self.window <= budget + 1e-9
                seconds = _calibration_seconds(meta.iloc[other[kept]], into[kept], self.window)
                taken = other[kept]
                if self.balance and len(taken):
                    taken = np.repeat(taken, max(1, round(len(cohort) / len(taken))))
                train = np.concatenate([cohort, taken])
                yield (train, test), f"+{minutes:g} min", seconds
            yield (other, test), "own", float("nan")


def _seconds_into_task(meta: pd.DataFrame, window: float) -> np.ndarray:
    """Each window's start (s) counted from the start of its participant's task recordings.

    Blocks of one participant and task follow each other in (session,
    recording, start) order, each taking the time from its first window's
    start to its last window's end (``window`` s after the last start);
    windows lost to artifacts still count as time spent.
    """
    into = np.zeros(len(meta))
    order = meta.sort_values(["participant", "task", "session", "recording", "start"])
    for _, part in order.groupby(["participant", "task"], sort=False):
        offset = 0.0
        for _, block in part.groupby(["session", "recording", "block"], sort=False):
            starts = block["start"].to_numpy(dtype=float)
            first = starts.min()
            positions = meta.index.get_indexer(block.index)
            into[positions] = offset + starts - first
            offset += starts.max() - first + window
    return into


def _calibration_seconds(taken: pd.DataFrame, into: np.ndarray, window: float) -> float:
    """Recording time (s) the calibration windows span, summed over tasks."""
    if not len(taken):
        return 0.0
    ends = pd.Series(into + window, index=taken.index).groupby(taken["task"]).max()
    return float(ends.sum())


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


def choose_scheme(table: pd.DataFrame) -> tuple[str, str]:
    """The honest scheme for a feature table, and why (what ``evaluate --scheme auto`` runs).

    Cross-session when most participants have two or more sessions (a model
    meets a new day), else leave-participant-out with three or more
    participants (a model meets a new person), else time-blocked, which
    overstates accuracy on a new day: train and test windows share one
    recording's electrode contact and drift.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table with ``participant`` and ``session``.

    Returns
    -------
    scheme : str
        One of :data:`SCHEMES`.
    why : str
        A sentence fragment saying why.
    """
    sessions = table.groupby("participant")["session"].nunique()
    people, several = len(sessions), int((sessions >= 2).sum())
    if several and several >= people / 2:
        return "cross-session", (
            f"{several} of {people} participants have two or more sessions: each session is "
            "tested by a model of the participant's other sessions"
        )
    if people >= 3:
        return "loso", (
            f"{people} participants, {people - several} with one session: each participant "
            "is tested by a model of the others"
        )
    return "time-blocked", (
        f"{people} participant(s) with one session each: only parts of the same recordings "
        "can be held out. WARNING: these accuracies overstate how a model does on a new day "
        "(train and test windows share a recording's electrode contact and drift)"
    )


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


def splitter_for(
    scheme: str,
    n_splits: int,
    window: float,
    random_state: int = 0,
    minutes: Sequence[float] = CALIBRATION_MINUTES,
    balance: bool = True,
):
    """Return the splitter of a scheme name (see :data:`SCHEMES`)."""
    if scheme == "calibration":
        return Calibration(tuple(float(m) for m in minutes), window, balance)
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
        names.append(key.rsplit("-", 1)[0] if key in TMV_VARIANTS else key)
    return list(dict.fromkeys(names))


def _folds(meta: pd.DataFrame, scheme: str, splitter) -> Iterator[tuple[str, int, Split, dict]]:
    """Yield (participant, fold, split, extra) with positions into ``meta``.

    ``extra`` holds the calibration scheme's ``variant`` and
    ``calibration_s`` (empty for the other schemes); its fold is the test
    session's position.
    """
    if scheme == "loso":
        for fold, (train, test) in enumerate(splitter.split(meta)):
            yield str(meta["participant"].iloc[test[0]]), fold, (train, test), {}
        return
    if scheme == "calibration":
        for person in sorted(pd.unique(meta["participant"])):
            sessions = sorted(pd.unique(meta.loc[meta["participant"] == person, "session"]))
            if len(sessions) < 2:
                continue
            for split, variant, seconds in splitter.split(meta, person):
                fold = sessions.index(meta["session"].iloc[split[1][0]])
                yield str(person), fold, split, {"variant": variant, "calibration_s": seconds}
        return
    for person, rows in meta.groupby("participant", sort=True).indices.items():
        part = meta.iloc[rows]
        for fold, (train, test) in enumerate(splitter.split(part)):
            yield str(person), fold, (rows[train], rows[test]), {}


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

    def build(name, **extra):
        return make_model(name, random_state=random_state, **extra, **params.get(name, {}))

    tmvs = {}
    if "tmv" in names:
        tmvs["tmv"] = TimeMajorityVoting([("rf", build("rf")), ("svm", build("svm"))], k=k)
    if "tmvts" in names:
        routed = [column_names[i] for i in columns["tmvts"]]
        bases = {name: params.get(name, {}) for name in ("rf", "svm", "tslr")}
        tmvs["tmvts"] = build("tmvts", k=k, feature_columns=routed, base_params=bases)
    for name in wanted:
        start = time.perf_counter()
        fitted[name] = build(name).fit(X[train][:, columns[name]], y[train])
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
            list(feature_columns),
        )
        for person, fold, (train, test), _ in folds
    )
    rows, ranking = [], []
    confusion: dict[tuple[str, str], np.ndarray] = {}
    results = Parallel(n_jobs=n_jobs, return_as="generator")(jobs)
    outcomes = progress_bar(results, total=len(folds), desc=scheme, unit="fold", enabled=progress)
    for (_, _, _, extra), (fold_rows, fold_ranking, fold_confusion, note) in zip(
        folds, outcomes, strict=True
    ):
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
