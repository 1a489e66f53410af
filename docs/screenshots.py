"""Take the README's screenshots of the classroom pages (Debian's Chromium, Playwright).

Four synthetic headsets and a student's laptop (``join``, in this process,
with a synthetic board) record session 1 of the quick protocol, and a
second laptop has not joined; the teacher's page is captured during the
first task (one tile's details open, one headset stopped), a student's page
at the same moment.
Run it with::

    .venv/bin/python docs/screenshots.py
"""

from __future__ import annotations

import shutil
import tempfile
import threading
from pathlib import Path

from eeg4students.classroom import Classroom, Seat
from eeg4students.join import Joiner, parse_link
from eeg4students.web import HEADLESS_CHROMIUM_ARGS, serving

HERE = Path(__file__).resolve().parent


def main() -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        seats = [Seat(p, "synthetic") for p in ("s01", "s02", "s03", "s04")]
        seats += [Seat("s05", "join"), Seat("s06", "join")]
        room = Classroom(Path(tmp) / "class", "1", seats, protocol="quick", task_seconds=20)
        with serving(room) as links, sync_playwright() as playwright:
            laptop = Joiner(parse_link(links["s05"]), "synthetic", {}, Path(tmp) / "laptop")
            done = threading.Event()
            laptop.prepare(30, done)
            threading.Thread(target=laptop.run, args=(done,), daemon=True).start()
            browser = playwright.chromium.launch(
                executable_path=shutil.which("chromium"), args=list(HEADLESS_CHROMIUM_ARGS)
            )
            teacher = browser.new_page(viewport={"width": 1400, "height": 820})
            teacher.goto(links["teacher"])
            student = browser.new_page(viewport={"width": 1000, "height": 620})
            student.goto(links["s02"])
            teacher.wait_for_selector('section.tile[data-participant="s05"].s-ready')
            # One tile's details open: its quality table, counts and links.
            teacher.locator('section.tile[data-participant="s01"] summary').click()
            room.start()
            room.stop("s04")  # one headset stopped, as it looks on the page
            student.wait_for_function("document.body.className.startsWith('task')", timeout=30_000)
            student.wait_for_function(
                "document.getElementById('countdown').textContent === '17'", timeout=30_000
            )
            teacher.screenshot(path=HERE / "classroom-teacher.png")
            student.screenshot(path=HERE / "classroom-student.png")
            browser.close()
            done.set()
            laptop.close()
    print("wrote docs/classroom-teacher.png and docs/classroom-student.png")


if __name__ == "__main__":
    main()
