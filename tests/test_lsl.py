"""Lab Streaming Layer: recording, recovering and classifying live from outlets on loopback.

Every test sends from its own outlets (names made unique, as the suite's
workers share the network) in a thread that pushes samples in real time.
The EEG's second channel counts the samples sent, so what is stored can be
matched sample by sample with what was sent.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import numpy as np
import pytest
from conftest import Lines

from eeg4students.acquire import PARTIAL_DIR
from eeg4students.errors import BoardError
from eeg4students.io.brainflow_file import read_brainflow_file
from eeg4students.lsl import (
    LabelOutlet,
    LSLStream,
    MarkerOutlet,
    find_stream,
    local_clock,
)
from eeg4students.protocol import load_protocol
from eeg4students.store import Dataset

MUSE = ("TP9", "AF7", "AF8", "TP10")


def _lsl():
    from eeg4students.lsl import _lsl as bindings

    return bindings()


def _marker_inlet(name: str):
    """An open inlet on the marker stream ``name`` (found within 30 s)."""
    inlet = _lsl().StreamInlet(find_stream(name, markers=True, timeout=30))
    inlet.open_stream(timeout=30)
    return inlet


def unique(what: str) -> str:
    return f"{what}-{uuid.uuid4().hex[:10]}"


class Sender:
    """An LSL outlet sending EEG in real time; channel 2 counts the samples.

    Parameters
    ----------
    channels : tuple of str
        Labels (a trailing ``Right AUX`` is sent as muselsl does).
    units : str | None
        The unit the header gives (None: none given).
    scale : float
        Factor on the microvolt values sent (1e-6 sends volts).
    jump_after : float | None
        Seconds after which the time stamps start again 20 s earlier (a
        sender that restarted).
    markers : bool
        Also send a string marker stream: ``m<counter>`` every second,
        stamped with the time of that sample.
    """

    def __init__(
        self,
        channels=(*MUSE, "Right AUX"),
        sfreq: float = 256.0,
        *,
        units: str | None = "microvolts",
        scale: float = 1.0,
        jump_after: float | None = None,
        markers: bool = False,
    ) -> None:
        lsl = _lsl()
        self.name = unique("eeg")
        self.sfreq = sfreq
        self.scale = scale
        self.jump_after = jump_after
        self.n_channels = len(channels)
        info = lsl.StreamInfo(self.name, "EEG", len(channels), sfreq, "float32", self.name)
        info.set_channel_names(list(channels))
        info.set_channel_types(["eeg"] * len(channels))
        if units:
            info.set_channel_units([units] * len(channels))
        self.outlet = lsl.StreamOutlet(info)
        self.marker_name = unique("markers") if markers else None
        self.markers = MarkerOutlet(self.marker_name) if markers else None
        self.sent = 0
        self.marker_stamps: dict[int, float] = {}
        self._stop = threading.Event()
        self._rng = np.random.default_rng(0)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Sender:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(timeout=10)

    def _run(self) -> None:
        self.start = start = local_clock()
        while not self._stop.is_set():
            due = int((local_clock() - start) * self.sfreq)
            n = due - self.sent
            if n > 0:
                count = self.sent + np.arange(n)
                chunk = self._rng.normal(0, 20, (n, self.n_channels))
                chunk[:, 1] = count
                stamps = start + count / self.sfreq
                if self.jump_after is not None and local_clock() - start > self.jump_after:
                    stamps = stamps - 20.0
                self.outlet.push_chunk(
                    np.ascontiguousarray(chunk * self.scale, dtype=np.float32),
                    timestamp=stamps,
                )
                if self.markers is not None:
                    for c in count[count % round(self.sfreq) == 0]:
                        self.marker_stamps[int(c)] = float(start + c / self.sfreq)
                        self.markers.push(f"m{c}", when=start + c / self.sfreq)
                self.sent += n
            time.sleep(0.01)


def _run_cli(*argv: str, **kw) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-X", "faulthandler", "-m", "eeg4students", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kw,
    )


def _counter(raw) -> np.ndarray:
    return np.rint(raw.get_data(picks=["AF7"])[0] * 1e6).astype(np.int64)


def test_record_from_an_lsl_stream_keeps_its_samples_markers_and_cues(tmp_path):
    root = tmp_path / "ds"
    cues = unique("cues")
    with Sender(markers=True) as sender:
        process = _run_cli(
            "record",
            "--board",
            f"lsl:{sender.name}",
            "--participant",
            "s01",
            "--session",
            "1",
            "--to",
            str(root),
            "--protocol",
            "quick",
            "--markers",
            sender.marker_name,
            "--publish-markers",
            cues,
        )
        lines = Lines(process.stdout)
        lines.wait_for("signal check:", timeout=120)
        # The recorder waits at its check for Enter: the cue inlet opens before any cue.
        inlet = _marker_inlet(cues)
        process.stdin.write("\n")
        process.stdin.flush()
        received, cued = [], []
        while process.poll() is None:
            values, stamps = inlet.pull_chunk(timeout=0.2)
            received += [v[0] for v in values]
            cued += list(stamps.copy())
        values, stamps = inlet.pull_chunk(timeout=1.0)
        received += [v[0] for v in values]
        cued += list(stamps.copy())
        assert process.returncode == 0, process.stderr.read()
    text = lines.text()
    assert "4 EEG channels (TP9, AF7, AF8, TP10) at 256 Hz" in text
    assert "left out: Right AUX" in text
    order = ["Think", "Count", "Recall", "Breathe", "Draw"]  # session 1
    assert received == [f"task/{t}/{edge}" for t in order for edge in ("start", "end")]

    raw = Dataset(root).load("s01", "1", "eeg4students")
    counter = _counter(raw)
    steps = np.diff(counter)
    # Every sample from the first to the last kept, in order: at least 99% of what was sent.
    assert np.mean(steps == 1) >= 0.99
    assert len(counter) >= 0.99 * (counter[-1] - counter[0] + 1)
    blocks = [a for a in raw.annotations if a["description"].startswith("task/")]
    assert [a["description"] for a in blocks] == [f"task/{t}" for t in order]
    assert all(abs(a["duration"] - 5.0) < 0.1 for a in blocks)
    # Each block starts on the sample the sender stamped with the cue's time (LSL clock).
    for block, cue in zip(blocks, cued[::2], strict=True):
        sent_then = (cue - sender.start) * sender.sfreq
        assert abs(counter[round(block["onset"] * raw.info["sfreq"])] - sent_then) <= 2
    # Each marker of the marker stream on the sample it was stamped with.
    marks = [a for a in raw.annotations if a["description"].startswith("lsl/m")]
    assert len(marks) >= 25
    for mark in marks:
        index = round(mark["onset"] * raw.info["sfreq"])
        assert abs(counter[index] - int(mark["description"][5:])) <= 1
    meta = json.loads(next(root.rglob("*_eeg4students.json")).read_text())
    assert meta["board"] == f"lsl:{sender.name}" and meta["lsl_markers"] == sender.marker_name
    assert meta["samples_captured"] >= 0.99 * meta["samples_expected"]
    assert not list((root / PARTIAL_DIR).glob("*"))


def test_a_killed_lsl_recording_recovers_without_the_stream(tmp_path):
    root = tmp_path / "ds"
    with Sender(markers=True) as sender:
        process = _run_cli(
            "record",
            "--board",
            f"lsl:{sender.name}",
            "--participant",
            "s02",
            "--session",
            "2",
            "--to",
            str(root),
            "--protocol",
            "quick",
            "--yes",
            "--markers",
            sender.marker_name,
        )
        lines = Lines(process.stdout)
        lines.wait_for("[2/5]", timeout=120)  # a whole block recorded and flushed
        process.kill()
        process.wait(timeout=30)
    partials = list((root / PARTIAL_DIR).glob("*.csv"))
    assert len(partials) == 1
    assert (root / PARTIAL_DIR / (partials[0].stem + ".markers.tsv")).is_file()
    done = subprocess.run(
        [sys.executable, "-m", "eeg4students", "recover", str(partials[0]), "--to", str(root)],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    raw = Dataset(root).load("s02", "2", "eeg4students")
    assert "interrupted" in raw.annotations.description
    first = load_protocol("quick").order("2")[0]
    assert f"task/{first}" in raw.annotations.description
    assert any(d.startswith("lsl/m") for d in raw.annotations.description)
    assert np.mean(np.diff(_counter(raw)) == 1) >= 0.99
    assert not list((root / PARTIAL_DIR).glob("*"))


def test_a_classroom_records_an_lsl_headset_beside_a_brainflow_one_and_publishes(tmp_path):
    from test_classroom import wait_until

    from eeg4students.classroom import Classroom
    from eeg4students.events import task_blocks
    from eeg4students.roster import RosterError, Seat

    cues = unique("class-cues")
    with Sender() as sender:
        room = Classroom(
            tmp_path / "ds",
            "1",
            [Seat("bf", "synthetic"), Seat("ls", f"lsl:{sender.name}")],
            protocol="quick",
            task_seconds=1,
            publish=cues,
        )
        room.connect()
        states = {h["participant"]: h["state"] for h in room.snapshot()["headsets"]}
        assert states == {"bf": "connected", "ls": "connected"}
        lsl_tile = room.snapshot()["headsets"][1]
        assert lsl_tile["sfreq"] == 256.0 and not lsl_tile["rehearsal"]
        with pytest.raises(RosterError, match="real one"):
            room.rehearse_contact("ls", loose=True)
        inlet = _marker_inlet(cues)
        loop = threading.Thread(target=room.run, daemon=True)
        loop.start()
        received = []
        try:
            assert room.start() == ["bf", "ls"]

            def saved() -> bool:
                values, _ = inlet.pull_chunk(timeout=0.0)
                received.extend(v[0] for v in values)
                return {h["state"] for h in room.snapshot()["headsets"]} == {"saved"}

            wait_until(saved, 60, "two saved recordings")
            values, _ = inlet.pull_chunk(timeout=1.0)
            received.extend(v[0] for v in values)
        finally:
            room.shutdown()
            loop.join(timeout=10)
    order = list(load_protocol("quick").order("1"))
    dataset = Dataset(tmp_path / "ds")
    for participant in ("bf", "ls"):
        sent = [m.split("/", 1)[1] for m in received if m.startswith(f"sub-{participant}/")]
        assert sent == [f"task/{t}/{edge}" for t in order for edge in ("start", "end")]
        blocks = task_blocks(dataset.load(participant, "1", "eeg4students"))
        assert list(blocks["task"]) == order
    raw = dataset.load("ls", "1", "eeg4students")
    assert raw.ch_names == list(MUSE)
    assert np.mean(np.diff(_counter(raw)) == 1) >= 0.99


def test_a_laptop_joins_with_an_lsl_stream(tmp_path):
    from test_classroom import wait_until

    from eeg4students.classroom import Classroom
    from eeg4students.join import Joiner, parse_link
    from eeg4students.roster import Seat
    from eeg4students.web import serving

    room = Classroom(
        tmp_path / "teacher", "1", [Seat("j", "join")], protocol="quick", task_seconds=1
    )
    with Sender() as sender, serving(room) as links:
        laptop = Joiner(parse_link(links["j"]), f"lsl:{sender.name}", {}, tmp_path / "laptop")
        stop = threading.Event()
        laptop.prepare(10, stop)
        thread = threading.Thread(target=laptop.run, args=(stop,), daemon=True)
        thread.start()
        try:
            tile = lambda: room.snapshot()["headsets"][0]  # noqa: E731
            wait_until(lambda: tile()["state"] == "connected", 20, "the laptop's LSL stream")
            # The stream's own channels and rate, as its hello said (AUX left out).
            assert tile()["board"] == f"join: lsl:{sender.name}" and tile()["sfreq"] == 256.0
            assert {q["channel"] for q in tile()["quality"]} <= set(MUSE)
            assert room.start() == ["j"]
            wait_until(lambda: tile()["status"] == "done", 60, "the recording at the teacher")
            thread.join(timeout=30)
            assert laptop.done
        finally:
            stop.set()
            laptop.close()
    raw = Dataset(tmp_path / "teacher").load("j", "1", "eeg4students")
    assert raw.ch_names == list(MUSE)
    assert np.mean(np.diff(_counter(raw)) == 1) >= 0.99


def test_a_classroom_refuses_a_badly_named_lsl_seat(tmp_path):
    from eeg4students.roster import RosterError, parse_seat

    with pytest.raises(RosterError, match="LSL"):
        parse_seat("a,lsl:")


def test_no_such_stream_is_a_one_line_error_listing_the_streams_seen(tmp_path):
    with Sender() as sender:
        process = _run_cli(
            "record",
            "--board",
            "lsl:no-such-stream",
            "--participant",
            "s01",
            "--session",
            "1",
            "--to",
            str(tmp_path / "ds"),
            "--yes",
            "--timeout",
            "2",
        )
        _, err = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "Traceback" not in err and err.count("\n") == 1
    assert "'no-such-stream'" in err and sender.name in err
    assert not (tmp_path / "ds").exists()  # a refused session leaves nothing


def test_a_marker_stream_given_as_the_eeg_is_refused():
    with Sender(markers=True) as sender, pytest.raises(BoardError, match="is a marker stream"):
        find_stream(sender.marker_name, timeout=5)


@pytest.mark.parametrize(
    ("units", "scale", "said"),
    [
        ("microvolts", 1.0, "units from its header"),
        ("V", 1e-6, "units from its header"),
        ("0", 1e-6, "units from its header"),  # MNE-LSL's power of ten of volts
        (None, 1e-6, "read as volts"),
        (None, 1.0, "read as microvolts"),
    ],
)
def test_units_from_the_header_or_the_size_of_the_samples(tmp_path, units, scale, said):
    partial = tmp_path / "p.csv"
    with Sender(units=units, scale=scale) as sender:
        stream = LSLStream(f"lsl:{sender.name}", partial, timeout=10)
        spec = stream.start()
        deadline = time.monotonic() + 30
        while stream.samples < 256 and time.monotonic() < deadline:
            stream.flush()
            time.sleep(0.05)
        stream.stop()
    assert said in stream.summary
    raw = read_brainflow_file(partial, board=spec)
    steps = np.diff(_counter(raw))
    assert np.all(steps == 1)  # microvolts on disk, whatever the stream sent


def test_a_sender_whose_time_stamps_jump_back_is_continued(tmp_path):
    partial = tmp_path / "p.csv"
    with Sender(jump_after=1.5) as sender:
        stream = LSLStream(f"lsl:{sender.name}", partial, timeout=10)
        spec = stream.start()
        deadline = time.monotonic() + 30
        while stream.samples < 3 * 256 and time.monotonic() < deadline:
            stream.flush()
            time.sleep(0.05)
        stream.stop()
    assert stream.jumps == 1
    raw = read_brainflow_file(partial, board=spec)  # refused if the stamps went back
    assert np.all(np.diff(_counter(raw)) == 1)
    assert not [a for a in raw.annotations if a["description"] == "BAD_gap"]


def test_live_publishes_each_window_on_an_lsl_stream(tmp_path):
    from test_live import SYNTHETIC, _model_for

    saved = _model_for(SYNTHETIC)
    out = unique("labels")
    with Sender(SYNTHETIC.ch_names, SYNTHETIC.sfreq) as sender:
        process = _run_cli(
            "live",
            "--board",
            f"lsl:{sender.name}",
            "--model",
            str(saved.path),
            "--lag",
            "0.5",
            "--seconds",
            "60",
            "--lsl-out",
            out,
        )
        lines = Lines(process.stdout)
        lines.wait_for("Live classification", timeout=120)
        inlet = _marker_inlet(out)
        messages = []
        deadline = time.monotonic() + 60
        while len(messages) < 3 and time.monotonic() < deadline:
            values, stamps = inlet.pull_chunk(timeout=0.5)
            received = local_clock()
            messages += [
                (json.loads(v[0]), s, received) for v, s in zip(values, stamps.copy(), strict=True)
            ]
        process.send_signal(signal.SIGINT)
        process.communicate(timeout=60)
    assert len(messages) >= 3
    classes = {str(c) for c in saved.estimator.classes_}
    for message, stamp, received in messages:
        assert message["label"] in classes or message["rejected"]
        assert message["window_end"] == pytest.approx(stamp, abs=1e-6)
        # The window ended lag (0.5 s) before the newest sample: not in the future, not stale.
        assert received - 10 < stamp < received - 0.4
        if message["probabilities"] is not None:
            assert set(message["probabilities"]) == classes
            assert sum(message["probabilities"].values()) == pytest.approx(1, abs=1e-3)


def test_outlet_names_are_checked():
    with pytest.raises(BoardError, match="cannot name an LSL stream"):
        LabelOutlet("  ")


def test_partial_markers_file_name(tmp_path):
    from eeg4students.lsl import markers_path, read_markers

    partial = tmp_path / "sub-a_ses-1_x.csv"
    markers_path(partial).write_text("12.5\tgo\nbroken line\nnan\tx\n13.0\t\n", encoding="utf-8")
    assert read_markers(partial) == [(12.5, "go")]
    assert markers_path(partial) == Path(tmp_path / "sub-a_ses-1_x.markers.tsv")
