"""The classroom's pages in a real browser: Debian's Chromium driven by Playwright.

``make test`` installs Chromium (``apt-get install chromium``); without it these
tests skip and say so.
"""

from __future__ import annotations

import json
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
    # Quality values arrive and change while the page is open (in the tile's details).
    _tile(teacher, "ann").locator("summary").click()
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


def test_tile_buttons_take_every_press_and_keep_focus_while_updates_flow(browser, served):
    room, links = served
    pressed = []
    check = room.check

    def counted(participant=None):
        pressed.append(participant)
        return check(participant)

    room.check = counted
    teacher = browser.new_page()
    teacher.goto(links["teacher"])
    teacher.wait_for_selector("section.tile >> nth=3")

    def updates_seen(n: int) -> None:
        """Wait until the page has shown ``n`` more snapshots (four a second)."""
        teacher.evaluate("window.seenBefore = window.eeg4studentsLags.length")
        teacher.wait_for_function(
            f"window.eeg4studentsLags.length >= window.seenBefore + {n}", timeout=10_000
        )

    updates_seen(2)
    button = _tile(teacher, "bob").locator('[data-action="check"]')
    box = button.bounding_box()
    for _ in range(10):  # a teacher's press: 200 ms between down and up, updates arriving
        teacher.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
        teacher.mouse.down()
        teacher.wait_for_timeout(200)
        teacher.mouse.up()
    wait_until(lambda: len(pressed) == 10, 10, "ten checks")
    assert pressed == ["bob"] * 10
    start = _tile(teacher, "cat").locator('[data-action="start"]')
    start.focus()
    updates_seen(4)  # a second of updates
    assert teacher.evaluate("document.activeElement.dataset.action") == "start"
    assert teacher.evaluate("document.activeElement.closest('section').dataset.participant") == (
        "cat"
    )
    teacher.keyboard.press("Enter")
    wait_until(lambda: room.headsets["cat"].state == "recording", 10, "cat's start by keyboard")


def test_the_student_page_shows_its_place_cues_changes_and_a_lost_connection(browser, tmp_path):
    room = Classroom(
        tmp_path / "ds", "2", [Seat("eve", "synthetic")], protocol="quick", task_seconds=2
    )
    order = load_protocol("quick").order("2")
    with serving(room) as links:
        student = browser.new_page()
        student.goto(links["eve"])
        student.wait_for_function("document.body.dataset.state === 'connected'")
        assert student.locator("#place").inner_text() == ""
        room.start("eve")
        student.wait_for_function("document.body.className.startsWith('task')", timeout=15_000)
        assert student.locator("#place").inner_text() == f"Task 1 of {len(order)}"
        assert student.locator("#title").inner_text() == order[0]
        first = float(student.locator("#progress").get_attribute("value") or 0)
        student.wait_for_function("document.body.className.startsWith('rest')", timeout=15_000)
        assert student.locator("#place").inner_text() == f"Task 2 of {len(order)} next"
        instruction = load_protocol("quick").task(order[1]).instruction
        assert student.locator("#next").inner_text() == f"Next: {order[1]} · {instruction}"
        assert float(student.evaluate("document.getElementById('progress').value")) > first
        # Each change of step flashed the title (get ready -> task -> rest: two so far).
        assert int(student.evaluate("document.body.dataset.changes")) >= 2
        assert student.locator("#lost").is_hidden()
    # The server has stopped: the page says so instead of freezing on the last task.
    student.wait_for_function("document.body.dataset.link === 'lost'", timeout=10_000)
    assert student.locator("#lost").is_visible()
    lost = student.locator("#lost").inner_text()
    assert "Connection lost" in lost and "goes on on your teacher's computer" in lost


