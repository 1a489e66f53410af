"""Cross-validators that respect time, as scikit-learn splitters.

Windows cut from one task block overlap in time and share its electrode
contact and drift, so where they land decides what a score means:

- :class:`TimeBlockedKFold` (the EEG4Students study's scheme): per
  participant, each block is cut into ``n_splits`` contiguous chunks and
  fold ``k`` tests the ``k``-th chunk of every block; training windows that
  overlap a test window in time are dropped (the gap);
- :class:`CrossSession` (the headline for within-person models): per
  participant, train on the other sessions, test on one;
- :class:`LeaveParticipantOut` (models meant for new people);
- :class:`Calibration`: a new student with a little labelled data (a
  learning curve, see the class);
- :class:`ShuffledKFold`: stratified k-fold over shuffled windows. It leaks
  (neighbours of a test window are in training); it exists to show how much.

Each is a scikit-learn cross-validator (``split(X, y, groups)``,
``get_n_splits``), so it can be handed to ``cross_val_score``,
``cross_validate`` or ``GridSearchCV``. Like MOABB's splitters they take the
windows' metadata, here as ``groups``: the feature table itself or its
metadata columns (``participant``, ``session``, ``recording``, ``block``,
``start`` in seconds, ``task``; other columns are ignored), or, for one
column, a 1-D array (participants for :class:`LeaveParticipantOut`,
sessions for :class:`CrossSession`, block ids for :class:`TimeBlockedKFold`
with the rows of a block in time order)::

    cross_val_score(model, X, y, groups=table, cv=TimeBlockedKFold(7, window=2.0))

With a ``participant`` column, the within-person splitters (time-blocked,
cross-session, shuffled) yield each participant's folds in turn, so a model
is trained and tested on one person at a time. :meth:`_Splitter.folds` yields
the same splits with the participant, fold number and (calibration) level,
for :func:`eeg4students.evaluation.evaluate`.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator, Sequence
from typing import ClassVar, NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator, StratifiedKFold

from eeg4students.errors import EEG4StudentsError
from eeg4students.names import SCHEMES


class Fold(NamedTuple):
    """One split of :meth:`_Splitter.folds`.

    Attributes
    ----------
    participant : str | None
        Whose windows are tested (None when the metadata names nobody).
    index : int
        The fold's number within that participant (the test session's
        position for the session-wise splitters).
    train, test : ndarray of int
        Row positions (a calibration train set may repeat rows).
    extra : dict
        The calibration level's ``variant`` and ``calibration_s``.
    """

    participant: str | None
    index: int
    train: np.ndarray
    test: np.ndarray
    extra: dict


class _Splitter(BaseCrossValidator):
    """A cross-validator whose ``groups`` is the windows' metadata."""

    # Routed metadata (scikit-learn's metadata routing) reaches the splitter as ``groups``.
    __metadata_request__split: ClassVar[dict] = {"groups": True}
    #: The metadata column a 1-D ``groups`` stands for.
    _column = "participant"
    #: Columns the splitter needs.
    _needs: tuple[str, ...] = ()

    @abstractmethod
    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        """Yield every fold with its participant and number (rows are positions in ``meta``)."""

    def _metadata(self, X, y, groups) -> pd.DataFrame:
        if groups is None and isinstance(X, pd.DataFrame) and set(self._needs) <= set(X):
            groups = X  # the feature table given as X carries its own metadata
        if groups is None:
            raise ValueError(
                f"{type(self).__name__} needs the windows' metadata as groups= (the feature "
                f"table, or its columns {', '.join(self._needs)})."
            )
        if isinstance(groups, pd.DataFrame):
            meta = groups.reset_index(drop=True)
        else:
            meta = pd.DataFrame({self._column: np.asarray(groups)})
            if self._column == "block":
                # Block ids alone: rows in time order, so a row's position is its time.
                meta["start"] = meta.groupby("block", sort=False).cumcount().astype(float)
        if "task" in self._needs and "task" not in meta and y is not None:
            meta = meta.assign(task=np.asarray(y))
        missing = [c for c in self._needs if c not in meta]
        if missing:
            raise ValueError(
                f"{type(self).__name__} needs the metadata column(s) {', '.join(missing)} in "
                "groups (give the feature table)."
            )
        if X is not None and len(meta) != len(X):
            raise ValueError(f"groups has {len(meta)} rows but X has {len(X)}.")
        return meta

    def split(self, X, y=None, groups=None):
        """Yield (train, test) row positions.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,) | None
        groups : pandas.DataFrame | array-like, shape (n_windows,)
            The windows' metadata (see the module docstring); None takes it
            from ``X`` when ``X`` is the feature table.

        Yields
        ------
        train, test : ndarray of int
        """
        for fold in self.folds(self._metadata(X, y, groups)):
            yield fold.train, fold.test

    def get_n_splits(self, X=None, y=None, groups=None) -> int:
        """The number of splits ``split`` yields for this metadata."""
        return sum(1 for _ in self.folds(self._metadata(X, y, groups)))


