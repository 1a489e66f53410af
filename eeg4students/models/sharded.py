"""Models trained so that each participant influences only a part of them.

Forgetting a participant then refits that part alone, and the result is
exactly the model that would have been trained from the start without them
(same seeds, same assignment).

- :class:`ShardedForest` (Random Forest): each participant's windows are seen
  by a fraction ``q`` of the trees, chosen from the participant's label and
  the seed before training. Tree ``t`` is grown on the windows of the
  participants assigned to it (bootstrap and feature sampling seeded by
  ``t``). Forgetting regrows only the trees that saw the participant:
  about ``q`` of the forest. Each tree sees about ``q x n_participants``
  participants: small ``q`` forgets faster but grows trees on less data.
- :class:`SISAEnsemble` (RBF SVM and the others): participants are split
  into ``n_shards`` disjoint shards (by label and seed); one model per shard;
  prediction is the majority vote of the shards (ties: the first class).
  Forgetting refits one shard: about ``1 / n_shards`` of the work. More
  shards forget faster but each model sees less data.
- :class:`UnlearnableTMV`: Time Majority Voting over a sharded forest and a
  SISA SVM. Its bases are ranked by out-of-participant accuracy: every
  participant's windows are predicted by the trees or shards that never saw
  them, which costs predictions only and is recomputed after forgetting.

All three are scikit-learn classifiers that take the participant of every
window as ``groups`` at fit (without ``groups`` every window counts as its
own participant) and offer ``forget(participant, X, y, groups)`` given the
remaining training windows in the same row order; forgetting a participant
the model never saw raises ``ValueError``.
"""

from __future__ import annotations

import hashlib
from typing import ClassVar

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from eeg4students.models.tmv import TimeMajorityVoting


def _stable(seed: int, label: str) -> int:
    """A seed from a participant label that does not depend on Python's hash salt."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _participants(groups, n: int) -> np.ndarray:
    """Participant label of every window as text; each window its own without groups."""
    if groups is None:
        return np.array([f"row{i}" for i in range(n)])
    groups = np.asarray(groups).astype(str)
    if groups.shape != (n,):
        raise ValueError(f"groups must hold one participant per window ({n}), not {groups.shape}.")
    return groups


def _vote_proba(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Vote shares per class (n_windows, n_classes) from labels (n_models, n_windows)."""
    return np.stack([(labels == c).mean(axis=0) for c in classes], axis=1)


class ParticipantUnlearning:
    """What the sharded models share: a participant's influence can be removed exactly.

    Subclasses set ``participants_`` at fit (the participants they saw) and
    implement ``forget``. Under scikit-learn's metadata routing, fit's
    ``groups`` are requested as ``participants``.
    """

    __metadata_request__fit: ClassVar[dict] = {"groups": "participants"}

    def _check_known(self, participant: str) -> str:
        check_is_fitted(self)
        participant = str(participant)
        if participant not in self.participants_:
            raise ValueError(
                f"The model never saw participant {participant!r}; it saw "
                f"{len(self.participants_)} participants."
            )
        return participant


