"""A class recording one 5-minute session: samples kept, page latency, CPU.

Two ways to seat a class, measured the same way:

- ``--students N``: N ``eeg4students join`` processes, one per student's
  laptop, each with a BrainFlow synthetic board, joining the teacher's
  classroom over loopback; each records on its "laptop" (its own dataset)
  and sends its recording to the teacher at the end;
- ``--headsets N``: N synthetic headsets on the teacher's computer, recorded
  by the classroom process itself.

Either way one process runs the teacher's classroom (``Classroom`` + the web
server, as ``eeg4students classroom`` does) for one session of the
EEG4Students protocol, its tasks shortened so that the session lasts
``--minutes``, and Debian's Chromium (driven by Playwright) shows the
teacher's page at 1920x1080 for the whole session (``--student-pages`` also
opens every student's cue page). It prints, per way:

- **recordings** in the teacher's dataset, and **samples stored** per
  student: samples in the stored recording over the samples its board's
  clock says it produced (target >= 99%);
- **tiles visible**: tiles lying inside the 1920x1080 window (target: all);
- **page update latency**: seconds from the server taking a snapshot to the
  teacher's page showing it, over every update (target p95 < 500 ms);
- **CPU**: CPU seconds over the session's wall seconds (cores used), from
  *Start* to the last recording stored: the teacher's process, the join
  processes (sampled every 0.2 s, so at most that much of each one's last
  moments is missed), and together as a share of the machine's cores.

Run it with::

    .venv/bin/python benchmarks/bench_classroom.py --students 30 --headsets 30 [--minutes 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import psutil

from eeg4students import classroom
from eeg4students.classroom import TAIL_SECONDS, Classroom
from eeg4students.protocol import load_protocol
from eeg4students.roster import Seat
from eeg4students.store import Dataset, read_meta
from eeg4students.web import HEADLESS_CHROMIUM_ARGS, serving

#: Seconds the class may take to connect (30 processes starting on 2 cores).
CONNECT_SECONDS = 600.0


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"{what} did not happen within {timeout:g} s")
        pause.wait(0.2)


def _cpu_times(processes: list, known: dict) -> dict:
    """CPU seconds (user + system) of each process still running; the last known otherwise."""
    out = {}
    for process in processes:
        try:
            times = process.cpu_times()
            out[process.pid] = times.user + times.system
        except psutil.NoSuchProcess:
            out[process.pid] = known.get(process.pid, 0.0)
    return out


def _statuses(room: Classroom) -> list[str]:
    return [h["status"] for h in room.snapshot()["headsets"]]


def run(kind: str, count: int, minutes: float, student_pages: bool, tmp: Path) -> dict:
    """One class of ``count`` laptops (``kind`` "students") or headsets, one session."""
    from playwright.sync_api import sync_playwright

    protocol = load_protocol()
    fixed = protocol.lead_in_seconds + protocol.rest_seconds * (len(protocol.tasks) - 1)
    task_seconds = (minutes * 60 - fixed) / len(protocol.tasks)
    board = "join" if kind == "students" else "synthetic"
    seats = [Seat(f"s{k + 1:02d}", board) for k in range(count)]
    room = Classroom(tmp / kind / "teacher", "1", seats, task_seconds=task_seconds)
    laptops: list[subprocess.Popen] = []
    with serving(room) as links, sync_playwright() as playwright:
        teacher_link = links.pop("teacher")
        connecting = time.monotonic()
        for participant, link in links.items() if kind == "students" else ():
            log = (tmp / kind / f"{participant}.log").open("w")
            laptops.append(
                subprocess.Popen(
                    [sys.executable, "-m", "eeg4students", "join", link, "--board", "synthetic",
                     "--to", str(tmp / kind / "laptops" / participant)],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )  # fmt: skip
        _wait(lambda: set(_statuses(room)) <= {"ready", "fix contact"}, CONNECT_SECONDS, "ready")
        connected = time.monotonic() - connecting
        browser = playwright.chromium.launch(
            executable_path=shutil.which("chromium"), args=list(HEADLESS_CHROMIUM_ARGS)
        )
        teacher = browser.new_page(viewport={"width": 1920, "height": 1080})
        teacher.goto(teacher_link)
        teacher.wait_for_selector(f"section.tile >> nth={count - 1}")
        visible = teacher.evaluate(
            """() => [...document.querySelectorAll('section.tile')].filter((t) => {
                const r = t.getBoundingClientRect();
                return r.top >= 0 && r.left >= 0 && r.bottom <= innerHeight
                    && r.right <= innerWidth;
            }).length"""
        )
        for link in links.values() if student_pages else ():
            browser.new_page().goto(link)
        processes = [psutil.Process(laptop.pid) for laptop in laptops]
        first = _cpu_times(processes, {})
        last = dict(first)
        cpu0, wall0 = sum(os.times()[:2]), time.monotonic()
        started = room.start()

        def finished() -> bool:
            last.update(_cpu_times(processes, last))  # the join processes' CPU, every 0.2 s
            return room.finished

        _wait(finished, minutes * 60 + 600, "the end of the session")
        wall = time.monotonic() - wall0
        cpu = sum(os.times()[:2]) - cpu0
        lags = np.array(teacher.evaluate("window.eeg4studentsLags"))
        browser.close()
        for laptop in laptops:
            laptop.wait(timeout=120)
    children = sum(last.values()) - sum(first.values())
    shares = []
    for ref in Dataset(room.dataset.root).references():
        meta = read_meta(ref.path)
        shares.append(meta["samples_captured"] / meta["samples_expected"])
    return {
        "kind": kind,
        "count": count,
        "started": len(started),
        "connected_s": connected,
        "visible": visible,
        "stored": len(shares),
        "shares": np.array(shares) if shares else np.array([0.0]),
        "lags": lags,
        "wall": wall,
        "cpu": cpu,
        "children": children,
        "exits": [laptop.returncode for laptop in laptops],
        "task_seconds": task_seconds,
        # From the session's end (its last step and tail) to the last recording stored.
        "after_end": wall - room.steps[-1].end - TAIL_SECONDS,
    }


def report(result: dict) -> None:
    """Print one class's numbers."""
    count, lags, shares = result["count"], result["lags"], result["shares"]
    cores = os.cpu_count() or 1
    if result["kind"] == "students":
        what = f"{count} join processes (students' laptops, synthetic boards) on loopback"
    else:
        what = f"{count} synthetic headsets on the teacher's computer"
    seconds = result["task_seconds"]
    print(f"{what}: {result['wall'] / 60:.1f} min session (tasks of {seconds:.0f} s)")
    print(f"  ready after {result['connected_s']:.0f} s; started {result['started']} of {count}")
    print(f"  every recording in the teacher's dataset {result['after_end']:.1f} s after the end")
    print(f"  tiles inside 1920x1080: {result['visible']} of {count}")
    print(
        f"  recordings in the teacher's dataset: {result['stored']} of {count}; samples stored "
        f"per student: min {shares.min():.2%}, median {np.median(shares):.2%}"
    )
    print(
        f"  teacher page update latency over {len(lags)} updates: median "
        f"{np.median(lags) * 1000:.0f} ms, p95 {np.percentile(lags, 95) * 1000:.0f} ms, "
        f"max {lags.max() * 1000:.0f} ms"
    )
    wall = result["wall"]
    print(
        f"  CPU: teacher's process {result['cpu'] / wall:.2f} cores"
        + (
            f", join processes {result['children'] / wall:.2f} cores (exit codes: "
            f"{sorted(set(result['exits']))})"
            if result["kind"] == "students"
            else ""
        )
        + f"; together {(result['cpu'] + result['children']) / wall / cores:.0%} of {cores}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=0, help="join processes (0: none)")
    parser.add_argument("--headsets", type=int, default=0, help="headsets on the teacher's")
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument("--student-pages", action="store_true")
    parser.add_argument(
        "--savers",
        type=int,
        default=classroom.SAVERS,
        help=f"recordings stored at once (default {classroom.SAVERS}; 1: one after another)",
    )
    args = parser.parse_args()
    classroom.SAVERS = args.savers
    if not (args.students or args.headsets):
        parser.error("give --students N, --headsets N, or both")
    with tempfile.TemporaryDirectory() as tmp:
        for kind, count in (("students", args.students), ("headsets", args.headsets)):
            if count:
                report(run(kind, count, args.minutes, args.student_pages, Path(tmp)))


if __name__ == "__main__":
    main()
