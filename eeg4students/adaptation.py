"""Unsupervised session adaptation of a feature table.

A model trained on other days meets a new day's contact, impedance and
state offsets. ``session`` adaptation removes them from each session's own
windows, labels unused (the test session's statistics come from its own
unlabelled windows, as they would at the start of a class):

- band powers and other scalar features are standardised: centred and
  scaled by their mean and standard deviation over all windows of that
  participant's session;
- covariance matrices (``cov_`` columns) are re-centred: each session's
  matrices are moved so that their Riemannian mean becomes the identity,
  ``C -> M^-1/2 C M^-1/2`` (Zanini et al. 2018, "Transfer learning: a
  Riemannian geometry framework with applications to brain-computer
  interfaces"); the matrices stay symmetric positive definite.

It assumes a session holds every task in similar amounts, as the
EEG4Students protocol's sessions do; where a session holds one task (many
published datasets record a file per task and day), its mean is the task
itself and standardising erases the signal. :func:`unbalanced_sessions`
names such sessions, and :func:`~eeg4students.evaluation.evaluate` reports
them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from eeg4students.models.riemann import to_matrices, to_triangles, triangle_size

#: Adaptations :func:`adapt_table` knows, and the windows each one pools.
ADAPTATIONS = {"session": ("participant", "session"), "participant": ("participant",)}
#: A session is unbalanced when its most frequent task has more than this many
#: times the windows of its least frequent one, or a task is missing.
BALANCE_RATIO = 3.0


def standardise_sessions(
    table: pd.DataFrame, columns: Sequence[str], by: Sequence[str] = ADAPTATIONS["session"]
) -> pd.DataFrame:
    """Z-score the feature columns within each participant's session.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``participant``, ``session`` and the columns).
    columns : sequence of str
        The feature columns.
    by : sequence of str
        The columns whose groups are standardised apart (a participant's
        session by default; ``("participant",)`` pools their sessions).

    Returns
    -------
    table : pandas.DataFrame
        A copy; a feature constant within a session becomes 0 there.
    """
    out = table.copy()
    columns = list(columns)
    groups = out.groupby(list(by), sort=False)[columns]
    mean = groups.transform("mean")
    std = groups.transform("std", ddof=0).to_numpy()
    centred = out[columns].to_numpy(dtype=float) - mean.to_numpy(dtype=float)
    out[columns] = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
    return out


def recenter_sessions(
    table: pd.DataFrame, columns: Sequence[str], by: Sequence[str] = ADAPTATIONS["session"]
) -> pd.DataFrame:
    """Re-centre the covariance matrices of each participant's session at the identity.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``participant``, ``session`` and the columns).
    columns : sequence of str
        The ``cov_`` columns: each window's covariance as its upper triangle
        with the diagonal, row by row
        (:func:`eeg4students.features.covariance_names`), in uV^2.
    by : sequence of str
        The columns whose groups are re-centred apart (as in
        :func:`standardise_sessions`).

    Returns
    -------
    table : pandas.DataFrame
        A copy whose matrices of every session have the identity as their
        Riemannian mean (unitless).
    """
    from pyriemann.geometry.base import invsqrtm
    from pyriemann.geometry.mean import mean_riemann

    out = table.copy()
    columns = list(columns)
    if not columns:
        return out
    matrices = to_matrices(out[columns].to_numpy(dtype=float))
    for rows in out.groupby(list(by), sort=False).indices.values():
        whiten = invsqrtm(mean_riemann(matrices[rows]))
        matrices[rows] = whiten @ matrices[rows] @ whiten
    out[columns] = to_triangles(matrices)
    return out


def unbalanced_sessions(
    table: pd.DataFrame, by: Sequence[str] = ADAPTATIONS["session"]
) -> list[str]:
    """Sessions whose windows do not cover the tasks evenly, one sentence each.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table (``participant``, ``session``, ``task``).
    by : sequence of str
        The groups adapted apart (a participant's session by default, or a
        participant).

    Returns
    -------
    notes : list of str
    """
    by = list(by)
    tasks = sorted(table["task"].unique())
    counts = table.groupby([*by, "task"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=tasks, fill_value=0)
    notes = []
    for key, row in counts.iterrows():
        key = key if isinstance(key, tuple) else (key,)
        labels = zip(by, key, strict=True)
        name = " ".join(f"session {v}" if col == "session" else str(v) for col, v in labels)
        missing = [t for t in tasks if row[t] == 0]
        present = row[row > 0]
        if missing:
            notes.append(
                f"{name} has no windows of {', '.join(missing)}: its mean is not "
                "task-neutral, so adaptation removes task signal"
            )
        elif present.max() > BALANCE_RATIO * present.min():
            notes.append(
                f"{name} holds {present.max()} windows of {present.idxmax()} but "
                f"{present.min()} of {present.idxmin()}: adaptation leans towards the "
                "larger task"
            )
    return notes


def adapt_table(
    table: pd.DataFrame, columns: Sequence[str], adapt: str | None
) -> tuple[pd.DataFrame, list[str]]:
    """Apply an adaptation by name; return the table and notes on where it may mislead.

    Parameters
    ----------
    table : pandas.DataFrame
        Feature table.
    columns : sequence of str
        The feature columns.
    adapt : str | None
        ``"session"`` (each participant's session apart), ``"participant"``
        (each participant's windows of every session together: the
        reference of a new student rather than of a new day) or None
        (nothing).

    Returns
    -------
    table : pandas.DataFrame
        Scalar columns standardised and covariance columns (``cov_``)
        re-centred, per group.
    notes : list of str

    Raises
    ------
    ValueError
        For an unknown adaptation.
    """
    if adapt is None:
        return table, []
    if adapt not in ADAPTATIONS:
        raise ValueError(f"Unknown adaptation {adapt!r}: use one of {', '.join(ADAPTATIONS)}.")
    # Standardising covariance entries one by one would break the matrices the
    # Riemannian models need; they are re-centred instead.
    covariance = [c for c in columns if str(c).startswith("cov_")]
    scaled = [c for c in columns if not str(c).startswith("cov_")]
    by = ADAPTATIONS[adapt]
    adapted = recenter_sessions(standardise_sessions(table, scaled, by), covariance, by)
    return adapted, unbalanced_sessions(table, by)


class RunningAdaptation:
    """Session adaptation from the windows a live session has given so far.

    The statistics :func:`adapt_table` takes from a whole session are
    estimated as the session goes: a running mean and standard deviation of
    every scalar feature (Welford's algorithm) and a running Riemannian mean
    of the covariance matrices (each new matrix moves the mean ``1/n`` of the
    way along the geodesic towards it). Once the session has ended, the scalar
    statistics equal the offline ones and the running mean is close to the
    offline Riemannian mean. No label is used.

    Parameters
    ----------
    columns : sequence of str
        The model's feature columns, in the order of the feature vectors.
    warmup : int
        Windows to see before adapted features are returned (the first
        statistics are too noisy to use).

    Attributes
    ----------
    n_seen : int
        Windows seen so far.
    """

    def __init__(self, columns: Sequence[str], warmup: int = 10) -> None:
        columns = [str(c) for c in columns]
        covariance = [c.startswith("cov_") for c in columns]
        self.scalar = np.flatnonzero(~np.array(covariance, dtype=bool))
        self.covariance = np.flatnonzero(covariance)
        self.n = triangle_size(len(self.covariance)) if len(self.covariance) else 0
        self.warmup = max(1, int(warmup))
        self.n_seen = 0
        self._mean = np.zeros(len(self.scalar))
        self._m2 = np.zeros(len(self.scalar))
        self._reference = None

    def update(self, x: np.ndarray) -> np.ndarray | None:
        """Add one window to the statistics; return it adapted once warmed up.

        Parameters
        ----------
        x : ndarray, shape (n_features,)
            The window's features, in the order of ``columns``.

        Returns
        -------
        adapted : ndarray, shape (n_features,) | None
            Scalars standardised and the covariance re-centred with the
            statistics including this window; None during the warm-up.
        """
        from pyriemann.geometry.base import invsqrtm
        from pyriemann.geometry.geodesic import geodesic_riemann

        x = np.asarray(x, dtype=float)
        self.n_seen += 1
        out = x.copy()
        if len(self.scalar):
            values = x[self.scalar]
            delta = values - self._mean
            self._mean += delta / self.n_seen
            self._m2 += delta * (values - self._mean)
            std = np.sqrt(self._m2 / self.n_seen)
            centred = values - self._mean
            out[self.scalar] = np.divide(centred, std, out=np.zeros_like(centred), where=std > 0)
        if self.n:
            matrix = to_matrices(x[None, self.covariance])[0]
            if self._reference is None:
                self._reference = matrix
            else:
                self._reference = geodesic_riemann(self._reference, matrix, 1.0 / self.n_seen)
            whiten = invsqrtm(self._reference)
            out[self.covariance] = to_triangles(whiten @ matrix @ whiten)
        return out if self.n_seen > self.warmup else None
