"""Checks of a loaded model's state, before it predicts anything.

A model file that passes :mod:`eeg4students.modelfile` holds only types the
toolkit's own models are made of, but the *values* inside those types are
the file's: a decision tree whose children point past its node array, a
split on feature 10^8, an SVM whose support vectors are narrower than the
data, a kd-tree whose index array points anywhere, or a parameter such as
``n_jobs=100000`` or a type where a string belongs. Compiled code in
scikit-learn (trees, libsvm, kd-trees, gradient boosting's stage loop)
reads such values without bounds checks, so a crafted file could crash the
process or read its memory.

:func:`check_loaded` walks every object of a freshly loaded model and checks
each one against what a fitted estimator of its type can hold:

- parameters against the estimator's own declared constraints (those
  scikit-learn publishes, through :func:`eeg4students._compat.validate_params`)
  and the toolkit's bounds (:data:`MAX_N_JOBS`, :data:`MAX_TEXT`, no type or
  function where a value belongs);
- decision trees: children in range and after their parent (so no cycle),
  both children or neither, split features below the estimator's feature
  count, finite thresholds and values, shapes that agree with the owner;
- SVMs, scalers, linear models, discriminant analysis, Riemannian models,
  the toolkit's own estimators: the shapes and ranges their ``predict``
  relies on;
- the kd-tree of a nearest-neighbour model is not trusted at all: it is
  rebuilt from the model's validated training points (deterministic, so the
  neighbours are the same).

Anything else is refused with :class:`~eeg4students.errors.ModelError`.
"""

from __future__ import annotations

import contextlib
import numbers
from collections.abc import Iterator
from pathlib import Path

import numpy as np
from sklearn.neighbors import KDTree, KNeighborsClassifier
from sklearn.pipeline import Pipeline
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from eeg4students._compat import sklearn_held, type_name, validate_params
from eeg4students.errors import EEG4StudentsError, ModelError, first_line
from eeg4students.modelstate import (
    CHECKS,
    MAX_FEATURES,
    MAX_TEXT,
    Refused,
    count,
    fail,
)

#: Largest |n_jobs| a saved model may ask for (-1: every core).
MAX_N_JOBS = 256

# -- parameters ------------------------------------------------------------------------


def _check_value(where: str, value) -> None:
    """A parameter value: plain data, no type or function, text and counts bounded."""
    if isinstance(value, type) or (callable(value) and not hasattr(value, "get_params")):
        fail(where, f"is a {type(value).__name__} where a value belongs")
    if isinstance(value, str) and len(value) > MAX_TEXT:
        fail(where, f"is a text of {len(value):,} characters")
    if isinstance(value, list | tuple):
        if len(value) > MAX_FEATURES:
            fail(where, f"is a list of {len(value):,} items")
        for i, item in enumerate(value):
            if not hasattr(item, "get_params"):
                _check_value(f"{where}[{i}]", item)
    if isinstance(value, dict):
        if len(value) > MAX_FEATURES:
            fail(where, f"is a mapping of {len(value):,} items")
        for key, item in value.items():
            _check_value(f"{where}[{key!r}]", key)
            _check_value(f"{where}[{key!r}]", item)


def _check_params(where: str, estimator) -> None:
    params = estimator.get_params(deep=False)
    for name, value in params.items():
        _check_value(f"{where}.{name}", value)
    n_jobs = params.get("n_jobs")
    if n_jobs is not None:
        count(f"{where}.n_jobs", n_jobs, -MAX_N_JOBS, MAX_N_JOBS)
    verbose = params.get("verbose")
    if verbose is not None and not isinstance(verbose, bool):
        count(f"{where}.verbose", verbose, 0, 10)
    try:
        validate_params(estimator)
    except (ValueError, TypeError) as exc:  # scikit-learn's InvalidParameterError
        fail(where, first_line(exc))


#: Types checked by the one object allowed to hold them, under one attribute: a tree
#: by its estimator, a kd-tree rebuilt by its nearest-neighbour model (and its distance
#: metric inside it, never reached). Met anywhere else, they are refused.
OWNED = {
    name: value
    for name, value in (
        (
            sklearn_held()["tree"] and type_name(sklearn_held()["tree"]),
            ("tree_", (type_name(DecisionTreeClassifier), type_name(DecisionTreeRegressor))),
        ),
        (type_name(KDTree), ("_tree", (type_name(KNeighborsClassifier),))),
        (sklearn_held()["euclidean"] and type_name(sklearn_held()["euclidean"]), (None, ())),
    )
    if name
}
_PIPELINE = type_name(Pipeline)
_TOOLKIT_MODULES = ("sklearn", "pyriemann", "eeg4students")


