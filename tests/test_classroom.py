"""A classroom of BrainFlow synthetic headsets: timelines, markers, drop-outs, stops, the
web server's keys."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Lines
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from eeg4students.classroom import QUALITY_SECONDS, SAVERS, TAIL_SECONDS, Classroom
from eeg4students.cli import main
from eeg4students.events import task_blocks
from eeg4students.protocol import load_protocol
from eeg4students.roster import RosterError, Seat, parse_seat, read_roster
from eeg4students.simulate import Montage, simulate_to_dataset
from eeg4students.store import Dataset, read_meta
from eeg4students.store.paths import find_recordings
from eeg4students.training import train_model
from eeg4students.web import MAX_SOCKETS_PER_KEY, Keys, Server, bind, urls

# Sessions run in real time with BrainFlow's synthetic board.
pytestmark = pytest.mark.slow


def wait_until(predicate, timeout: float = 60.0, what: str = "the classroom") -> None:
    """Wait for a state the classroom reports (polled), failing after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    pause = threading.Event()
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not get there in {timeout:g} s"
        pause.wait(0.05)


@pytest.fixture
def room(tmp_path):
    """Three synthetic headsets, the quick protocol with 1-second tasks, ticking."""
    classroom = Classroom(
        tmp_path / "ds",
        "3",
        [Seat("a", "synthetic"), Seat("b", "synthetic"), Seat("c", "synthetic")],
        protocol="quick",
        task_seconds=1,
        timeout=1.0,
    )
    classroom.connect()
    loop = threading.Thread(target=classroom.run, daemon=True)
    loop.start()
    yield classroom
    classroom.shutdown()
    loop.join(timeout=10)


@pytest.fixture
def web(room):
    """The room's pages served on a free port: its keys and base URL."""
    keys = Keys()
    server = Server(room, keys, bind("127.0.0.1", 0))
    server.start()
    yield keys, server.url
    server.stop()


def _states(room) -> dict[str, str]:
    return {h["participant"]: h["state"] for h in room.snapshot()["headsets"]}


def test_every_headset_records_the_session_with_its_blocks(room):
    assert set(_states(room).values()) == {"connected"}
    wait_until(lambda: all(h["quality"] for h in room.snapshot()["headsets"]), 10, "quality")
    first = {h["participant"]: h["quality"] for h in room.snapshot()["headsets"]}
    wait_until(
        lambda: all(h["quality"] != first[h["participant"]] for h in room.snapshot()["headsets"]),
        5,
        "a new quality judgement",
    )
    snapshot = room.snapshot()
    assert sum(snapshot["counts"].values()) == 3 and snapshot["clock_s"] is None
    for h in snapshot["headsets"]:
        bad = [q["channel"] for q in h["quality"] if q["verdict"] != "ok"]
        assert h["status"] == ("fix contact" if bad else "ready")
        assert [f.split(" ")[0] for f in h["fix"]] == bad and not h["restartable"]
    assert room.start() == ["a", "b", "c"]
    assert room.start() == []  # already recording
    assert room.snapshot()["clock_s"] >= 0
    seen = set()

    def progressed() -> bool:
        seen.add(room.cue("b")["title"])
        return set(_states(room).values()) == {"saved"}

    wait_until(progressed, 60, "three saved recordings")
    order = list(load_protocol("quick").order("3"))
    assert set(order) | {"Get ready", "Rest"} <= seen
    dataset = Dataset(room.dataset.root)
    assert dataset.participants() == ["a", "b", "c"]
    for participant in "abc":
        raw = dataset.load(participant, "3", "eeg4students")
        blocks = task_blocks(raw)
        assert list(blocks["task"]) == order
        # Markers land on the 50 ms ticks; on a busy machine (three test workers on two
        # cores) a tick can come a few late.
        assert blocks["duration"].between(0.75, 1.25).all(), blocks["duration"].tolist()
        meta = read_meta(find_recordings(dataset.root, f"sub-{participant}/ses-3/eeg/*")[0].path)
        assert meta["interruption"] is None
        assert meta["samples_captured"] >= 0.99 * meta["samples_expected"]
        # Stored from Start to the tail: the seconds of waiting before Start (2.4 s here
        # before) and to be saved after the end (one headset after another) left out. Ticks
        # come late on a busy machine: half a second of slack.
        steps = room.steps
        assert abs(blocks["onset"].iloc[0] - steps[1].start) < 0.5, blocks["onset"].iloc[0]
        assert raw.times[-1] < steps[-1].end + TAIL_SECONDS + 0.5, raw.times[-1]
    assert not list((room.dataset.root / "sourcedata").rglob("*.csv"))
    assert room.cue("a")["title"] == "Done"


