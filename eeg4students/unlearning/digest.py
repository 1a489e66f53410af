"""A digest of a fitted model's state: two models are the same model when their digests agree.

Exact strategies (``retrain``, ``sharded``) claim that the updated model is
the model a retrain without P gives. That is proved, not tested: the model is
refitted from the card's rows without P with the same seeds and both fitted
states are hashed. :func:`state_digest` walks an estimator's attributes
(every array by dtype, shape and bytes; structured arrays such as a tree's
nodes field by field, so the padding scikit-learn never writes does not
count; dictionaries by sorted key; nested estimators and scikit-learn's
compiled trees through their pickled state) into one SHA-256.
"""

from __future__ import annotations

import hashlib
import inspect
import struct

import numpy as np

#: Deepest nesting walked (a fitted model is a few levels deep; more is a cycle or a trap).
MAX_DEPTH = 64


def state_digest(estimator) -> str:
    """SHA-256 of an estimator's fitted state, as 64 hex digits.

    Parameters
    ----------
    estimator : object
        Any fitted scikit-learn-style estimator (or a structure of them).

    Returns
    -------
    digest : str
        Equal for two models whose every parameter and fitted array is equal.

    Raises
    ------
    ValueError
        If the state is nested deeper than :data:`MAX_DEPTH` or holds a cycle.
    """
    h = hashlib.sha256()
    _feed(h, estimator, 0, set())
    return h.hexdigest()


def _tag(h, text: str) -> None:
    data = text.encode("utf-8")
    h.update(struct.pack("<Q", len(data)))
    h.update(data)


def _feed(h, obj, depth: int, active: set[int]) -> None:
    if depth > MAX_DEPTH:
        raise ValueError("The model's state is nested too deep to digest.")
    if obj is None or isinstance(obj, bool | int | str):
        _tag(h, f"{type(obj).__name__}:{obj!r}")
        return
    if isinstance(obj, float):
        _tag(h, "float")
        h.update(struct.pack("<d", obj))
        return
    if isinstance(obj, bytes):
        _tag(h, "bytes")
        _tag(h, obj.hex())
        return
    if isinstance(obj, np.generic):
        _feed(h, np.asarray(obj), depth + 1, active)
        return
    if isinstance(obj, np.ndarray):
        _array(h, obj, depth, active)
        return
    if id(obj) in active:
        raise ValueError("The model's state holds a cycle.")
    active.add(id(obj))
    try:
        if isinstance(obj, list | tuple):
            _tag(h, f"{type(obj).__name__}[{len(obj)}]")
            for item in obj:
                _feed(h, item, depth + 1, active)
        elif isinstance(obj, dict):
            _tag(h, f"dict[{len(obj)}]")
            for key in sorted(obj, key=repr):
                _feed(h, key, depth + 1, active)
                _feed(h, obj[key], depth + 1, active)
        elif isinstance(obj, set | frozenset):
            _tag(h, f"set[{len(obj)}]")
            for item in sorted(obj, key=repr):
                _feed(h, item, depth + 1, active)
        elif isinstance(obj, type) or inspect.isroutine(obj):
            _tag(
                h, f"callable:{getattr(obj, '__module__', '')}.{getattr(obj, '__qualname__', obj)}"
            )
        else:
            cls = type(obj)
            _tag(h, f"object:{cls.__module__}.{cls.__qualname__}")
            state = _state(obj)
            _feed(h, state, depth + 1, active)
    finally:
        active.discard(id(obj))


def _state(obj):
    """What an object's pickle would hold: ``__getstate__``, else ``__reduce__``'s state."""
    getstate = getattr(obj, "__getstate__", None)
    if getstate is not None:
        try:
            state = getstate()
        except TypeError:
            state = None
        if state is not None:
            return state
    reduced = obj.__reduce_ex__(2)
    return reduced[2] if isinstance(reduced, tuple) and len(reduced) > 2 else reduced[1:2]


def _array(h, array: np.ndarray, depth: int, active: set[int]) -> None:
    _tag(h, f"ndarray:{array.dtype.str}:{array.shape}")
    if array.dtype.names:  # a structured array (a tree's nodes): field by field, no padding
        for name in array.dtype.names:
            _tag(h, name)
            _array(h, np.ascontiguousarray(array[name]), depth + 1, active)
    elif array.dtype.hasobject:
        for item in array.ravel():
            _feed(h, item, depth + 1, active)
    else:
        h.update(np.ascontiguousarray(array).tobytes())
