"""Where the toolkit reaches into a dependency beyond its documented API (as ``mne/fixes.py``).

Each use is gated on what the installed version offers and falls back to a
public path (or to doing without) when it is not there.
"""

from __future__ import annotations

try:  # scikit-learn >= 1.2 declares every estimator's parameter constraints
    from sklearn.utils._param_validation import (
        InvalidParameterError,
        validate_parameter_constraints,
    )
except ImportError:  # pragma: no cover - older scikit-learn: the toolkit's own bounds only

    class InvalidParameterError(ValueError, TypeError):
        """Stands in for scikit-learn's error where it has none."""

    validate_parameter_constraints = None


def validate_params(estimator) -> None:
    """Check an estimator's parameters against the constraints its class declares.

    scikit-learn's estimators declare ``_parameter_constraints`` and check
    them at ``fit``; a model loaded from a file was never fitted here, so its
    parameters are checked with the same function.

    Parameters
    ----------
    estimator : object
        Any estimator; one without declared constraints passes.

    Raises
    ------
    InvalidParameterError
        If a parameter breaks its constraint (a ``ValueError`` and ``TypeError``).
    """
    constraints = getattr(type(estimator), "_parameter_constraints", None)
    if validate_parameter_constraints is None or not isinstance(constraints, dict):
        return
    validate_parameter_constraints(
        constraints, estimator.get_params(deep=False), caller_name=type(estimator).__name__
    )
