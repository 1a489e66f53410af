"""Progress bars on long work: on a terminal or in a notebook, unless asked for quiet.

A bar drawn into a log file or a pipe is noise, so bars are shown only when
standard error is a terminal (or in Jupyter), the caller wants one, and the
toolkit's logger (``eeg4students``, set by the command line's ``-q``) lets
warnings through.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterable

from tqdm.auto import tqdm


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs) -> tqdm:
    """A :class:`tqdm.auto.tqdm` bar, drawn only where someone can watch it.

    Parameters
    ----------
    iterable : iterable | None
        What to iterate over (None for a bar updated by hand).
    enabled : bool
        Whether the caller wants a bar at all.
    **kwargs
        Passed to tqdm (``total``, ``desc``, ``unit``...).

    Returns
    -------
    bar : tqdm
        A bar, disabled (but still iterable) when it would not be seen.
    """
    watched = sys.stderr.isatty() or "ipykernel" in sys.modules
    quiet = logging.getLogger("eeg4students").getEffectiveLevel() > logging.WARNING
    return tqdm(iterable, disable=not (enabled and watched and not quiet), **kwargs)