def test_a_headset_that_drops_out_is_saved_as_interrupted(room):
    room.start()
    wait_until(lambda: room.cue("a")["kind"] == "task", 10, "the first task")
    room.headsets["a"].stream.shim.stop_stream()  # the headset goes silent
    room.stop("b")  # the teacher stops another
    wait_until(lambda: _states(room)["a"] == "interrupted", 10, "a's drop-out")
    wait_until(lambda: _states(room)["b"] == "interrupted", 10, "b's stop")
    snapshot = {h["participant"]: h for h in room.snapshot()["headsets"]}
    assert "dropped out" in snapshot["a"]["message"]
    assert "stopped by the teacher" in snapshot["b"]["message"]
    assert _states(room)["c"] == "recording"
    dataset = Dataset(room.dataset.root)
    for participant, reason in (("a", "dropped out"), ("b", "stopped by the teacher")):
        raw = dataset.load(participant, "3", "eeg4students")
        assert "interrupted" in raw.annotations.description
        meta = read_meta(find_recordings(dataset.root, f"sub-{participant}/ses-3/eeg/*")[0].path)
        assert reason in meta["interruption"]
    assert room.cue("a")["kind"] == "stopped"


def test_a_connected_headset_stopped_before_recording_leaves_nothing(room):
    room.stop("c")
    assert _states(room)["c"] == "stopped"
    room.stop()
    room.shutdown()
    assert Dataset(room.dataset.root).participants() == []
    assert not list(room.dataset.root.rglob("*.csv"))


def test_rosters_and_headset_options(tmp_path):
    assert parse_seat("s01,muse_2,Muse-1234").connection == {"serial_number": "Muse-1234"}
    assert parse_seat("s01,cyton,/dev/ttyUSB0").connection == {"serial_port": "/dev/ttyUSB0"}
    assert parse_seat("s01,ganglion,00:11:22:33:44:55").connection == {
        "mac_address": "00:11:22:33:44:55"
    }
    assert parse_seat("m01,playback,/data/muse.csv,muse_2").connection == {
        "file": "/data/muse.csv",
        "master_board": "muse_2",
    }
    for bad, message in (
        ("s01", "PARTICIPANT,BOARD"),
        ("s-1,synthetic", "s-1"),
        ("s01,toaster", "toaster"),
        ("m01,playback,muse.csv", "PARTICIPANT,playback,FILE,MASTER_BOARD"),
        ("m01,playback,muse.csv,toaster", "toaster"),
    ):
        with pytest.raises(RosterError, match=message):
            parse_seat(bad)
    roster = tmp_path / "roster.csv"
    roster.write_text("participant,board,serial_number\ns01,muse_2,Muse-1\ns02,synthetic,\n")
    assert read_roster(roster) == [
        Seat("s01", "muse_2", {"serial_number": "Muse-1"}),
        Seat("s02", "synthetic", {}),
    ]
    roster.write_text("participant,board,name\ns01,muse_2,Ann\n")
    with pytest.raises(RosterError, match="unknown column 'name'"):
        read_roster(roster)
    # A rehearsal's loose contacts from the roster: synthetic headsets, their electrodes.
    roster.write_text("participant,board,loose\ns01,synthetic,c3; OZ\ns02,synthetic,\n")
    assert [s.loose for s in read_roster(roster)] == [("C3", "Oz"), ()]
    for row, message in (
        ("s01,muse_2,TP9", "only a synthetic headset"),
        ("s01,synthetic,TP9", "no electrode 'TP9'; it has Fz, C3"),
    ):
        roster.write_text(f"participant,board,loose\n{row}\n")
        with pytest.raises(RosterError, match=message):
            read_roster(roster)
    with pytest.raises(RosterError, match="given twice"):
        Classroom(tmp_path / "ds", "1", [Seat("a", "synthetic"), Seat("a", "synthetic")])


def test_the_cli_refuses_bad_rosters_in_one_line(tmp_path, capsys):
    status = main(["classroom", "--to", str(tmp_path / "ds"), "--session", "1"])
    err = capsys.readouterr().err
    assert status == 1 and err.count("\n") == 1 and "--headset" in err
    assert not (tmp_path / "ds").exists()
    args = ["classroom", "--to", str(tmp_path / "ds"), "--session", "1", "--headset", "a,x"]
    assert main(args) == 1
    assert "x" in capsys.readouterr().err


