"""One test for a number from outside (an option, a card, a protocol file): finite and in range."""

from __future__ import annotations

import math


def within(value, low: float, high: float) -> bool:
    """Whether ``value`` is a real number, not a bool, finite, and ``low <= value <= high``.

    NaN fails every comparison, so ``not value > 0`` style tests let it through
    (a NaN stall timeout turns drop-out detection off); this one does not.

    Parameters
    ----------
    value : object
        What was given.
    low, high : float
        The range, both ends included.

    Returns
    -------
    ok : bool
    """
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and low <= value <= high
    )
