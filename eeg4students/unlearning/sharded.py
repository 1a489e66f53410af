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
  prediction is the majority vote of the shards (ties: the first shard's
  label in shard order). Forgetting refits one shard: about ``1 / n_shards``
  of the work. More shards forget faster but each model sees less data.
- :class:`UnlearnableTMV`: Time Majority Voting over a sharded forest and a
  SISA SVM. Its bases are ranked by out-of-participant accuracy: every
  participant's windows are predicted by the trees or shards that never saw
  them, which costs predictions only and is recomputed after forgetting.

All three take the participant of every window at fit (``participants=``)
and offer ``forget(participant, X, y, participants)`` given the remaining
training data in the same row order.
"""

from __future__ import annotations

import hashlib

import numpy as np
from joblib import Parallel, delayed
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.tree import DecisionTreeClassifier
from sklearn.utils.validation import check_is_fitted

from eeg4students.models.tmv import TimeMajorityVoting


def _stable(seed: int, label: str) -> int:
    """A seed from a participant label that does not depend on Python's hash salt."""
    digest = hashlib.sha256(f"{seed}:{label}".encode()).digest()
    return int.from_bytes(digest[:8], "little")


def _check_participants(participants, n: int) -> np.ndarray:
    if participants is None:
        raise ValueError("Sharded models need the participant of every window (participants=).")
    participants = np.asarray(participants).astype(str)
    if len(participants) != n:
        raise ValueError("participants must have one entry per window.")
    return participants


def _vote_proba(classes: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Vote shares per class (n_windows, n_classes) from labels (n_models, n_windows)."""
    return np.stack([(labels == c).mean(axis=0) for c in classes], axis=1)


class ShardedForest(ClassifierMixin, BaseEstimator):
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
    assignment_ : dict of str to ndarray
        Trees that saw each participant.
    estimators_ : list of DecisionTreeClassifier | None
        One per tree; None for a tree that no participant was assigned to.
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

    def fit(self, X, y, participants=None):
        """Grow every tree on the windows of its participants.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,)
        participants : array-like, shape (n_windows,)
            Participant label of every window.

        Returns
        -------
        self : ShardedForest
        """
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
        if not 0 < self.q <= 1:
            raise ValueError(f"q must be in (0, 1], not {self.q}")
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.assignment_ = {p: self.trees_of(p) for p in np.unique(participants)}
        rows = self._rows_per_tree(participants)
        self.estimators_ = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._grow)(t, X, y, rows[t]) for t in range(self.n_estimators)
        )
        return self

    def forget(self, participant: str, X, y, participants):
        """Regrow the trees that saw ``participant`` from the remaining windows.

        Parameters
        ----------
        participant : str
            Who to forget.
        X, y, participants : array-like
            The remaining training windows (without ``participant``), in the
            same order as at fit.

        Returns
        -------
        self : ShardedForest
        """
        check_is_fitted(self)
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
        affected = self.assignment_.pop(str(participant), np.array([], dtype=int))
        rows = self._rows_per_tree(participants)
        grown = Parallel(n_jobs=self.n_jobs, prefer="threads")(
            delayed(self._grow)(t, X, y, rows[t]) for t in affected
        )
        for t, tree in zip(affected, grown, strict=True):
            self.estimators_[t] = tree
        return self

    def _tree_proba(self, tree, X) -> np.ndarray:
        proba = np.zeros((len(X), len(self.classes_)))
        columns = np.searchsorted(self.classes_, tree.classes_)
        proba[:, columns] = tree.predict_proba(X)
        return proba

    def predict_proba(self, X, trees=None):
        """Mean class probability over the (given) trees, shape (n_windows, n_classes)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        chosen = range(self.n_estimators) if trees is None else trees
        total, count = np.zeros((len(X), len(self.classes_))), 0
        for t in chosen:
            if self.estimators_[t] is not None:
                total += self._tree_proba(self.estimators_[t], X)
                count += 1
        return total / max(count, 1)

    def predict(self, X):
        """Most probable class per window."""
        return self.classes_[np.argmax(self.predict_proba(X), axis=1)]

    def out_of_participant_score(self, X, y, participants) -> float:
        """Accuracy on each participant's windows by the trees that never saw them.

        Parameters
        ----------
        X, y, participants : array-like
            Training windows, labels and participants.

        Returns
        -------
        accuracy : float
            NaN when every tree saw every participant (q = 1).
        """
        check_is_fitted(self)
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
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