def test_the_cli_runs_a_rehearsal_to_the_end(tmp_path, capsys):
    status = main(
        [
            "classroom",
            "--to",
            str(tmp_path / "ds"),
            "--session",
            "2",
            "--headset",
            "a,synthetic",
            "--headset",
            "b,synthetic",
            "--protocol",
            "quick",
            "--task-seconds",
            "1",
            "--port",
            "0",
            "--start",
            "--exit-when-done",
        ]
    )
    out = capsys.readouterr().out
    assert status == 0, out
    assert "Teacher's page: http://127.0.0.1:" in out and "?token=" in out
    assert "a: saved -> sub-a/ses-2/eeg/sub-a_ses-2_task-eeg4students_run-1_eeg.vhdr" in out
    assert Dataset(tmp_path / "ds").participants() == ["a", "b"]


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def _post(url: str) -> tuple[int, dict]:
    request = urllib.request.Request(url, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, {}


def test_every_page_and_feed_needs_its_key(room, web):
    keys, base = web
    links = urls(base, room, keys)
    ws = base.replace("http", "ws")
    assert _get(links["teacher"])[0] == 200
    assert _get(links["a"])[0] == 200
    for url in (
        f"{base}/",
        f"{base}/?token=wrong",
        f"{base}/?token={keys.student('a')}",  # a student's key does not open the teacher's
        f"{base}/student/a",
        f"{base}/student/a?token={keys.student('b')}",
        f"{base}/student/zed?token={keys.teacher}",
    ):
        status, body = _get(url)
        assert (status, "token printed" in body) == (403, True), url
    assert _post(f"{base}/api/start?token={keys.student('a')}")[0] == 403
    assert _post(f"{base}/api/start?token={keys.teacher}&participant=zed")[0] == 404
    for url in (f"{ws}/ws", f"{ws}/ws?token={keys.student('a')}", f"{ws}/ws/student/a"):
        with pytest.raises(InvalidStatus):
            connect(url, open_timeout=10).close()
    with connect(f"{ws}/ws/student/a?token={keys.student('a')}", open_timeout=10) as feed:
        cue = json.loads(feed.recv(timeout=10))
    assert cue["participant"] == "a" and "headsets" not in cue
    assert not [v for v in cue.values() if v in ("b", "c")]  # no other participant named
    with connect(f"{ws}/ws?token={keys.teacher}", open_timeout=10) as feed:
        first = json.loads(feed.recv(timeout=10))
        second = json.loads(feed.recv(timeout=10))
    assert [h["participant"] for h in first["headsets"]] == ["a", "b", "c"]
    assert 0.1 < second["time"] - first["time"] < 1.0
    assert _post(f"{base}/api/start?token={keys.teacher}&participant=a") == (
        200,
        {"started": ["a"]},
    )
    assert _states(room)["a"] == "recording" and _states(room)["b"] == "connected"


def _raw_get(base: str, target: str, host: str | None = None) -> tuple[int, dict]:
    """GET with a chosen Host header (urllib always sends the URL's)."""
    import http.client
    from urllib.parse import urlsplit

    where = urlsplit(base)
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=10)
    try:
        connection.putrequest("GET", target, skip_host=True)
        connection.putheader("Host", host or where.netloc)
        connection.endheaders()
        response = connection.getresponse()
        response.read()
        return response.status, dict(response.getheaders())
    finally:
        connection.close()


def _feeds(url: str, **options) -> bool:
    """Whether a WebSocket to ``url`` opens and sends an update."""
    try:
        with connect(url, open_timeout=10, **options) as feed:
            json.loads(feed.recv(timeout=10))
        return True
    except Exception:
        return False


