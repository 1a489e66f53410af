"""Riemannian pipelines (pyRiemann) on the windows' spatial covariance matrices.

The feature table holds each window's covariance as the flattened upper
triangle (``cov_<a>_<b>`` columns, see :func:`eeg4students.features.covariance_names`);
:class:`CovarianceColumns` turns those columns back into symmetric positive
definite matrices, so the pipelines take the same table as every other
model:

- ``tslr``: tangent space at the Riemannian mean of the training matrices,
  then logistic regression (Barachant et al. 2012);
- ``mdm``: minimum distance to each class's Riemannian mean.
"""

from __future__ import annotations

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.validation import check_is_fitted, validate_data


def triangle_size(m: int) -> int:
    """The size n of square matrices whose upper triangles (with the diagonal) have m entries.

    Raises
    ------
    ValueError
        If m is not n(n+1)/2 for a whole n >= 1.
    """
    n = int(round((np.sqrt(8 * m + 1) - 1) / 2))
    if n * (n + 1) // 2 != m or m == 0:
        raise ValueError(
            f"{m} covariance columns are not the upper triangle of a square matrix; "
            "compute features with covariance=True (features --covariance)."
        )
    return n


def to_matrices(values: np.ndarray) -> np.ndarray:
    """Symmetric matrices from upper triangles.

    Parameters
    ----------
    values : ndarray, shape (n_windows, n * (n + 1) / 2)
        Each row a matrix's upper triangle with the diagonal, row by row
        (:func:`eeg4students.features.covariance_names`).

    Returns
    -------
    matrices : ndarray, shape (n_windows, n, n)
    """
    values = np.asarray(values, dtype=float)
    n = triangle_size(values.shape[1])
    upper = np.triu_indices(n)
    out = np.zeros((len(values), n, n))
    out[:, upper[0], upper[1]] = values
    out[:, upper[1], upper[0]] = values
    return out


def to_triangles(matrices: np.ndarray) -> np.ndarray:
    """Upper triangles (with the diagonal, row by row) of matrices (n_windows, n, n)."""
    upper = np.triu_indices(matrices.shape[-1])
    return matrices[..., upper[0], upper[1]]


class PickColumns(TransformerMixin, BaseEstimator):
    """Keep some columns of X, by position (routes a feature table's columns to a model).

    Parameters
    ----------
    columns : list of int | None
        Positions to keep, in order; None keeps every column.

    Attributes
    ----------
    n_features_in_ : int
        Columns of the X seen in fit.
    """

    def __init__(self, columns=None):
        self.columns = columns

    def fit(self, X, y=None):
        """Check X and the positions.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : ignored

        Returns
        -------
        self : PickColumns
        """
        X = validate_data(self, X, dtype=np.float64)
        if self.columns is not None and any(not 0 <= int(c) < X.shape[1] for c in self.columns):
            raise ValueError(
                f"Column positions {self.columns} do not fit X with n_features = {X.shape[1]}."
            )
        return self

    def transform(self, X) -> np.ndarray:
        """The kept columns, shape (n_windows, n_kept)."""
        check_is_fitted(self, "n_features_in_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return X if self.columns is None else X[:, [int(c) for c in self.columns]]


class CovarianceColumns(TransformerMixin, BaseEstimator):
    """Rebuild covariance matrices from flattened upper-triangle columns.

    Parameters
    ----------
    columns : list of int | None
        Positions of the ``cov_`` columns in X, in the order of
        :func:`~eeg4students.features.covariance_names`; None takes every
        column.

    Attributes
    ----------
    n_channels_ : int
        The matrices' size.
    """

    def __init__(self, columns=None):
        self.columns = columns

    def _picked(self, X: np.ndarray) -> np.ndarray:
        return X if self.columns is None else X[:, list(self.columns)]

    def fit(self, X, y=None):
        """Check the columns form upper triangles; remember the matrix size.

        Parameters
        ----------
        X : array-like, shape (n_windows, n_features)
        y : ignored

        Returns
        -------
        self : CovarianceColumns
        """
        X = validate_data(self, X, dtype=np.float64)
        self.n_channels_ = triangle_size(self._picked(X).shape[1])
        return self

    def transform(self, X) -> np.ndarray:
        """Matrices of shape (n_windows, n_channels, n_channels)."""
        check_is_fitted(self)
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return to_matrices(self._picked(X))


def riemann_model(name: str, *, columns=None, random_state: int = 0, **params) -> Pipeline:
    """Build ``tslr`` or ``mdm`` on the given covariance columns.

    Parameters
    ----------
    name : str
        ``tslr`` or ``mdm``.
    columns : list of int | None
        Positions of the ``cov_`` columns in the feature table.
    random_state : int
        Seed (logistic regression's solver).
    **params
        ``C`` for ``tslr``'s logistic regression, ``metric`` for both
        (default ``riemann``).

    Returns
    -------
    pipeline : sklearn.pipeline.Pipeline
    """
    from pyriemann.classification import MDM
    from pyriemann.tangentspace import TangentSpace

    metric = params.pop("metric", "riemann")
    steps = [("cov", CovarianceColumns(columns))]
    if name == "tslr":
        options = {"C": 1.0, "max_iter": 1000, **params}
        steps += [
            ("ts", TangentSpace(metric=metric)),
            ("scale", StandardScaler()),
            ("lr", LogisticRegression(random_state=random_state, **options)),
        ]
    elif name == "mdm":
        steps += [("mdm", MDM(metric=metric, **params))]
    else:
        raise ValueError(f"{name!r} is not a Riemannian model (tslr, mdm).")
    return Pipeline(steps)
