"""Progress on long work: a bar where someone watches, lines in a log, nothing when quiet.

On a terminal (or in Jupyter) long work draws a :mod:`tqdm` bar. Where
standard error is a file or a pipe (``make demo | tee log``, CI, a service's
journal), a bar's carriage returns are noise but silence for minutes looks
like a hang: there a stage that lasts more than :data:`QUIET_SECONDS` writes
a line then, at every 10% of it (or every minute when its size is unknown,
and at least once a minute otherwise) and when it ends, each flushed at
once; a quick stage writes nothing. The toolkit's logger
(``eeg4students``, set by the command line's ``-q``) above warnings silences
both. ``EEG4STUDENTS_PROGRESS`` chooses for every command: ``bars``,
``lines``, ``off``, or ``auto`` (the default, as above).
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Iterable, Iterator

#: Seconds between two progress lines when the work's size is unknown or its steps slow.
LINE_SECONDS = 60.0
#: A stage shorter than this writes no line at all.
QUIET_SECONDS = 2.0
#: Environment variable choosing the kind of progress (``auto``, ``bars``, ``lines``, ``off``).
PROGRESS_ENV = "EEG4STUDENTS_PROGRESS"


class ProgressLines:
    """What a bar says, as a few lines on standard error (see the module docstring).

    Parameters
    ----------
    iterable : iterable | None
        What to iterate over (None for progress updated by hand).
    total : int | None
        How many steps; taken from ``len(iterable)`` when it has one.
    desc, unit : str
        The stage's name and what a step is (``"features"``, ``"rec"``).
    """

    def __init__(
        self, iterable: Iterable | None = None, *, total: int | None = None, desc="", unit="it"
    ) -> None:
        self.iterable = iterable
        if total is None and iterable is not None and hasattr(iterable, "__len__"):
            total = len(iterable)
        self.total, self.desc, self.unit = total, desc or "working", unit
        self.n, self._tenth, self._spoken = 0, 0, False
        self._start = self._last = time.monotonic()

    def _write(self, text: str) -> None:
        self._spoken = True
        print(f"eeg4students: {text}", file=sys.stderr, flush=True)

    def __iter__(self) -> Iterator:
        for item in self.iterable or ():
            yield item
            self.update()
        self.close()

    def update(self, n: int = 1) -> None:
        """Count ``n`` steps done; write a line at each new tenth or after a minute."""
        self.n += n
        now = time.monotonic()
        if now - self._start < QUIET_SECONDS:
            return
        tenth = int(10 * self.n / self.total) if self.total else 0
        if (
            not self._spoken
            or (self.total and tenth > self._tenth and self.n < self.total)
            or now - self._last >= LINE_SECONDS
        ):
            self._tenth, self._last = tenth, now
            if self.total:
                done = f"{100 * self.n / self.total:.0f}% ({self.n} of {self.total} {self.unit})"
            else:
                done = f"{self.n} {self.unit}"
            self._write(f"{self.desc}: {done}, {now - self._start:.0f} s")

    def close(self) -> None:
        """Write the stage's last line (once)."""
        if self._start is None:
            return
        if self._spoken:
            elapsed = time.monotonic() - self._start
            self._write(f"{self.desc}: done, {self.n} {self.unit} in {elapsed:.0f} s")
        self._start = None

    def set_postfix(self, *args, **kwargs) -> None:  # tqdm's API, nothing to show here
        pass


class _Silent:
    """No progress at all, with the little of tqdm's API the toolkit uses."""

    def __init__(self, iterable: Iterable | None = None) -> None:
        self.iterable = iterable

    def __iter__(self) -> Iterator:
        yield from self.iterable or ()

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def set_postfix(self, *args, **kwargs) -> None:
        pass


def _in_notebook() -> bool:
    """Whether this runs in a Jupyter kernel (not merely in a process that imported one)."""
    ipython = sys.modules.get("IPython")
    try:
        shell = ipython.get_ipython() if ipython is not None else None
    except Exception:  # an IPython in a strange state is not a notebook
        return False
    return type(shell).__name__ == "ZMQInteractiveShell"


def progress_bar(iterable: Iterable | None = None, *, enabled: bool = True, **kwargs):
    """Progress of long work: a bar, lines, or nothing (see the module docstring).

    Parameters
    ----------
    iterable : iterable | None
        What to iterate over (None for progress updated by hand).
    enabled : bool
        Whether the caller wants progress at all.
    **kwargs
        tqdm's ``total``, ``desc`` and ``unit`` (others go to tqdm only).

    Returns
    -------
    progress : tqdm | ProgressLines | object
        Iterable, with ``update()`` and ``close()``.
    """
    quiet = logging.getLogger("eeg4students").getEffectiveLevel() > logging.WARNING
    kind = os.environ.get(PROGRESS_ENV, "auto").strip().lower()
    if not enabled or quiet or kind == "off":
        return _Silent(iterable)
    if kind == "bars" or (kind != "lines" and (sys.stderr.isatty() or _in_notebook())):
        from tqdm.auto import tqdm

        return tqdm(iterable, **kwargs)
    return ProgressLines(
        iterable,
        total=kwargs.get("total"),
        desc=kwargs.get("desc", ""),
        unit=kwargs.get("unit", "it"),
    )
