"""A classroom of 8 synthetic headsets for 5 minutes: samples kept, page latency, CPU.

One process runs the classroom (``Classroom`` + the web server, as
``eeg4students classroom`` does) with ``--headsets`` BrainFlow synthetic
boards recording one session of the EEG4Students protocol, its tasks
shortened so that the session lasts ``--minutes``. Debian's Chromium (driven
by Playwright) shows the teacher's page and every student's page for the
whole session. It prints:

- **samples stored** per headset: samples in the stored recording over the
  samples its clock says the board produced (target >= 99%);
- **page update latency**: seconds from the server taking a snapshot to the
  teacher's page showing it, over every update (target p95 < 500 ms);
- **CPU**: the classroom process's CPU seconds over wall seconds (cores
  used), and as a share of the machine's cores.

Run it with::

    .venv/bin/python benchmarks/bench_classroom.py [--headsets 8] [--minutes 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from eeg4students.classroom import Classroom
from eeg4students.protocol import load_protocol
from eeg4students.roster import Seat
from eeg4students.store import Dataset, read_meta
from eeg4students.web import HEADLESS_CHROMIUM_ARGS, serving


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--headsets", type=int, default=8)
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    protocol = load_protocol()
    fixed = protocol.lead_in_seconds + protocol.rest_seconds * (len(protocol.tasks) - 1)
    task_seconds = (args.minutes * 60 - fixed) / len(protocol.tasks)
    with tempfile.TemporaryDirectory() as tmp:
        seats = [Seat(f"s{k + 1:02d}", "synthetic") for k in range(args.headsets)]
        room = Classroom(Path(tmp) / "ds", "1", seats, task_seconds=task_seconds)
        chromium = shutil.which("chromium")
        with serving(room) as links, sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=chromium, args=list(HEADLESS_CHROMIUM_ARGS)
            )
            teacher = browser.new_page()
            teacher.goto(links.pop("teacher"))
            students = []
            for link in links.values():
                students.append(browser.new_page())
                students[-1].goto(link)
            teacher.wait_for_selector(f"section.tile >> nth={args.headsets - 1}")
            cpu0, wall0 = sum(os.times()[:2]), time.monotonic()
            room.start()
            pause = threading.Event()
            while room.busy:
                pause.wait(1.0)
            cpu, wall = sum(os.times()[:2]) - cpu0, time.monotonic() - wall0
            lags = np.array(teacher.evaluate("window.eeg4studentsLags"))
            browser.close()
        dataset = Dataset(room.dataset.root)
        shares = []
        for ref in dataset.references():
            meta = read_meta(ref.path)
            shares.append(meta["samples_captured"] / meta["samples_expected"])
    shares = np.array(shares)
    print(
        f"{args.headsets} synthetic headsets, {wall / 60:.1f} min session "
        f"(tasks of {task_seconds:.0f} s), teacher page + {args.headsets} student pages open:"
    )
    print(
        f"  recordings stored: {len(shares)} of {args.headsets}; samples stored per headset: "
        f"min {shares.min():.2%}, median {np.median(shares):.2%}"
    )
    print(
        f"  page update latency over {len(lags)} updates: median {np.median(lags) * 1000:.0f} ms, "
        f"p95 {np.percentile(lags, 95) * 1000:.0f} ms, max {lags.max() * 1000:.0f} ms"
    )
    cores = os.cpu_count() or 1
    print(
        f"  classroom process CPU: {cpu:.1f} s in {wall:.1f} s = {cpu / wall:.2f} cores "
        f"({cpu / wall / cores:.0%} of {cores})"
    )


if __name__ == "__main__":
    main()