def test_malformed_keys_foreign_hosts_and_origins_are_refused(room, web):
    keys, base = web
    ws = base.replace("http", "ws")
    port = base.rsplit(":", 1)[1]
    # Any malformed key is a 403, never a 500.
    for token in ("%C3%A9", "%FF%FE", "%00", "x" * 5000, "%F0%9F%92%A9" * 10):
        assert _raw_get(base, f"/?token={token}")[0] == 403, token
    # A path the router would "fix" with a redirect is a 404: no Location built from
    # the request's Host, carrying the teacher's key.
    for path in ("/student/..%2f", "/student/a/", "/student/", "/ws/"):
        status, headers = _raw_get(base, f"{path}?token={keys.teacher}")
        assert status in (403, 404) and "location" not in {h.lower() for h in headers}
    # A page served to another name (a DNS-rebinding page) is refused.
    assert _raw_get(base, f"/?token={keys.teacher}", host=f"evil.example:{port}")[0] == 400
    assert _raw_get(base, f"/?token={keys.teacher}", host=f"localhost:{port}")[0] == 200
    feed_url = f"{ws}/ws?token={keys.teacher}"
    assert not _feeds(feed_url, additional_headers={"Host": f"evil.example:{port}"})
    # A WebSocket opened by a page of another site is refused, one of ours accepted.
    assert not _feeds(feed_url, origin="http://evil.example")
    assert _feeds(feed_url, origin=f"http://127.0.0.1:{port}")
    # One key holds a few feeds at once, not a hundred.
    url = f"{ws}/ws/student/a?token={keys.student('a')}"
    with contextlib.ExitStack() as stack:
        for _ in range(MAX_SOCKETS_PER_KEY):
            stack.enter_context(connect(url, open_timeout=10)).recv(timeout=10)
        assert not _feeds(url)
    wait_until(lambda: _feeds(url), what="a freed place")


def test_each_headset_shows_the_live_prediction_of_a_model(tmp_path):
    synthetic = Montage(("Fz", "C3", "Cz", "C4"), sfreq=250.0, rail_uv=None, resolution_uv=None)
    simulate_to_dataset(
        tmp_path / "train", 2, 1, seed=0, montage=synthetic, task_seconds=10, progress=False
    )
    saved = train_model(tmp_path / "train", "lda", "room", progress=False)
    simulate_to_dataset(tmp_path / "muse", 2, 1, seed=0, task_seconds=10, progress=False)
    muse = train_model(tmp_path / "muse", "lda", "muse", progress=False)
    with pytest.raises(RosterError, match="a's headset: Model 'muse' was trained on TP9"):
        Classroom(tmp_path / "no", "1", [Seat("a", "synthetic")], model=muse)
    assert not (tmp_path / "no").exists()
    with pytest.raises(RosterError, match="trained on TP9"):  # the model for other boards
        Classroom(tmp_path / "no", "1", [Seat("a", "synthetic")], model={"*": muse})
    # One model per board: the synthetic headset gets its own, a Muse would get the other.
    models = {"muse_2": muse, "SYNTHETIC": saved}
    room = Classroom(tmp_path / "ds", "1", [Seat("a", "synthetic")], model=models)
    assert room.model_for("muse_2") is muse and room.model_for("cyton") is None
    room.connect()
    loop = threading.Thread(target=room.run, daemon=True)
    loop.start()
    try:

        def history() -> list:
            shown = room.snapshot()["headsets"][0]["prediction"]
            return shown["history"] if shown else []

        wait_until(lambda: len(history()) >= 2, 30, "two predictions")
        prediction = room.snapshot()["headsets"][0]["prediction"]
        assert prediction["label"] in saved.card["classes"] or prediction["rejected"]
        assert set(history()) <= set(saved.card["classes"]) and len(history()) <= 5
        if not prediction["rejected"]:
            assert 1 / len(saved.card["classes"]) <= prediction["confidence"] <= 1
    finally:
        room.shutdown()
        loop.join(timeout=10)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _classroom(dataset) -> subprocess.Popen:
    argv = ["classroom", "--to", str(dataset), "--session", "1", "--headset", "a,synthetic"]
    argv += ["--protocol", "quick", "--port", "0", "--start"]
    # Standard error to a file, read at the end: a pipe nobody reads fills up and stops the
    # process. -X faulthandler: SIGABRT makes a stuck process print where each thread is.
    errors = Path(dataset).with_suffix(".err")
    errors.parent.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "eeg4students", *argv],
        stdout=subprocess.PIPE,
        stderr=errors.open("w"),
        text=True,
        preexec_fn=_ignore_sigint,
    )
    process.errors = errors
    return process


def _ended(process: subprocess.Popen, timeout: float) -> int:
    """The process's exit status; if it is stuck, where its threads are (then fail)."""
    try:
        return process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGABRT)
        process.wait(timeout=30)
        pytest.fail(f"still running after {timeout} s:\n{process.errors.read_text()}")