class SISAEnsemble(ClassifierMixin, BaseEstimator):
    """One model per disjoint shard of participants, majority vote.

    Parameters
    ----------
    estimator : estimator
        The model of each shard (e.g. the RBF SVM pipeline).
    n_shards : int
        Number of shards.
    random_state : int
        Seed of the participant-to-shard assignment.

    Attributes
    ----------
    classes_ : ndarray
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
        return clone(self.estimator).fit(X[rows], y[rows])

    def fit(self, X, y, participants=None):
        """Fit one model per shard of participants.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : array-like, shape (n_windows,)
        participants : array-like, shape (n_windows,)
            Participant label of every window.

        Returns
        -------
        self : SISAEnsemble
        """
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.shard_of_ = {p: self.shard_of(p) for p in np.unique(participants)}
        self.estimators_ = Parallel()(
            delayed(self._fit_shard)(s, X, y, participants) for s in range(self.n_shards)
        )
        return self

    def forget(self, participant: str, X, y, participants):
        """Refit the shard that held ``participant`` from its remaining windows."""
        check_is_fitted(self)
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
        shard = self.shard_of_.pop(str(participant), None)
        if shard is not None:
            self.estimators_[shard] = self._fit_shard(shard, X, y, participants)
        return self

    def _labels(self, X, shards) -> np.ndarray:
        return np.stack([self.estimators_[s].predict(X) for s in shards])

    def _live(self, exclude: int | None = None) -> list[int]:
        return [s for s, e in enumerate(self.estimators_) if e is not None and s != exclude]

    def predict_proba(self, X):
        """Share of shard votes per class, shape (n_windows, n_classes)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        return _vote_proba(self.classes_, self._labels(X, self._live()))

    def predict(self, X):
        """Majority label of the shards (ties: the earliest shard's label)."""
        check_is_fitted(self)
        X = np.asarray(X, dtype=float)
        labels = self._labels(X, self._live())
        votes = _vote_proba(self.classes_, labels)
        best = votes.max(axis=1, keepdims=True)
        out = labels[0].copy()
        for i in range(len(X)):
            tied = set(self.classes_[votes[i] == best[i]])
            out[i] = next(label for label in labels[:, i] if label in tied)
        return out

    def out_of_participant_score(self, X, y, participants) -> float:
        """Accuracy on each participant's windows by the shards that never saw them."""
        check_is_fitted(self)
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        participants = _check_participants(participants, len(X))
        correct = []
        for person in np.unique(participants):
            others = self._live(exclude=self.shard_of(person))
            rows = participants == person
            if others:
                votes = _vote_proba(self.classes_, self._labels(X[rows], others))
                correct.append(self.classes_[np.argmax(votes, axis=1)] == y[rows])
        return float(np.concatenate(correct).mean()) if correct else float("nan")


class UnlearnableTMV(TimeMajorityVoting):
    """Time Majority Voting over sharded bases, ranked by out-of-participant accuracy.

    Parameters
    ----------
    estimators : list of (str, estimator)
        Sharded bases (:class:`ShardedForest`, :class:`SISAEnsemble`).
    mode, k : see :class:`~eeg4students.models.TimeMajorityVoting`
    """

    def __init__(self, estimators=None, mode="block", k=5):
        super().__init__(estimators=estimators, mode=mode, k=k)

    def fit(self, X, y, groups=None, prefitted=None, participants=None):
        """Fit the sharded bases and rank them (``groups`` is accepted and unused)."""
        X, y = np.asarray(X, dtype=float), np.asarray(y)
        self.classes_ = np.unique(y)
        self.n_features_in_ = X.shape[1]
        self.bases_ = [
            (name, clone(base).fit(X, y, participants=participants))
            for name, base in self.estimators
        ]
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

    def forget(self, participant: str, X, y, participants):
        """Make every base forget ``participant``, then rank them again."""
        for _, base in self.bases_:
            base.forget(participant, X, y, participants)
        self._rank(X, y, participants)
        return self