def test_a_laptops_student_page_says_the_recording_goes_on_on_the_laptop(browser, tmp_path):
    room = Classroom(tmp_path / "ds", "1", [Seat("lia", "join")], protocol="quick")
    with serving(room) as links:
        student = browser.new_page()
        student.goto(links["lia"])
        student.wait_for_function("document.body.dataset.state === 'waiting'")
    # Its laptop (eeg4students join) keeps recording when the network is gone.
    student.wait_for_function("document.body.dataset.link === 'lost'", timeout=10_000)
    lost = student.locator("#lost").inner_text()
    assert "goes on on your laptop (its terminal shows the tasks)" in lost


def test_the_teachers_key_leaves_the_address_bar_for_a_strict_http_only_cookie(browser, served):
    room, links = served
    context = browser.new_context()
    teacher = context.new_page()
    teacher.goto(links["teacher"])
    teacher.wait_for_selector("section.tile >> nth=3")
    key = links["teacher"].split("token=")[1]
    assert key not in teacher.url and teacher.url.endswith("/")
    (cookie,) = [c for c in context.cookies() if c["value"] == key]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
    assert teacher.evaluate("document.cookie") == ""  # the page's scripts cannot read it
    teacher.reload()  # the cookie opens the page and its feed again
    teacher.wait_for_selector("section.tile >> nth=3")
    _tile(teacher, "ann").locator('[data-action="start"]').click()
    wait_until(lambda: room.headsets["ann"].state == "recording", 10, "ann's start")
    # The header's links open with the cookie alone: the printable sheet, the summary.
    with context.expect_page() as opened:
        teacher.locator("#sheet").click()
    sheet = opened.value
    sheet.wait_for_selector(".card svg")
    assert sheet.locator(".card").count() == 4
    # Another browser without the cookie gets nothing from the key-less addresses.
    stranger = browser.new_page()
    assert stranger.goto(teacher.url).status == 403
    assert stranger.goto(teacher.url + "sheet").status == 403


def _fake_headset(i: int, channels: list[str]) -> dict:
    """A headset as the server describes it, in one of the states a class goes through."""
    from eeg4students.contact import advice

    statuses = ["ready", "fix contact", "recording", "dropped", "done", "connecting"]
    status = statuses[i % len(statuses)]
    bad = {"fix contact": channels[:3]}.get(status, [])
    quality = [
        {
            "channel": c,
            "ptp_uv": 80.0 + j,
            "line_ratio": 0.1,
            "verdict": "too large" if c in bad else "ok",
        }
        for j, c in enumerate(channels)
    ]
    return {
        "participant": f"s{i + 1:02d}",
        "board": "synthetic",
        "state": {"fix contact": "connected", "ready": "connected", "done": "saved"}.get(
            status, "recording" if status == "recording" else "lost"
        ),
        "status": status,
        "fix": [advice(c, "too large") for c in bad],
        "restartable": status == "dropped",
        "message": "",
        "quality": quality,
        "samples": 25_000,
        "dropped": 3,
        "sfreq": 250.0,
        "step": "Recall" if status == "recording" else None,
        "left_s": 41.0,
        "next": "Breathe",
        "step_index": 3,
        "steps": 10,
        "saved": None,
        "prediction": {
            "label": "Recall",
            "rejected": None,
            "age_s": 0.2,
            "confidence": 0.72,
            "history": ["Think", "Count", "Recall"],
        }
        if status == "recording"
        else None,
    }


