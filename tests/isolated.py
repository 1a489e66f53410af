"""Run a function in a forked child with a memory cap and a time limit.

A malformed model file could crash the process that loads it (an
out-of-bounds read in compiled code), exhaust its memory or loop for ever.
Tests that feed such files run the load-and-predict in a fork of the test
process, so that a crash, a blow-up or a hang is reported as what it is
instead of taking the test worker down. The child inherits every imported
module, so a fork costs milliseconds.
"""

from __future__ import annotations

import os
import pickle
import resource
import select
import signal
import time
import traceback
from dataclasses import dataclass

#: Address space a child may use (bytes): the "under 2 GB" of the fault rounds.
MEMORY_CAP = 2 * 1024**3


@dataclass
class Outcome:
    """What became of the call in the child.

    Attributes
    ----------
    kind : str
        ``"returned"``, ``"raised"``, ``"crashed"`` (killed by a signal),
        ``"memory"`` (a MemoryError under the cap) or ``"hung"``.
    value : object
        The return value, or the exception's ``(type name, message)``.
    detail : str
        The signal or traceback, for messages.
    """

    kind: str
    value: object = None
    detail: str = ""


def run_isolated(fn, *args, timeout: float = 120.0, memory: int = MEMORY_CAP) -> Outcome:
    """Call ``fn(*args)`` in a forked child under ``memory`` bytes and ``timeout`` seconds."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns into pytest
        os.close(read_end)
        status = 0
        try:
            resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
            try:
                result = ("returned", fn(*args), "")
            except MemoryError:
                result = ("memory", None, traceback.format_exc())
            except BaseException as exc:
                result = ("raised", (type(exc).__name__, str(exc)), traceback.format_exc())
            try:
                payload = pickle.dumps(result)
            except Exception:
                payload = pickle.dumps((result[0], repr(result[1]), result[2]))
            with os.fdopen(write_end, "wb") as out:
                out.write(payload)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(read_end, "rb") as pipe:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                return Outcome("hung", detail=f"no answer in {timeout:g} s")
            ready, _, _ = select.select([pipe], [], [], min(left, 1.0))
            if ready:
                chunk = os.read(pipe.fileno(), 1 << 20)
                if not chunk:
                    break
                chunks.append(chunk)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return Outcome("crashed", detail=f"signal {os.WTERMSIG(status)}")
    if not chunks:
        return Outcome("crashed", detail=f"exit status {os.waitstatus_to_exitcode(status)}")
    kind, value, detail = pickle.loads(b"".join(chunks))
    return Outcome(kind, value, detail)
