"""Storing a participant's whole protocol: does a recording cost more as the participant grows?

One simulated participant is stored as the EEG4Students protocol records
them: 6 sessions x 5 tasks, 30 recordings of 20 s, one ``add_recording``
each, into a fresh dataset. It prints the time of the first 5 and of the
last 5 recordings, and of the undo snapshot taken before each write (the
files a failed write restores), with the ratio last / first: near 1 when a
write's cost does not grow with the participant's earlier sessions.
Run it with::

    .venv/bin/python benchmarks/bench_store.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import tempfile
import time
from pathlib import Path

from eeg4students.simulate import simulate_recording
from eeg4students.store import Dataset

SESSIONS = 6
TASKS = ("think", "count", "recall", "breathe", "draw")


def store_protocol(root: Path, raw) -> tuple[list[float], list[float]]:
    """Seconds per add_recording and per undo snapshot, in the order stored."""
    dataset = Dataset.create(root)
    snapshots: list[float] = []
    rollback = Dataset.writing

    @contextlib.contextmanager
    def timed(self, *args):
        start = time.perf_counter()
        with rollback(self, *args):
            snapshots.append(time.perf_counter() - start)
            yield

    Dataset.writing = timed
    writes = []
    try:
        for session in range(1, SESSIONS + 1):
            for task in TASKS:
                start = time.perf_counter()
                dataset.add_recording(raw, "p01", str(session), task)
                writes.append(time.perf_counter() - start)
    finally:
        Dataset.writing = rollback
    return writes, snapshots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    raw = simulate_recording(0, 1, seed=1, task_seconds=20)
    runs = []
    with tempfile.TemporaryDirectory() as tmp:
        store_protocol(Path(tmp) / "warm", raw)
        for k in range(args.repeat):
            runs.append(store_protocol(Path(tmp) / f"ds{k}", raw))
    n = SESSIONS * len(TASKS)
    print(f"{n} recordings of one participant, median of {args.repeat} runs (ms):")
    for name, which in (("add_recording", 0), ("undo snapshot", 1)):
        first = statistics.median(statistics.mean(run[which][:5]) for run in runs) * 1e3
        last = statistics.median(statistics.mean(run[which][-5:]) for run in runs) * 1e3
        print(f"  {name:14s} first 5 {first:7.2f}   last 5 {last:7.2f}   ratio {last / first:.2f}")


if __name__ == "__main__":
    main()
