"""The classroom's pages in a real browser: Debian's Chromium driven by Playwright.

``make test`` installs Chromium (``apt-get install chromium``); without it these
tests skip and say so.
"""

from __future__ import annotations

import re
import shutil

import pytest
from test_classroom import wait_until

from eeg4students.classroom import Classroom
from eeg4students.events import task_blocks
from eeg4students.protocol import load_protocol
from eeg4students.roster import Seat
from eeg4students.store import Dataset, read_meta
from eeg4students.store.paths import find_recordings
from eeg4students.web import HEADLESS_CHROMIUM_ARGS, serving

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
    ),
]


@pytest.fixture
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=CHROMIUM, args=list(HEADLESS_CHROMIUM_ARGS)
        )
        yield chromium
        chromium.close()


@pytest.fixture
def served(tmp_path):
    """Four synthetic headsets, quick protocol with 1-second tasks, served on a free port."""
    room = Classroom(
        tmp_path / "ds",
        "4",
        [Seat(p, "synthetic") for p in ("ann", "bob", "cat", "dan")],
        protocol="quick",
        task_seconds=1,
    )
    with serving(room) as links:
        yield room, links


def _tile(page, participant: str):
    return page.locator(f'section.tile[data-participant="{participant}"]')


def _state(page, participant: str) -> str:
    return _tile(page, participant).locator('[data-role="state"]').text_content()


def test_a_rehearsal_run_from_the_pages(browser, served):
    room, links = served
    teacher = browser.new_page()
    teacher.on("dialog", lambda dialog: dialog.accept())
    teacher.goto(links["teacher"])
    teacher.wait_for_selector("section.tile >> nth=3")
    assert teacher.locator("section.tile").count() == 4
    assert teacher.locator("#link").inner_text() == "live"
    # Quality values arrive and change while the page is open.
    ptp = _tile(teacher, "ann").locator('[data-role="ptp"]').first
    ptp.wait_for()
    before = ptp.inner_text()
    teacher.wait_for_function(
        """([before]) => {
            const cell = document.querySelector('section.tile[data-participant="ann"] '
                + '[data-role="ptp"]');
            return cell && cell.textContent !== before;
        }""",
        arg=[before],
        timeout=10_000,
    )
    assert re.fullmatch(r"\d+\.\d", ptp.inner_text())
    _tile(teacher, "bob").locator('[data-action="check"]').click()

    student = browser.new_page()
    student.goto(links["cat"])
    student.wait_for_function("document.body.dataset.state === 'connected'")
    assert student.locator("#title").inner_text() == "Please wait"

    # Start one, then all; stop one (the page asks first; the dialog is accepted).
    _tile(teacher, "ann").locator('[data-action="start"]').click()
    wait_until(lambda: room.headsets["ann"].state == "recording", 10, "ann's start")
    assert room.headsets["bob"].state == "connected"
    teacher.locator("#start-all").click()
    wait_until(
        lambda: {h.state for h in room.headsets.values()} == {"recording"}, 10, "all started"
    )
    order = load_protocol("quick").order("4")
    for title in order:  # the student's page follows the session's task order
        student.wait_for_function(
            "([title]) => document.getElementById('title').textContent === title",
            arg=[title],
            timeout=15_000,
        )
        instruction = load_protocol("quick").task(title).instruction
        assert student.locator("#text").inner_text() == instruction
        if title == order[0]:
            _tile(teacher, "dan").locator('[data-action="stop"]').click()
    teacher.wait_for_function(
        """() => ['ann', 'bob', 'cat'].every((p) => document.querySelector(
            `section.tile[data-participant="${p}"] [data-role="state"]`)
            ?.textContent === 'saved')""",
        timeout=30_000,
    )
    assert _state(teacher, "dan") == "interrupted"
    student.wait_for_function("document.getElementById('title').textContent === 'Done'")
    teacher.locator("#stop-all").click()  # nothing left to stop: no change

    dataset = Dataset(room.dataset.root)
    assert dataset.participants() == ["ann", "bob", "cat", "dan"]
    for participant in ("ann", "bob", "cat"):
        blocks = task_blocks(dataset.load(participant, "4", "eeg4students"))
        assert list(blocks["task"]) == list(order)
    meta = read_meta(find_recordings(dataset.root, "sub-dan/ses-4/eeg/*")[0].path)
    assert meta["interruption"] == "stopped by the teacher"


def test_pages_without_their_key_show_nothing(browser, served):
    _room, links = served
    page = browser.new_page()
    response = page.goto(links["teacher"].split("?")[0])
    assert response.status == 403
    assert "ann" not in page.content()
    response = page.goto(links["ann"].replace("student/ann", "student/bob"))
    assert response.status == 403