def test_ctrl_c_or_sigterm_ends_the_classroom_and_keeps_what_was_recorded(tmp_path):
    # Started with SIGINT ignored, as from a background job: the classroom's own handlers
    # still end it and store what each headset captured. One classroom per signal, at once.
    cases = {"int": (signal.SIGINT, 130), "term": (signal.SIGTERM, 143)}
    rooms = {name: _classroom(tmp_path / name) for name in cases}
    lines = {name: Lines(process.stdout) for name, process in rooms.items()}
    for name, process in rooms.items():
        lines[name].wait_for("Started: a")  # recording: the session's timeline is running
        process.send_signal(cases[name][0])
    for name, process in rooms.items():
        assert _ended(process, 60) == cases[name][1], process.errors.read_text()
        lines[name].wait_for("a: interrupted", timeout=30)
        out = lines[name].text()
        assert "a: interrupted -> sub-a/ses-1/eeg/" in out and "classroom was closed" in out
        raw = Dataset(tmp_path / name).load("a", "1", "eeg4students")
        assert "interrupted" in raw.annotations.description


def test_the_summary_csv_and_the_printable_sheet_of_student_links(room, web):
    import csv
    import io

    keys, base = web
    room.start()
    wait_until(lambda: set(_states(room).values()) == {"saved"}, 60, "three saved")
    status, text = _get(f"{base}/summary.csv?token={keys.teacher}")
    assert status == 200
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [r["participant"] for r in rows] == ["a", "b", "c"]
    for row in rows:
        assert row["status"] == "done" and row["recording"].endswith("_eeg.vhdr")
        assert float(row["share_kept"]) >= 0.99 and row["interrupted"] == ""
        assert 0 <= float(row["bad_channel_share"]) <= 1
    status, page = _get(f"{base}/sheet?token={keys.teacher}")
    assert status == 200
    for participant, link in urls(base, room, keys).items():
        if participant != "teacher":
            card = page.split(f'data-participant="{participant}"')[1].split("</div>")[0]
            assert "<svg" in card and link.replace("&", "&amp;") in card
    assert keys.teacher not in page  # students' keys only
    for path in ("/summary.csv", "/sheet", f"/sheet?token={keys.student('a')}"):
        assert _get(base + path)[0] == 403


def test_a_crashed_classroom_recording_recovers_from_its_start(tmp_path, capsys):
    import shutil

    from eeg4students.acquire import _note_path

    room = Classroom(tmp_path / "ds", "1", [Seat("a", "synthetic")], protocol="quick")
    room.connect()
    loop = threading.Thread(target=room.run, daemon=True)
    loop.start()
    try:
        wait_until(lambda: room.headsets["a"].stream.samples > 250, 10, "a second streamed")
        room.start("a")
        headset = room.headsets["a"]
        # Written to the partial file: the lead-in and half a second of the first task.
        written = headset.note["first_row"] + (room.steps[1].start + 0.5) * headset.spec.sfreq
        wait_until(lambda: headset.stream.samples >= written, 20, "the first task on disk")
        partial = headset.partial
        kept = tmp_path / "left" / partial.name  # what a crash would leave
        kept.parent.mkdir()
        shutil.copy(partial, kept)
        shutil.copy(_note_path(partial), _note_path(kept))
    finally:
        room.shutdown()
        loop.join(timeout=10)
    note = json.loads(_note_path(kept).read_text())
    assert note["first_row"] > 0
    damaged = dict(note, first_row=-1)
    _note_path(kept).write_text(json.dumps(damaged))
    assert main(["recover", str(kept), "--to", str(tmp_path / "rec")]) == 1
    assert "first_row" in capsys.readouterr().err
    assert not (tmp_path / "rec").exists()
    _note_path(kept).write_text(json.dumps(note))
    assert main(["recover", str(kept), "--to", str(tmp_path / "rec")]) == 0
    blocks = task_blocks(Dataset(tmp_path / "rec").load("a", "1", "eeg4students"))
    assert abs(blocks["onset"].iloc[0] - room.steps[1].start) < 0.3


def test_a_contact_loosened_in_the_roster_shows_from_the_start(tmp_path):
    seats = [Seat("a", "synthetic", loose=("C3",)), Seat("b", "synthetic")]
    room = Classroom(tmp_path / "ds", "1", seats, protocol="quick", task_seconds=1)
    room.connect()
    loop = threading.Thread(target=room.run, daemon=True)
    loop.start()
    try:
        tiles = lambda: {h["participant"]: h for h in room.snapshot()["headsets"]}  # noqa: E731
        wait_until(lambda: tiles()["b"]["status"] == "ready", 15, "b ready")
        wait_until(lambda: tiles()["a"]["status"] == "fix contact", 15, "a to need a fix")
        assert tiles()["a"]["loose"] == ["C3"] and tiles()["a"]["fix"][0].startswith("C3")
        assert room.rehearse_contact("a", loose=False) == []
        wait_until(lambda: tiles()["a"]["status"] == "ready", 15, "a fixed")
    finally:
        room.shutdown()
        loop.join(timeout=10)


