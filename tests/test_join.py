"""Students' own laptops in a classroom (``eeg4students join``): the session recorded on
the laptop, its status on the teacher's page, the teacher's buttons, the recording sent as
a verified package, a network that drops, hostile laptops and packages."""

from __future__ import annotations

import contextlib
import hashlib
import json
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from conftest import Lines
from test_classroom import wait_until
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from eeg4students.classroom import Classroom
from eeg4students.cli import main
from eeg4students.events import task_blocks
from eeg4students.join import Joiner, JoinError, parse_link
from eeg4students.joined import ReportError, clean_hello, clean_report
from eeg4students.protocol import load_protocol
from eeg4students.remote import PackageError, ingest, package_participant
from eeg4students.roster import RosterError, Seat, parse_seat
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset, read_meta
from eeg4students.store.paths import find_recordings
from eeg4students.web import serving

# Sessions run in real time with BrainFlow's synthetic board.
pytestmark = pytest.mark.slow


class Cable:
    """A TCP relay between laptops and the teacher's server that can be cut and mended.

    ``cut()`` closes every connection through it at once (as a Wi-Fi drop does: no
    goodbye) and refuses new ones until ``mend()``.
    """

    def __init__(self, target_port: int) -> None:
        self.target = target_port
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.up = True
        self.live: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            if not self.up:
                client.close()
                continue
            upstream = socket.create_connection(("127.0.0.1", self.target))
            with self.lock:
                self.live += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(a: socket.socket, b: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := a.recv(65536):
                b.sendall(data)
        for s in (a, b):
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.up = False
        with self.lock:
            for s in self.live:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.live.clear()

    def mend(self) -> None:
        self.up = True

    def link(self, url: str) -> str:
        """The same link, through the relay."""
        rest = url.partition("://")[2].partition("/")[2]
        return f"http://127.0.0.1:{self.port}/{rest}"


@pytest.fixture
def room(tmp_path):
    """A laptop seat ``j`` and a headset on the teacher's computer ``h``, 1-second tasks."""
    return Classroom(
        tmp_path / "teacher",
        "2",
        [Seat("j", "join"), Seat("h", "synthetic")],
        protocol="quick",
        task_seconds=1,
        timeout=1.0,
    )


class Laptop:
    """A Joiner in a thread, its lines kept."""

    def __init__(self, url: str, folder: Path, board: str = "synthetic", **options) -> None:
        self.said: list[str] = []
        self.joiner = Joiner(parse_link(url), board, {}, folder, say=self.said.append, **options)
        self.stop = threading.Event()
        self.joiner.prepare(10, self.stop)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            self.joiner.run(self.stop)
        finally:
            self.joiner.close()

    def end(self) -> None:
        self.stop.set()
        self.thread.join(timeout=60)
        assert not self.thread.is_alive()


def _teacher(room, participant="j") -> dict:
    return next(h for h in room.snapshot()["headsets"] if h["participant"] == participant)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _check_complete(dataset: Path, participant: str, session: str, order) -> dict:
    raw = Dataset(dataset).load(participant, session, "eeg4students")
    assert list(task_blocks(raw)["task"]) == list(order)
    meta = read_meta(find_recordings(dataset, f"sub-{participant}/ses-{session}/eeg/*")[0].path)
    assert meta["samples_captured"] >= 0.99 * meta["samples_expected"]
    return meta


def test_a_laptop_joins_records_and_its_recording_reaches_the_teacher(room, tmp_path):
    with serving(room) as links:
        assert _teacher(room)["status"] == "waiting"
        laptop = Laptop(links["j"], tmp_path / "laptop")
        wait_until(lambda: _teacher(room)["status"] == "ready", 20, "the laptop's headset")
        tile = _teacher(room)
        assert tile["board"] == "join: synthetic" and tile["laptop"]["online"]
        assert {q["channel"] for q in tile["quality"]} == set(laptop.joiner.headset.spec.eeg_names)
        # The student's page says where the recording goes on when it loses its connection.
        assert room.cue("j")["recorder"] == "laptop" and room.cue("h")["recorder"] == "teacher"
        assert sorted(room.start()) == ["h", "j"]
        seen, cues = set(), set()

        def progressed() -> bool:
            tile = _teacher(room)
            seen.add((tile["status"], tile["step"]))
            cues.add(room.cue("j")["title"])
            return tile["status"] == "done" and _teacher(room, "h")["status"] == "done"

        wait_until(progressed, 60, "both recordings at the teacher")
        laptop.thread.join(timeout=30)
        assert not laptop.thread.is_alive() and laptop.joiner.done  # it ends by itself
    order = load_protocol("quick").order("2")
    assert {("recording", task) for task in order} <= seen  # the tile followed the laptop
    assert set(order) | {"Get ready", "Rest", "Done"} <= cues  # and so did the student's page
    meta = _check_complete(room.dataset.root, "j", "2", order)
    assert meta["interruption"] is None and meta["board"] == "synthetic"
    # The teacher's copy is the laptop's, byte for byte; nothing is left to send.
    for ref in find_recordings(tmp_path / "laptop", "sub-j/ses-2/eeg/*"):
        for path in ref.path.parent.glob(ref.path.name.replace("_eeg.vhdr", "*")):
            twin = room.dataset.root / path.relative_to(tmp_path / "laptop")
            assert _digest(twin) == _digest(path)
    assert not list((tmp_path / "laptop").rglob("*.zip"))
    assert not list((room.dataset.root).glob(".join-*"))
    row = next(r for r in room.summary() if r["participant"] == "j")
    assert row["status"] == "done" and row["recording"].endswith("_eeg.vhdr")
    assert row["share_kept"] > 0.99
    assert any("The teacher has your recording" in line for line in laptop.said)


def test_the_network_drops_and_the_recording_is_sent_when_it_is_back(room, tmp_path):
    with serving(room) as links:
        cable = Cable(int(links["j"].split(":")[2].split("/")[0]))
        laptop = Laptop(cable.link(links["j"]), tmp_path / "laptop")
        wait_until(lambda: _teacher(room)["status"] == "ready", 20, "the laptop's headset")
        room.start("j")
        wait_until(lambda: _teacher(room)["step"] == "Think", 20, "the first task")
        cable.cut()
        wait_until(lambda: _teacher(room)["status"] == "offline", 20, "the teacher to see it")
        assert "keeps recording" in _teacher(room)["message"]
        # The laptop records the whole session while cut off, and keeps its recording.
        headset = laptop.joiner.headset
        wait_until(lambda: headset.state == "saved", 60, "the laptop to finish")
        assert laptop.joiner.unsent and _teacher(room)["status"] == "offline"
        assert any("Lost touch with the teacher" in line for line in laptop.said)
        cable.mend()
        wait_until(
            lambda: _teacher(room)["status"] == "done",
            30,
            f"the recording to arrive {laptop.said}",
        )
        laptop.thread.join(timeout=30)
        assert laptop.joiner.done
    assert any("Back in touch" in line for line in laptop.said)
    meta = _check_complete(room.dataset.root, "j", "2", load_protocol("quick").order("2"))
    assert meta["interruption"] is None


def test_the_teachers_stop_and_restart_reach_the_laptop(room, tmp_path):
    with serving(room) as links:
        laptop = Laptop(links["j"], tmp_path / "laptop")
        wait_until(lambda: _teacher(room)["status"] == "ready", 20, "the laptop's headset")
        assert room.start("j") == ["j"]
        wait_until(lambda: _teacher(room)["step"] == "Think", 20, "the first task")
        room.stop("j")
        # Stored on the laptop with the interruption, sent, shown as stopped and restartable.
        wait_until(lambda: _teacher(room)["saved"] is not None, 30, "the stopped recording")
        tile = _teacher(room)
        assert tile["status"] == "stopped" and tile["restartable"]
        assert room.restart("j") is False  # the laptop connects; the tile follows
        wait_until(lambda: _teacher(room)["status"] == "ready", 20, "the headset again")
        assert room.start("j") == ["j"]
        wait_until(lambda: _teacher(room)["status"] == "done", 60, "the second run")
        laptop.thread.join(timeout=30)
        assert laptop.joiner.done
    refs = find_recordings(room.dataset.root, "sub-j/ses-2/eeg/*")
    assert [r.run for r in refs] == [1, 2]
    metas = [read_meta(r.path) for r in refs]
    assert metas[0]["interruption"] == "stopped by the teacher"
    assert metas[1]["interruption"] is None
    # The scans file lists both runs (the second package added a row to the first's).
    scans = (room.dataset.root / "sub-j/ses-2/sub-j_ses-2_scans.tsv").read_text()
    assert "run-1_eeg" in scans and "run-2_eeg" in scans


def _tree(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): _digest(p) for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def packages(tmp_path_factory) -> dict[str, Path]:
    """Packages of one participant's session 1, their session 2, and someone else."""
    root = tmp_path_factory.mktemp("packages")
    simulate_to_dataset(root / "a", 2, 2, seed=3, task_seconds=4, progress=False)
    simulate_to_dataset(root / "b", 1, 1, seed=4, task_seconds=4, progress=False)
    return {
        "p1-1": package_participant(root / "a", "sim01", root / "p1-1.zip", sessions=["1"]),
        "p1-2": package_participant(root / "a", "sim01", root / "p1-2.zip", sessions=["2"]),
        "p2-1": package_participant(root / "a", "sim02", root / "p2-1.zip", sessions=["1"]),
        "other-p1-1": package_participant(root / "b", "sim01", root / "b-p1-1.zip"),
    }


def test_a_package_sent_twice_adds_nothing_and_strangers_change_nothing(packages, tmp_path):
    target = tmp_path / "ds"
    _, added = ingest(packages["p1-1"], target, add_runs=True, participant="sim01", sessions=["1"])
    assert "sub-sim01/sub-sim01_sessions.tsv" in added
    assert all(n.startswith("sub-sim01/ses-1/") for n in added if "sessions" not in n)
    before = _tree(target)
    assert ingest(packages["p1-1"], target, add_runs=True) == ("sim01", [])
    assert _tree(target) == before
    refusals = {
        "p2-1": ({"participant": "sim01"}, "holds participant 'sim02'"),
        "p1-2": ({"sessions": ["1"]}, "holds session '2'"),
        # Another recording under the same name: refused, not overwritten.
        "other-p1-1": ({}, "already has a different"),
    }
    for name, (options, words) in refusals.items():
        with pytest.raises(PackageError, match=words):
            ingest(packages[name], target, add_runs=True, **options)
        assert _tree(target) == before, name
    # Without add_runs, a session the dataset has is refused as before.
    with pytest.raises(PackageError, match="already has sim01's ses-1"):
        ingest(packages["p1-1"], target, merge=True)


def _post(url: str, body: bytes, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {}, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_the_package_endpoint_refuses_wrong_keys_damage_and_strangers(room, packages):
    body = packages["p1-1"].read_bytes()
    good = {"X-SHA256": hashlib.sha256(body).hexdigest(), "Content-Type": "application/zip"}
    with serving(room) as links:
        base, _, query = links["j"].partition("/student/j")
        url = f"{base}/api/join/j/package{query}"
        before = _tree(room.dataset.root)
        cases = [
            (f"{base}/api/join/j/package?token=nope", body, good, 403),
            (f"{base}/api/join/h/package{query}", body, good, 403),  # j's key is not h's
            # h is not a laptop's seat (only a key that opens h learns that).
            (f"{base}/api/join/h/package?{links['teacher'].split('?')[1]}", body, good, 404),
            (f"{base}/api/join/nobody/package{query}", body, good, 403),
            (url, body, {**good, "X-SHA256": "0" * 64}, 400),  # damaged on the way
            (url, body, good, 422),  # a package of p1, not of j
            (url, b"PK\x03\x04 not a zip", {"X-SHA256": hashlib.sha256(b"x").hexdigest()}, 400),
        ]
        for target, data, headers, status in cases:
            code, answer = _post(target, data, headers)
            assert code == status, (target, answer)
            assert answer["error"]
        assert "holds participant 'sim01', not 'j'" in _post(url, body, good)[1]["error"]
        # Larger than any package: refused from its declared length, before reading it.
        request = urllib.request.Request(url, data=b"x", method="POST")
        request.add_header("Content-Length", str(2 * 1024**3))
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(request, timeout=30)
        assert refused.value.code == 413
        assert _tree(room.dataset.root) == before
        assert _teacher(room)["status"] == "waiting"


def test_hostile_laptop_messages_close_the_link_and_change_nothing(room):
    hello = {"type": "hello", "board": "synthetic", "channels": ["C3", "C4"], "sfreq": 250.0}
    report = {
        "type": "report",
        "state": "connected",
        "message": "<img src=x onerror=alert(1)>",
        "samples": 10,
        "dropped": 0,
        "step_index": -1,
        "elapsed_s": 0.0,
        "judged": 0,
        "judged_bad": 0,
        "dropped_out": False,
        "rehearsal": False,
        "loose": [],
        "saved": None,
        "quality": [{"channel": "C3", "ptp_uv": 40.0, "line_ratio": 0.1, "verdict": "ok"}],
    }
    bad = [
        ["not json"],
        [json.dumps(report)],  # a report before the hello
        [json.dumps({**hello, "channels": [f"c{i}" for i in range(65)]})],
        [json.dumps({**hello, "sfreq": float("nan")})],
        [json.dumps(hello), json.dumps({**report, "state": "hacked"})],
        [json.dumps(hello), json.dumps({**report, "samples": -1})],
        [
            json.dumps(hello),
            json.dumps({**report, "quality": [{**report["quality"][0], "channel": "X"}]}),
        ],
        [
            json.dumps(hello),
            json.dumps({**report, "quality": [{**report["quality"][0], "verdict": "fine"}]}),
        ],
        [json.dumps(hello), json.dumps({**report, "saved": "../../etc/passwd"})],
        [json.dumps(hello), json.dumps({**report, "step_index": 99})],
        [json.dumps(hello), "[" * 5000 + "]" * 5000],
    ]
    with serving(room) as links:
        url = links["j"].replace("http", "ws", 1).replace("/student/j", "/ws/join/j")
        for messages in bad:
            with connect(url) as socket_:
                for text in messages:
                    socket_.send(text)
                with pytest.raises(ConnectionClosed) as closed:
                    while True:
                        socket_.recv(timeout=10)
                assert closed.value.rcvd.code == 1008, messages
            assert _teacher(room)["status"] in ("waiting", "connecting"), messages
        # The same messages, well formed, are taken; text is kept as text (the page shows
        # it with textContent).
        with connect(url) as socket_:
            socket_.send(json.dumps(hello))
            socket_.send(json.dumps(report))
            wait_until(lambda: _teacher(room)["state"] == "connected", 10, "the report")
        assert _teacher(room)["message"] == report["message"]
        # A laptop with another key, or for a seat on the teacher's computer, is refused.
        for wrong in (url.replace("token=", "token=x"), url.replace("/ws/join/j", "/ws/join/h")):
            with pytest.raises(InvalidStatus), connect(wrong):
                pass


def test_reports_are_checked_field_by_field():
    hello = clean_hello({"board": "muse_2", "channels": ["TP9", "AF7"], "sfreq": 256})
    assert hello == {"board": "muse_2", "channels": ["TP9", "AF7"], "sfreq": 256.0}
    for bad in (
        {"board": "a\nb", "channels": ["x"], "sfreq": 1},
        {"board": "m", "channels": ["x", "x"], "sfreq": 1},
        {"board": "m", "channels": ["x"], "sfreq": True},
        [],
    ):
        with pytest.raises(ReportError):
            clean_hello(bad)
    with pytest.raises(ReportError, match="more bad checks"):
        clean_report(
            {
                "state": "recording",
                "message": "",
                "samples": 1,
                "dropped": 0,
                "quality": [],
                "step_index": 0,
                "elapsed_s": 1.0,
                "judged": 1,
                "judged_bad": 2,
                "dropped_out": False,
                "rehearsal": False,
                "loose": [],
                "saved": None,
            },
            ["TP9"],
            3,
        )


def test_links_and_seats_for_laptops(tmp_path, capsys):
    link = parse_link("http://192.168.1.20:8765/student/s01?token=abc")
    assert (link.base, link.participant, link.token) == ("http://192.168.1.20:8765", "s01", "abc")
    assert link.url("/ws/join/s01", "ws") == "ws://192.168.1.20:8765/ws/join/s01?token=abc"
    for bad in (
        "ftp://h/student/s01?token=a",
        "http://h/student/s01",
        "http://h/teacher?token=a",
        "http://h/student/s-1?token=a",
        "http://h:99999/student/s01?token=a",
        "s01",
    ):
        with pytest.raises(JoinError, match="not a student's link"):
            parse_link(bad)
    assert parse_seat("s01,join").board == "join"
    with pytest.raises(RosterError, match="give no address"):
        parse_seat("s01,join,Muse-1234")
    # The command line: one line and a non-zero exit, for the link, the board and a
    # classroom that is not there.
    cases = [
        (["join", "nope", "--board", "synthetic"], "not a student's link"),
        (["join", "http://127.0.0.1:9/student/s01?token=a", "--board", "join"], "not join"),
        (["join", "http://127.0.0.1:9/student/s01?token=a", "--board", "muse_9"], "muse_9"),
        (
            [
                "join",
                "http://127.0.0.1:9/student/s01?token=a",
                "--board",
                "synthetic",
                "--wait",
                "0",
                "--to",
                str(tmp_path / "l"),
            ],
            "Cannot reach the teacher's classroom",
        ),
    ]
    links = tmp_path / "links.json"
    links.write_text(json.dumps({"teacher": "http://127.0.0.1:9/?token=t", "s02": "x"}))
    url = "http://127.0.0.1:9/student/s01?token=a"
    cases += [
        (["join", url, "--links", str(links), "--board", "synthetic"], "or --links FILE"),
        (["join", "--links", str(links), "--board", "synthetic"], "needs --participant"),
        (
            ["join", "--links", str(links), "--participant", "s01", "--board", "synthetic"],
            "has no link for 's01'; it has: s02.",
        ),
        (
            ["join", "--links", str(tmp_path / "none.json"), "--participant", "s01", "--board",
             "synthetic", "--wait", "0"],
            "no such links file",
        ),
    ]  # fmt: skip
    for argv, words in cases:
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert words in err and "Traceback" not in err and len(err.strip().splitlines()) == 1


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _join(url: str, folder: Path) -> tuple[subprocess.Popen, Lines]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "eeg4students",
            "join",
            url,
            "--board",
            "synthetic",
            "--to",
            str(folder),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=_ignore_sigint,
    )
    return process, Lines(process.stdout)


def test_a_killed_laptop_recovers_at_the_next_join_and_sigterm_sends(tmp_path):
    room = Classroom(
        tmp_path / "teacher", "1", [Seat("j", "join")], protocol="quick", task_seconds=3
    )
    with serving(room) as links:
        first, lines = _join(links["j"], tmp_path / "laptop")
        lines.wait_for("waiting for the teacher to start", 60)
        wait_until(lambda: room.start("j") == ["j"], 30, "the laptop to be ready")
        lines.wait_for("task 1 of 5", 30)
        first.kill()  # a crash: the stream on disk is all that is left
        first.wait(30)
        second, lines = _join(links["j"], tmp_path / "laptop")
        lines.wait_for("Recovered a cut-off recording", 60)
        lines.wait_for("The teacher has your recording", 60)
        wait_until(lambda: room.start("j") == ["j"], 30, "the laptop to be ready again")
        lines.wait_for("task 1 of 5", 30)
        second.send_signal(signal.SIGTERM)  # stored as interrupted and sent before it ends
        assert second.wait(60) == 143, lines.text()
        assert "The teacher has your recording" in lines.text().split("task 1 of 5")[-1]
    metas = [read_meta(r.path) for r in find_recordings(room.dataset.root, "sub-j/ses-1/eeg/*")]
    assert len(metas) == 2
    assert metas[0]["interruption"] == "the recorder stopped unexpectedly"
    assert metas[1]["interruption"] == "stopped on the student's laptop"