class ShardedForest(ParticipantUnlearning, ClassifierMixin, BaseEstimator):
    """Random Forest whose trees each see only some participants.

    Parameters
    ----------
    n_estimators : int
        Number of trees.
    q : float
        Fraction of the trees that see each participant (0 < q <= 1).
    max_features : str | int | float
        Features tried at each split (as in Random Forest).
    random_state : int
        Seed of the assignment and of every tree.
    n_jobs : int | None
        Trees grown in parallel (threads).

    Attributes
    ----------
    classes_ : ndarray
    participants_ : list of str
        The participants the forest was trained on (after forgetting: still holds).
    assignment_ : dict of str to ndarray
        Trees that saw each participant.
    estimators_ : list of DecisionTreeClassifier | None
        One per tree; None for a tree that no participant was assigned to.
        Trees learn class indices into ``classes_`` (``encoded_``).
    encoded_ : bool
        True (absent in forests saved before trees learned indices).
    """

    def __init__(self, n_estimators=300, q=0.25, max_features="sqrt", random_state=0, n_jobs=None):
        self.n_estimators = n_estimators
        self.q = q
        self.max_features = max_features
        self.random_state = random_state
        self.n_jobs = n_jobs

    def trees_of(self, participant: str) -> np.ndarray:
        """Indices of the trees that see ``participant`` (fixed by label and seed)."""
        k = max(1, round(self.q * self.n_estimators))
        rng = np.random.default_rng(_stable(self.random_state, str(participant)))
        return np.sort(rng.choice(self.n_estimators, size=k, replace=False))

    def _grow(self, t: int, X, y, rows: np.ndarray):
        if not len(rows):
            return None
        rng = np.random.default_rng([self.random_state, t])
        sample = rows[rng.integers(0, len(rows), len(rows))]
        tree = DecisionTreeClassifier(max_features=self.max_features, random_state=int(t))
        return tree.fit(X[sample], y[sample])

    def _rows_per_tree(self, participants: np.ndarray) -> list[np.ndarray]:
        members = [[] for _ in range(self.n_estimators)]
        for person in np.unique(participants):
            for t in self.trees_of(person):
                members[t].append(person)
        return [np.flatnonzero(np.isin(participants, m)) for m in members]

    def fit(self, X, y, groups=None):
        """Grow every tree on the windows of its participants.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,)
        groups : array-like, shape (n_windows,) | None
            Participant label of every window.

        Returns
        -------
        self : ShardedForest
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        participants = _participants(groups, len(X))
        if not 0 < self.q <= 1:
            raise ValueError(f"q must be in (0, 1], not {self.q}")
        self.classes_ = np.unique(y)
        # Trees learn class indices: the same trees as on the labels (sklearn encodes
        # them so anyway), without each tree re-checking an array of strings.
        self.encoded_ = True
        codes = np.searchsorted(self.classes_, y)
        self.participants_ = sorted(np.unique(participants).tolist())
        self.assignment_ = {p: self.trees_of(p) for p in self.participants_}
        rows = self._rows_per_tree(participants)
        self.estimators_ = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._grow)(t, X, codes, rows[t]) for t in range(self.n_estimators)
        )
        return self

    def forget(self, participant: str, X, y, groups):
        """Regrow the trees that saw ``participant`` from the remaining windows.

        Parameters
        ----------
        participant : str
            Who to forget.
        X, y, groups : array-like
            The remaining training windows (without ``participant``), in the
            same order as at fit, and their participants.

        Returns
        -------
        self : ShardedForest

        Raises
        ------
        ValueError
            If the forest never saw ``participant``.
        """
        participant = self._check_known(participant)
        X, y = validate_data(self, X, y, dtype=np.float64, reset=False)
        participants = _participants(groups, len(X))
        affected = self.assignment_.pop(participant)
        self.participants_ = [p for p in self.participants_ if p != participant]
        rows = self._rows_per_tree(participants)
        if getattr(self, "encoded_", False):
            unknown = ~np.isin(y, self.classes_)
            if unknown.any():
                raise ValueError(f"y holds labels the forest was not fitted on: {y[unknown][:3]}")
            y = np.searchsorted(self.classes_, y)
        grown = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._grow)(t, X, y, rows[t]) for t in affected
        )
        for t, tree in zip(affected, grown, strict=True):
            self.estimators_[t] = tree
        return self

    def _tree_proba(self, tree, X) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)))
        if getattr(self, "encoded_", False):
            columns = tree.classes_.astype(np.intp)
        else:  # saved by versions whose trees learned the labels themselves
            columns = np.searchsorted(self.classes_, tree.classes_)
        proba[:, columns] = tree.predict_proba(X)
        return proba

    def predict_proba(self, X, trees=None):
        """Mean class probability over the (given) trees, shape (n_windows, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        chosen = range(self.n_estimators) if trees is None else trees
        total, count = np.zeros((len(X), len(self.classes_))), 0
        for t in chosen:
            if self.estimators_[t] is not None:
                total += self._tree_proba(self.estimators_[t], X)
                count += 1
        return total / max(count, 1)

    def predict(self, X):
        """Most probable class per window."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def out_of_participant_score(self, X, y, groups) -> float:
        """Accuracy on each participant's windows by the trees that never saw them.

        Parameters
        ----------
        X, y, groups : array-like
            Training windows, labels and participants.

        Returns
        -------
        accuracy : float
            NaN when every tree saw every participant (q = 1).
        """
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        y = np.asarray(y)
        participants = _participants(groups, len(X))
        seen_by = [set() for _ in range(self.n_estimators)]
        for person, trees in self.assignment_.items():
            for t in trees:
                seen_by[t].add(person)
        total = np.zeros((len(X), len(self.classes_)))
        count = np.zeros(len(X))
        for t, tree in enumerate(self.estimators_):
            unseen = ~np.isin(participants, list(seen_by[t]))
            if tree is not None and unseen.any():
                total[unseen] += self._tree_proba(tree, X[unseen])
                count[unseen] += 1
        judged = count > 0
        if not judged.any():
            return float("nan")
        predicted = self.classes_[np.argmax(total[judged], axis=1)]
        return float(np.mean(predicted == y[judged]))


class SISAEnsemble(ParticipantUnlearning, ClassifierMixin, BaseEstimator):
    """One model per disjoint shard of participants, majority vote.

    Parameters
    ----------
    estimator : estimator | None
        The model of each shard; None uses the RBF SVM with standardisation.
    n_shards : int
        Number of shards.
    random_state : int
        Seed of the participant-to-shard assignment.

    Attributes
    ----------
    classes_ : ndarray
    participants_ : list of str
    shard_of_ : dict of str to int
        Shard of each participant.
    estimators_ : list of estimator | None
        One per shard (None for an empty shard or one with a single class).
    """

    def __init__(self, estimator=None, n_shards=4, random_state=0):
        self.estimator = estimator
        self.n_shards = n_shards
        self.random_state = random_state

    def shard_of(self, participant: str) -> int:
        """Shard of a participant (fixed by label and seed)."""
        return _stable(self.random_state, str(participant)) % self.n_shards

    def _fit_shard(self, s: int, X, y, participants):
        rows = np.flatnonzero([self.shard_of(p) == s for p in participants])
        if not len(rows) or len(np.unique(y[rows])) < 2:
            return None
        base = self.estimator if self.estimator is not None else _default_svm()
        return clone(base).fit(X[rows], y[rows])

    def fit(self, X, y, groups=None):
        """Fit one model per shard of participants.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,)
        groups : array-like, shape (n_windows,) | None
            Participant label of every window.

        Returns
        -------
        self : SISAEnsemble

        Raises
        ------
        ValueError
            If no shard holds two classes (nothing to learn).
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if self.n_shards < 1:
            raise ValueError(f"n_shards must be at least 1, not {self.n_shards}")
        participants = _participants(groups, len(X))
        self.classes_ = np.unique(y)
        self.participants_ = sorted(np.unique(participants).tolist())
        self.shard_of_ = {p: self.shard_of(p) for p in self.participants_}
        self.estimators_ = Parallel()(
            delayed(self._fit_shard)(s, X, y, participants) for s in range(self.n_shards)
        )
        if not self._live():
            raise ValueError(
                "No shard holds more than one class; SISAEnsemble needs two classes in a shard "
                "(use fewer shards)."
            )
        return self

    def forget(self, participant: str, X, y, groups):
        """Refit the shard that held ``participant`` from its remaining windows.

        Raises
        ------
        ValueError
            If the ensemble never saw ``participant``.
        """
        participant = self._check_known(participant)
        X, y = validate_data(self, X, y, dtype=np.float64, reset=False)
        participants = _participants(groups, len(X))
        shard = self.shard_of_.pop(participant)
        self.participants_ = [p for p in self.participants_ if p != participant]
        self.estimators_[shard] = self._fit_shard(shard, X, y, participants)
        return self

    def _labels(self, X, shards) -> np.ndarray:
        return np.stack([self.estimators_[s].predict(X) for s in shards])

    def _live(self, exclude: int | None = None) -> list[int]:
        return [s for s, e in enumerate(self.estimators_) if e is not None and s != exclude]

    def predict_proba(self, X):
        """Share of shard votes per class, shape (n_windows, n_classes)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return _vote_proba(self.classes_, self._labels(X, self._live()))

    def predict(self, X):
        """Majority label of the shards (ties: the first class), as ``predict_proba`` says."""
        proba = self.predict_proba(X)
        return self.classes_[np.argmax(proba, axis=1)]

    def out_of_participant_score(self, X, y, groups) -> float:
        """Accuracy on each participant's windows by the shards that never saw them."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        y = np.asarray(y)
        participants = _participants(groups, len(X))
        correct = []
        for person in np.unique(participants):
            others = self._live(exclude=self.shard_of(person))
            rows = participants == person
            if others:
                votes = _vote_proba(self.classes_, self._labels(X[rows], others))
                correct.append(self.classes_[np.argmax(votes, axis=1)] == y[rows])
        return float(np.concatenate(correct).mean()) if correct else float("nan")