def test_a_rehearsal_looks_real_and_rehearses_fixing_a_contact(room):
    def statuses() -> dict[str, str]:
        return {h["participant"]: h["status"] for h in room.snapshot()["headsets"]}

    # Synthetic headsets send EEG in EEG's range: every channel ok, the class ready.
    wait_until(lambda: set(statuses().values()) == {"ready"}, 15, "a ready class")

    def judged_on_a_full_window() -> dict | None:
        # The first judgements see less than QUALITY_SECONDS of EEG (a busy machine can
        # make one of them on half a second, with a smaller swing).
        tile = room.snapshot()["headsets"][1]
        streamed = tile["samples"] / tile["sfreq"] - (tile["quality_age_s"] or 0.0)
        return tile if tile["quality"] and streamed >= QUALITY_SECONDS + 0.1 else None

    wait_until(judged_on_a_full_window, 15, "a judgement on a full window")
    tile = judged_on_a_full_window()
    assert tile["rehearsal"] and tile["loose"] == []
    assert all(20 < q["ptp_uv"] < 300 and q["line_ratio"] < 0.5 for q in tile["quality"]), tile[
        "quality"
    ]
    assert room.rehearse_contact("b", loose=True) == ["Fz"]
    wait_until(lambda: statuses()["b"] == "fix contact", 15, "b's loose contact seen")
    (fix,) = next(h["fix"] for h in room.snapshot()["headsets"] if h["participant"] == "b")
    assert fix.startswith("Fz (scalp, middle): loose contact or movement - ")
    assert statuses()["a"] == "ready"
    assert room.rehearse_contact("b", loose=False) == []
    wait_until(lambda: statuses()["b"] == "ready", 15, "b fixed")
    with pytest.raises(RosterError, match="No participant"):
        room.rehearse_contact("zed", loose=True)


def test_a_session_stopped_before_any_sample_after_start_keeps_what_came_before(room):
    headset = room.headsets["a"]
    wait_until(lambda: headset.stream.samples > 0, 10, "a's first samples")
    with room._lock:  # no tick in between: Start and Stop with no sample after Start
        room.start("a")
        headset.stream.shim.stop_stream()
        headset.stream.shim.get_board_data()  # what arrived after Start is dropped
        room.stop("a")
    wait_until(lambda: headset.state == "interrupted", 30, "a stored")
    assert headset.saved_path, headset.message
    raw = Dataset(room.dataset.root).load("a", "3", "eeg4students")
    assert raw.n_times == headset.note["first_row"]


def test_classroom_models_per_board_from_the_command_line(tmp_path, capsys):
    roster = [
        "classroom",
        "--to",
        str(tmp_path / "ds"),
        "--session",
        "1",
        "--headset",
        "a,synthetic",
    ]
    assert main([*roster, "--model", "muse_3=x.skops"]) == 1
    assert "Unknown headset 'muse_3'" in capsys.readouterr().err
    assert main([*roster, "--model", "a.skops", "--model", "b.skops"]) == 1
    assert "two models for every headset" in capsys.readouterr().err
    assert not (tmp_path / "ds").exists()


def test_the_wait_to_be_saved_is_left_out_of_a_complete_session(room):
    saver_free = threading.Event()
    for _ in range(SAVERS):  # every saving thread busy with other headsets
        room._saving.submit(saver_free.wait, 60)
    room.start("a")
    headset = room.headsets["a"]
    wait_until(lambda: headset.state == "saving", 30, "a's session complete")
    # a keeps streaming while it waits: two seconds of samples pile up in BrainFlow.
    sfreq = headset.spec.sfreq
    wait_until(lambda: headset.stream.shim.get_board_data_count() >= 2 * sfreq, 20, "a wait")
    saver_free.set()
    wait_until(lambda: headset.state == "saved", 30, "a saved")
    raw = Dataset(room.dataset.root).load("a", "3", "eeg4students")
    assert raw.times[-1] < room.steps[-1].end + TAIL_SECONDS + 0.5, raw.times[-1]