def _per_participant(meta: pd.DataFrame) -> Iterator[tuple[str | None, np.ndarray]]:
    """(participant, row positions) of each participant in label order, or (None, all rows)."""
    if "participant" not in meta:
        yield None, np.arange(len(meta))
        return
    for person, rows in meta.groupby("participant", sort=True).indices.items():
        yield str(person), np.asarray(rows)


class TimeBlockedKFold(_Splitter):
    """Fold ``k`` tests the ``k``-th contiguous chunk of every task block.

    Parameters
    ----------
    n_splits : int
        Chunks per block (7 in the study: 42 s blocks in 6 s chunks).
    window : float
        Window length in seconds (in rows when ``groups`` is block ids alone):
        training windows starting less than this before or after a test window
        of the same block are dropped.
    """

    _column = "block"
    _needs = ("block", "start")

    def __init__(self, n_splits: int = 7, window: float = 2.0) -> None:
        self.n_splits = n_splits
        self.window = window

    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        for person, rows in _per_participant(meta):
            part = meta.iloc[rows]
            for k, (train, test) in enumerate(self._chunks(part)):
                yield Fold(person, k, rows[train], rows[test], {})

    def _chunks(self, meta: pd.DataFrame) -> Iterator[tuple[np.ndarray, np.ndarray]]:
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
            yield np.flatnonzero((chunk != k) & ~near), test


class CrossSession(_Splitter):
    """Train on a participant's other sessions, test on one (one fold per session)."""

    _column = "session"
    _needs = ("session",)

    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        for person, rows in _per_participant(meta):
            sessions = meta["session"].to_numpy()[rows]
            for k, session in enumerate(sorted(pd.unique(sessions))):
                yield Fold(person, k, rows[sessions != session], rows[sessions == session], {})


class LeaveParticipantOut(_Splitter):
    """Train on every other participant, test on one (one fold per participant)."""

    _needs = ("participant",)

    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        people = meta["participant"].to_numpy()
        for k, person in enumerate(sorted(pd.unique(people))):
            train, test = np.flatnonzero(people != person), np.flatnonzero(people == person)
            yield Fold(str(person), k, train, test, {})


class ShuffledKFold(_Splitter):
    """Stratified k-fold over shuffled windows, per participant. Leaky: for comparison only."""

    _column = "task"
    _needs = ("task",)

    def __init__(self, n_splits: int = 7, random_state: int = 0) -> None:
        self.n_splits = n_splits
        self.random_state = random_state

    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        folds = StratifiedKFold(self.n_splits, shuffle=True, random_state=self.random_state)
        for person, rows in _per_participant(meta):
            y = meta["task"].to_numpy()[rows]
            for k, (train, test) in enumerate(folds.split(np.zeros(len(y)), y)):
                yield Fold(person, k, rows[train], rows[test], {})


class EvaluationError(EEG4StudentsError, ValueError):
    """An evaluation that cannot run as asked (an unknown scheme, too little data)."""


#: Minutes of a new student's labelled data the calibration scheme tries.
CALIBRATION_MINUTES = (0.0, 1.0, 2.0, 5.0)


class Calibration(_Splitter):
    """A cohort model given the first minutes of a new student's other sessions.

    For every participant with two or more sessions and each of their
    sessions in turn, a model trained on the other participants plus the
    first ``M`` minutes of this participant's other sessions, shared evenly
    between the tasks (level ``+M min``), is tested on the session; beside
    it (``own``) a model trained on all of the participant's other sessions.

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

    _needs = ("participant", "session", "recording", "block", "start", "task")

    def __init__(
        self,
        minutes: tuple[float, ...] = CALIBRATION_MINUTES,
        window: float = 2.0,
        balance: bool = True,
    ) -> None:
        self.minutes = minutes
        self.window = window
        self.balance = balance

    def folds(self, meta: pd.DataFrame) -> Iterator[Fold]:
        """Every level and ``own`` of every session of every participant with two or more.

        ``extra`` holds ``variant`` (``+M min`` or ``own``) and ``calibration_s``
        (the calibration recording time the level took, s; the other sessions'
        length when they are shorter than asked, NaN for ``own``). Sessions are
        tested in label order; the calibration windows come from the other
        sessions in order, each task's first seconds.
        """
        people = meta["participant"].to_numpy()
        sessions = meta["session"].to_numpy()
        tasks = np.unique(meta["task"].to_numpy())
        for person in sorted(pd.unique(people)):
            mine = people == person
            labels = sorted(pd.unique(sessions[mine]))
            if len(labels) < 2:
                continue
            cohort = np.flatnonzero(~mine)
            for index, session in enumerate(labels):
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
                    extra = {"variant": f"+{minutes:g} min", "calibration_s": seconds}
                    yield Fold(str(person), index, np.concatenate([cohort, taken]), test, extra)
                own = {"variant": "own", "calibration_s": float("nan")}
                yield Fold(str(person), index, other, test, own)


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
