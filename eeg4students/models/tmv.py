"""Time Majority Voting (TMV), a meta-estimator over base classifiers.

TMV ranks its base classifiers by inner cross-validated accuracy on the
training data and keeps the top two. At prediction time both label every
window; where they agree the label stands, where they disagree the window
takes the majority label of the top classifier over

- its whole task block (``mode="block"``: block boundaries are known from the
  protocol's cue markers, the block's label is not), or
- the last ``k`` windows up to and including it (``mode="causal"``: usable
  live, as each window arrives).

Ties in a vote keep the top classifier's own label for that window.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

import numpy as np
from sklearn import config_context
from sklearn.base import BaseEstimator, ClassifierMixin, clone
from sklearn.ensemble import RandomForestClassifier
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.pipeline import Pipeline
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

from eeg4students.models._routing import fit_routed, requested
from eeg4students.splitters import TimeBlockedKFold

MODES = ("block", "causal")
#: Batches up to this size go through a forest's trees directly (see ``predict_labels``).
SMALL_BATCH = 16


def predict_labels(estimator, X) -> np.ndarray:
    """Labels from a fitted classifier, quickly for the few windows of live use.

    A Random Forest's ``predict`` dispatches its trees through joblib, which
    costs about 10 ms per call whatever the batch size. For small batches this
    sums the trees' own class probabilities (``tree_.predict``) instead, which
    is what ``predict_proba`` averages, so the labels are the same.
    """
    if isinstance(estimator, RandomForestClassifier) and len(X) <= SMALL_BATCH:
        rows = np.asarray(X, dtype=np.float32)
        total = sum(
            tree.tree_.predict(rows)[:, : estimator.n_classes_] for tree in estimator.estimators_
        )
        return estimator.classes_[np.argmax(total, axis=1)]
    return estimator.predict(X)


def _majority(labels: np.ndarray, fallback):
    """Most frequent label; ``fallback`` when several are equally frequent."""
    values, counts = np.unique(labels, return_counts=True)
    best = np.flatnonzero(counts == counts.max())
    return values[best[0]] if len(best) == 1 else fallback


def vote(
    top: np.ndarray,
    second: np.ndarray,
    *,
    mode: str = "block",
    blocks: Sequence | None = None,
    k: int = 5,
) -> np.ndarray:
    """Combine two classifiers' per-window labels by time majority voting.

    Parameters
    ----------
    top, second : ndarray, shape (n_windows,)
        Labels from the top-ranked and the second classifier, windows in time
        order within each block.
    mode : {"block", "causal"}
        Vote over the window's whole block, or over its last ``k`` windows.
    blocks : sequence, shape (n_windows,) | None
        Block id of every window. None: in block mode every window is its own
        block (so the top classifier decides); in causal mode the windows are
        one sequence.
    k : int
        Causal vote length in windows (the current one included).

    Returns
    -------
    labels : ndarray, shape (n_windows,)
    """
    top, second = np.asarray(top), np.asarray(second)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
    out = top.copy()
    disagree = np.flatnonzero(top != second)
    if not len(disagree):
        return out
    if blocks is None:
        if mode == "block":
            return out
        blocks = np.zeros(len(top), dtype=int)
    blocks = np.asarray(blocks)
    if mode == "block":
        majority = {}
        for block in np.unique(blocks[disagree]):
            members = top[blocks == block]
            majority[block] = _majority(members, None)
        for i in disagree:
            label = majority[blocks[i]]
            out[i] = top[i] if label is None else label
        return out
    for i in disagree:
        start = max(0, i - k + 1)
        history = top[start : i + 1][blocks[start : i + 1] == blocks[i]]
        out[i] = _majority(history, top[i])
    return out


class TimeMajorityVoting(ClassifierMixin, BaseEstimator):
    """Time Majority Voting over the two best of several base classifiers.

    Parameters
    ----------
    estimators : list of (str, estimator) | None
        Candidate base classifiers. None uses Random Forest (300 trees) and
        RBF SVM with standardisation, as in the EEG4Students study.
    mode : {"block", "causal"}
        Default voting mode of :meth:`predict`.
    k : int
        Causal vote length in windows.
    cv : int
        Folds of the inner cross-validation that ranks the bases. With
        ``groups`` (block ids) given to :meth:`fit` the folds are time-blocked
        (:class:`~eeg4students.splitters.TimeBlockedKFold` on the block ids:
        contiguous chunks of every block, with the overlapping neighbours
        dropped), so a base is never ranked on windows that overlap its
        training windows. Under scikit-learn's metadata routing ``groups`` is
        requested as ``blocks``, and bases that request blocks get them.
    n_jobs : int | None
        Parallel jobs for the inner cross-validation.
    rank_trees : int | None
        Trees of a Random Forest base while it is ranked (its final fit keeps
        its own number): the ranking only orders the bases, and a forest's
        accuracy settles long before 300 trees, so ranking with 100 costs a
        third. None ranks every base exactly as given.

    Attributes
    ----------
    classes_ : ndarray
        The class labels.
    scores_ : dict of str to float
        Inner cross-validated accuracy of every base.
    ranking_ : list of str
        Base names from best to worst.
    estimators_ : list of estimator
        The top two bases, refitted on all the training data.
    """

    # Under metadata routing, fit's ``groups`` are the windows' task blocks.
    __metadata_request__fit: ClassVar[dict] = {"groups": "blocks"}

    def __init__(self, estimators=None, mode="block", k=5, cv=2, n_jobs=None, rank_trees=100):
        self.estimators = estimators
        self.mode = mode
        self.k = k
        self.cv = cv
        self.n_jobs = n_jobs
        self.rank_trees = rank_trees

    def _bases(self) -> list[tuple[str, BaseEstimator]]:
        if self.estimators is not None:
            return list(self.estimators)
        from eeg4students.models import make_model

        return [("rf", make_model("rf")), ("svm", make_model("svm"))]

    def fit(self, X, y, groups=None, prefitted=None):
        """Rank the bases by inner cross-validation and fit the top two.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
            Features.
        y : array-like, shape (n_windows,)
            Task labels.
        groups : array-like, shape (n_windows,) | None
            Block id of every window, to keep blocks whole in the inner folds.
        prefitted : dict of str to estimator | None
            Bases already fitted on exactly these ``X`` and ``y`` (by name), used
            as they are instead of being refitted: an evaluation that also
            scores the bases alone fits each of them once.

        Returns
        -------
        self : TimeMajorityVoting
        """
        X, y = validate_data(self, X, y)
        check_classification_targets(y)
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {self.mode!r}")
        bases = self._bases()
        if len(bases) < 2:
            raise ValueError("TimeMajorityVoting needs at least two base estimators.")
        self.classes_ = np.unique(y)
        splitter = self._inner_cv(y, groups)
        scores = {}
        for name, base in bases:
            if splitter is None:
                scores[name] = float("nan")
                continue
            ranked = self._ranked(base)
            params = {"blocks": groups} if requested(ranked, blocks=groups) else {}
            with config_context(enable_metadata_routing=True):
                accuracy = cross_val_score(
                    ranked, X, y, cv=splitter, n_jobs=self.n_jobs, params=params
                )
            scores[name] = float(accuracy.mean())
        # Stable ranking: equal (or unknown) scores keep the given order.
        order = sorted(
            range(len(bases)), key=lambda i: (-np.nan_to_num(scores[bases[i][0]], nan=-1), i)
        )
        self.scores_ = scores
        self.ranking_ = [bases[i][0] for i in order]
        prefitted = prefitted or {}
        self.estimators_ = [
            prefitted[bases[i][0]]
            if bases[i][0] in prefitted
            else fit_routed(clone(bases[i][1]), X, y, blocks=groups)
            for i in order[:2]
        ]
        return self

    def _ranked(self, base: BaseEstimator) -> BaseEstimator:
        """The unfitted copy of a base that is ranked: a forest with ``rank_trees`` trees."""
        ranked = clone(base)
        # A forest alone, or as the last step of a pipeline (after a column picker).
        forest, prefix = ranked, ""
        if isinstance(ranked, Pipeline):
            forest, prefix = ranked.steps[-1][1], f"{ranked.steps[-1][0]}__"
        if (
            self.rank_trees is not None
            and isinstance(forest, RandomForestClassifier)
            and forest.n_estimators > self.rank_trees
        ):
            ranked.set_params(**{f"{prefix}n_estimators": self.rank_trees})
        return ranked

    def _inner_cv(self, y, groups):
        """Inner folds: chunks of every block if blocks are known, else stratified.

        Returns None when there is too little data to cross-validate.
        """
        if groups is not None:
            sizes = np.unique(groups, return_counts=True)[1]
            if sizes.min() < self.cv + 2:
                return None
            # Block ids alone count time in windows: a window of 2 drops one neighbour a side.
            return list(TimeBlockedKFold(self.cv, window=2).split(None, y, groups))
        smallest = np.unique(y, return_counts=True)[1].min()
        n_splits = min(self.cv, smallest)
        return StratifiedKFold(n_splits=n_splits) if n_splits >= 2 else None

    def predict_bases(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Labels of the top and the second base, shape (n_windows,) each."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False)
        return predict_labels(self.estimators_[0], X), predict_labels(self.estimators_[1], X)

    def predict(self, X, blocks=None, mode=None):
        """Predict task labels by time majority voting.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
            Features, windows in time order within each block.
        blocks : array-like, shape (n_windows,) | None
            Block id of every window (see :func:`vote`).
        mode : {"block", "causal"} | None
            Override the estimator's ``mode``.

        Returns
        -------
        labels : ndarray, shape (n_windows,)
        """
        top, second = self.predict_bases(X)
        return vote(top, second, mode=mode or self.mode, blocks=blocks, k=self.k)


class CausalVoter:
    """Causal TMV for a live stream: one window at a time.

    Parameters
    ----------
    model : TimeMajorityVoting
        A fitted model.
    k : int | None
        Vote length in windows; None uses ``model.k``.
    """

    def __init__(self, model: TimeMajorityVoting, k: int | None = None) -> None:
        check_is_fitted(model)
        self.model = model
        self.k = k or model.k
        self.history: list = []

    def reset(self) -> None:
        """Forget the history (a new task block starts)."""
        self.history = []

    def update(self, x) -> tuple:
        """Label the newest window.

        Parameters
        ----------
        x : array-like, shape (n_features,)
            The newest window's features.

        Returns
        -------
        label, top, second
            The TMV label and the two bases' labels.
        """
        top, second = self.model.predict_bases(np.asarray(x, dtype=float)[None, :])
        self.history = [*self.history[-(self.k - 1) :], top[0]] if self.k > 1 else [top[0]]
        if top[0] == second[0]:
            return top[0], top[0], second[0]
        return _majority(np.asarray(self.history), top[0]), top[0], second[0]
