"""The commands' signal handlers: raised once, never inside a save or an import.

Each case runs in a child process: a signal raised at the wrong moment must
end that child, not the test run.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

PRELUDE = """
import _imp, os, signal, time
from eeg4students._signals import Interrupted, stop_on_signals

def spin(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass

events = []
"""


def _child(body: str) -> list[str]:
    code = PRELUDE + textwrap.dedent(body) + "\nprint(events)\n"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return eval(done.stdout.strip().splitlines()[-1])  # a list of str the child printed


def test_a_signal_during_an_import_is_raised_once_the_import_lock_is_free():
    events = _child(
        """
        try:
            with stop_on_signals():
                _imp.acquire_lock()  # as in the middle of an import
                try:
                    os.kill(os.getpid(), signal.SIGTERM)
                    spin(0.3)
                    events.append("not raised while the lock was held")
                finally:
                    _imp.release_lock()
                spin(10)
                events.append("never raised")
        except Interrupted as exc:
            events.append(f"raised {exc.exit_status}")
        spin(0.2)
        events.append("once")
        """
    )
    assert events == ["not raised while the lock was held", "raised 143", "once"]


@pytest.mark.parametrize("later", ["SIGINT", "SIGTERM"])
def test_a_signal_during_a_save_is_kept_and_the_first_one_raises_once(later):
    events = _child(
        f"""
        with stop_on_signals() as guard:
            with guard.deferred():
                os.kill(os.getpid(), signal.SIGINT)
                spin(0.2)
            spin(0.2)
            events.append(f"kept {{guard.interrupted.exit_status}}")
        with stop_on_signals() as guard:
            try:
                os.kill(os.getpid(), signal.SIGINT)
                spin(10)
            except Interrupted as exc:
                events.append(f"raised {{exc.exit_status}}")
            os.kill(os.getpid(), signal.{later})  # the command is already stopping
            spin(0.2)
            events.append("later one waited")
        """
    )
    assert events == ["kept 130", "raised 130", "later one waited"]