def test_thirty_headsets_fit_one_screen_with_a_word_for_each_and_a_count(browser, served):
    from eeg4students.boards import get_board

    _room, links = served
    channels = list(get_board("synthetic").eeg_names)  # 16 electrodes: the widest tiles
    page = browser.new_page(viewport={"width": 1920, "height": 1080})
    # The page as it looks with a class of 30: its feed answered here with made-up states.
    sockets = []
    page.route_web_socket(re.compile(r".*/ws$"), lambda ws: sockets.append(ws))
    page.goto(links["teacher"])
    wait_until(lambda: bool(sockets), 10, "the page's feed")
    headsets = [_fake_headset(i, channels) for i in range(30)]
    # Two students' own laptops: one recording but out of touch, one not joined yet.
    for h, status, state in (
        (headsets[28], "offline", "recording"),
        (headsets[29], "waiting", "waiting"),
    ):
        h.update(status=status, state=state, board="join", prediction=None)
        h["laptop"] = {"online": False, "heard_s": 4.0 if status == "offline" else None}
    counts: dict[str, int] = {}
    for h in headsets:
        counts[h["status"]] = counts.get(h["status"], 0) + 1
    state = {
        "dataset": "class",
        "session": "1",
        "protocol": "eeg4students",
        "order": ["Think", "Count", "Recall", "Breathe", "Draw"],
        "headsets": headsets,
        "counts": counts,
        "clock_s": 754.0,
        "time": 0,
        "links": {h["participant"]: f"/student/{h['participant']}" for h in headsets},
    }
    sockets[0].send(json.dumps(state))
    page.wait_for_selector("section.tile >> nth=29")
    summary = page.locator("#summary").inner_text()
    assert summary.startswith(
        "30 headsets: 5 fix contact · 1 offline · 5 dropped · 1 waiting · 4 connecting · 5 ready"
    )
    assert page.locator("#clock").inner_text() == "class clock 12:34"
    for h in headsets:
        tile = _tile(page, h["participant"])
        box = tile.bounding_box()
        assert box["y"] + box["height"] <= 1080 and box["x"] + box["width"] <= 1920, h
        status = tile.locator('[data-role="status"]').inner_text()
        assert status.endswith(h["status"]) and not status[0].isalnum()  # a sign, not colour only
        if h["status"] == "fix contact":
            fix = tile.locator('[data-role="fix"]')
            assert fix.is_visible() and "(+2 more)" in fix.inner_text()
            assert tile.locator(".chip.bad").count() == 3
        if h["status"] == "recording":  # the label, its confidence, the labels before it
            said = tile.locator('[data-role="prediction"]').inner_text()
            assert said == "prediction: Recall (72%) · before: Count, Think"
        restart = tile.locator('[data-action="restart"]')
        assert restart.is_visible() == (h["status"] == "dropped")
        where = tile.locator('[data-role="where"]').inner_text()
        assert where == ("laptop" if "laptop" in h else ""), h


def test_a_dropped_headset_restarted_from_its_tile_records_again(browser, served):
    room, links = served
    teacher = browser.new_page()
    teacher.goto(links["teacher"])
    teacher.wait_for_selector("section.tile >> nth=3")
    room.start("dan")
    wait_until(lambda: room.cue("dan")["kind"] == "task", 10, "dan's first task")
    room.headsets["dan"].stream.shim.stop_stream()  # the headset goes silent mid-session
    status = _tile(teacher, "dan").locator('[data-role="status"]')
    teacher.wait_for_function(
        """() => document.querySelector('section.tile[data-participant="dan"] '
            + '[data-role="status"]').textContent.endsWith('dropped')""",
        timeout=20_000,
    )
    assert "dropped" in teacher.locator("#summary").inner_text()
    restart = _tile(teacher, "dan").locator('[data-action="restart"]')
    assert restart.is_visible() and status.inner_text() == "✕ dropped"
    restart.click()
    wait_until(lambda: room.headsets["dan"].state == "connected", 20, "dan connected again")
    teacher.wait_for_function(
        """() => document.querySelector('section.tile[data-participant="dan"] '
            + '[data-action="restart"]').hidden""",
        timeout=10_000,
    )
    _tile(teacher, "dan").locator('[data-action="start"]').click()
    wait_until(lambda: room.headsets["dan"].state == "saved", 60, "dan's second recording")
    runs = sorted(r.path.name for r in find_recordings(room.dataset.root, "sub-dan/ses-4/eeg/*"))
    assert len(runs) == 2 and "run-1" in runs[0] and "run-2" in runs[1]
    meta = read_meta(find_recordings(room.dataset.root, "sub-dan/ses-4/eeg/*run-2*")[0].path)
    assert meta["interruption"] is None
