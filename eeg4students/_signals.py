"""Ctrl-C and SIGTERM for commands that must save what they captured.

Python raises ``KeyboardInterrupt`` on SIGINT only if SIGINT was not ignored
when the interpreter started; a process started from a background job, some
launchers or a service manager inherits "ignore" and Ctrl-C then does
nothing. SIGTERM (a laptop shutting down, ``timeout``, a service manager)
ends the process at once by default, saving nothing. :func:`stop_on_signals`
installs handlers for both, whatever the parent set: the first signal raises
:class:`Interrupted` (a ``KeyboardInterrupt``) in the main thread, where the
recorder catches it and stores what was captured; signals that follow while
it is saving (:meth:`SignalGuard.deferred`) do not break the save.

A signal that comes while a thread holds Python's import lock is raised a
moment later (the signal is sent again): raised at some points of an import,
the exception would leave the lock held, and every later import (the saving
thread's, say) would wait for it forever.
"""

from __future__ import annotations

import _imp
import contextlib
import os
import signal
import threading
from collections.abc import Iterator

#: The signals handled, and the exit status each one ends a command with (128 + number).
SIGNALS = (signal.SIGINT, signal.SIGTERM)
#: Seconds before a signal that came during an import is sent again.
RETRY_SECONDS = 0.02


class Interrupted(KeyboardInterrupt):
    """Raised by the first SIGINT or SIGTERM inside :func:`stop_on_signals`.

    Attributes
    ----------
    signum : int
        The signal's number.
    reason : str
        What stopped the command, for the recording's notes ("stopped with
        Ctrl-C", "stopped by SIGTERM").
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.reason = (
            "stopped with Ctrl-C"
            if signum == signal.SIGINT
            else f"stopped by {signal.Signals(signum).name} (the computer shutting down, or "
            "a service manager)"
        )
        super().__init__(self.reason)

    @property
    def exit_status(self) -> int:
        """128 plus the signal's number: 130 for Ctrl-C, 143 for SIGTERM."""
        return 128 + self.signum


class SignalGuard:
    """What :func:`stop_on_signals` received: the first signal raises, later ones wait."""

    def __init__(self) -> None:
        self.received: int | None = None
        self._deferring = 0
        self._to_raise = False

    def _handle(self, signum: int, frame) -> None:
        if self.received is None:
            self.received = signum
            self._to_raise = True
        if not self._to_raise or self._deferring:
            self._to_raise = False  # kept in ``received``; never raised inside a save
            return
        if _imp.lock_held():  # an import under way: raising now could leave its lock held
            threading.Timer(RETRY_SECONDS, os.kill, (os.getpid(), signum)).start()
            return
        self._to_raise = False
        raise Interrupted(signum)

    @contextlib.contextmanager
    def deferred(self) -> Iterator[None]:
        """A section no signal interrupts (storing a recording); one that came is kept."""
        self._deferring += 1
        try:
            yield
        finally:
            self._deferring -= 1

    @property
    def interrupted(self) -> Interrupted | None:
        """The signal received, as the exception it raised (or would have raised), or None."""
        return None if self.received is None else Interrupted(self.received)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[SignalGuard]:
    """Within the block, SIGINT and SIGTERM raise :class:`Interrupted` (main thread only).

    The previous handlers are put back at the end. Outside the main thread
    (where Python cannot install handlers) nothing changes and the guard
    never fires.

    Yields
    ------
    guard : SignalGuard
    """
    guard = SignalGuard()
    if threading.current_thread() is not threading.main_thread():
        yield guard
        return
    previous = {sig: signal.signal(sig, guard._handle) for sig in SIGNALS}
    try:
        yield guard
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