def _type_name(obj) -> str:
    return f"{type(obj).__module__}.{type(obj).__qualname__}"


def _children(obj, where: str) -> list[tuple[str, str | None, object]]:
    """(path, attribute name, value) of everything an object holds."""
    if isinstance(obj, dict):
        return [(f"{where}[{k!r}]", None, v) for k, v in obj.items()]
    if isinstance(obj, list | tuple):
        return [(f"{where}[{i}]", None, v) for i, v in enumerate(obj)]
    if isinstance(obj, np.ndarray):
        items = obj.ravel() if obj.dtype == object else []
        return [(f"{where}[{i}]", None, v) for i, v in enumerate(items)]
    if hasattr(obj, "__dict__") and type(obj).__module__.split(".")[0] in _TOOLKIT_MODULES:
        return [(f"{where}.{k}", k, v) for k, v in vars(obj).items()]
    return []


def _fitted(obj) -> bool:
    """Whether an estimator was fitted (an unfitted one is a template: it predicts nothing)."""
    return any(k.endswith("_") and not k.startswith("__") for k in vars(obj))


def _walk(estimator) -> None:
    stack = [("model", None, estimator, None)]
    seen: set[int] = set()
    while stack:
        where, attribute, obj, owner = stack.pop()
        if obj is None or isinstance(obj, str | bytes | bool | numbers.Number) or id(obj) in seen:
            continue
        seen.add(id(obj))
        name = _type_name(obj)
        if name in OWNED:
            wanted, owners = OWNED[name]
            if attribute != wanted or owner not in owners:
                fail(where, f"is a {name} outside the model that owns it")
            continue  # checked (or rebuilt) by its owner
        if hasattr(obj, "get_params"):
            _check_params(where, obj)
        check = CHECKS.get(name)
        if check is not None and (_fitted(obj) or name == _PIPELINE):
            check(where, obj)  # before the walk goes inside: kd-trees are replaced here
        stack.extend((w, a, v, name) for w, a, v in reversed(_children(obj, where)))


def check_loaded(estimator, source: str | Path, *, n_features: int | None = None) -> None:
    """Check every object of a loaded model (see the module docstring); rebuild kd-trees.

    Parameters
    ----------
    estimator : object
        What ``skops.io.load`` returned for a file that passed
        :func:`eeg4students.modelfile.check_model_file`.
    source : str | Path
        The file, for the message.
    n_features : int | None
        The number of features the model will be given (from its card), if known.

    Raises
    ------
    ModelError
        Naming the file, the object (an attribute path such as
        ``model.estimators_[3].tree_``) and what is wrong with it.
    """
    try:
        width = getattr(estimator, "n_features_in_", None)
        if n_features is not None and width != n_features:
            fail("model", f"takes {width} features, not the {n_features} of its card")
        _walk(estimator)
    except Refused as exc:
        raise ModelError(
            f"{source} holds a model whose state is not what a fitted model holds ({exc}); it "
            "was damaged or made to harm, so it was refused before predicting anything."
        ) from None
    except (AttributeError, TypeError, ValueError, IndexError, KeyError) as exc:
        raise ModelError(
            f"{source} holds a model with missing or malformed parts ({first_line(exc)}); train "
            "it again with this version of eeg4students."
        ) from None


#: What a model's own Python code raises on values no fitted model holds, or settings its
#: ``fit`` refuses (turned into one sentence by :func:`applying` and by forgetting).
MODEL_CODE_ERRORS = (
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    AttributeError,
    ArithmeticError,
    np.linalg.LinAlgError,
)


@contextlib.contextmanager
def applying(name: str, doing: str = "applied") -> Iterator[None]:
    """Turn a failure inside a loaded model's ``predict`` into the toolkit's error.

    The checks of :func:`check_loaded` leave compiled code nothing out of
    range; what a model's Python code may still raise on values no fitted
    model holds (a singular matrix, a shape that does not broadcast) is said
    in one sentence instead of a traceback.

    Parameters
    ----------
    name : str
        The model's name, for the message.
    doing : str
        What was done with it: ``"applied"``, or ``"trained"`` (a setting its
        ``fit`` refused).

    Raises
    ------
    ModelError
        Naming the model and the first line of what went wrong.
    """
    try:
        yield
    except EEG4StudentsError:
        raise
    except MODEL_CODE_ERRORS as exc:
        fix = (
            "it is damaged: train it again or ask for a new copy"
            if doing == "applied"
            else "check its settings"
        )
        raise ModelError(
            f"Model {name!r} could not be {doing} ({first_line(exc)}); {fix}."
        ) from exc