def _default_svm():
    return make_pipeline(StandardScaler(), SVC(kernel="rbf"))


class UnlearnableTMV(ParticipantUnlearning, TimeMajorityVoting):
    """Time Majority Voting over sharded bases, ranked by out-of-participant accuracy.

    Parameters
    ----------
    estimators : list of (str, estimator) | None
        Sharded bases (:class:`ShardedForest`, :class:`SISAEnsemble`); None
        uses a sharded forest and a SISA RBF SVM.
    mode, k : see :class:`~eeg4students.models.TimeMajorityVoting`

    Notes
    -----
    ``groups`` at fit are participants (as for the other sharded models),
    not task blocks: the bases are ranked across participants.
    """

    # Its groups are participants (as for the other sharded models), not blocks.
    __metadata_request__fit: ClassVar[dict] = {"groups": "participants"}

    def __init__(self, estimators=None, mode="block", k=5):
        self.estimators = estimators
        self.mode = mode
        self.k = k

    def _bases(self):
        if self.estimators is not None:
            return list(self.estimators)
        return [("rf", ShardedForest()), ("svm", SISAEnsemble())]

    def fit(self, X, y, groups=None):
        """Fit the sharded bases on the participants in ``groups`` and rank them.

        Returns
        -------
        self : UnlearnableTMV
        """
        X, y = validate_data(self, X, y, dtype=np.float64)
        check_classification_targets(y)
        if self.mode not in ("block", "causal"):
            raise ValueError(f"mode must be 'block' or 'causal', not {self.mode!r}")
        participants = _participants(groups, len(X))
        bases = self._bases()
        if len(bases) < 2:
            raise ValueError("UnlearnableTMV needs at least two base estimators.")
        self.classes_ = np.unique(y)
        self.participants_ = sorted(np.unique(participants).tolist())
        self.bases_ = [(name, clone(base).fit(X, y, groups=participants)) for name, base in bases]
        self._rank(X, y, participants)
        return self

    def _rank(self, X, y, participants) -> None:
        self.scores_ = {
            name: base.out_of_participant_score(X, y, participants) for name, base in self.bases_
        }
        # A base that cannot be judged (NaN) ranks last; ties keep the given order.
        order = sorted(
            range(len(self.bases_)),
            key=lambda i: (-np.nan_to_num(self.scores_[self.bases_[i][0]], nan=-1), i),
        )
        self.ranking_ = [self.bases_[i][0] for i in order]
        self.estimators_ = [self.bases_[i][1] for i in order[:2]]

    def forget(self, participant: str, X, y, groups):
        """Make every base forget ``participant``, then rank them again.

        Raises
        ------
        ValueError
            If the model never saw ``participant``.
        """
        participant = self._check_known(participant)
        X, y = validate_data(self, X, y, dtype=np.float64, reset=False)
        participants = _participants(groups, len(X))
        for _, base in self.bases_:
            base.forget(participant, X, y, participants)
        self.participants_ = [p for p in self.participants_ if p != participant]
        self._rank(X, y, participants)
        return self
