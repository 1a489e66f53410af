"""XDF import: files written here with known streams, markers and faults, and the examples."""

from __future__ import annotations

import struct
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

import numpy as np
import pytest
from conftest import SHARED_DATA, require

from eeg4students.errors import RecordingFormatError
from eeg4students.io import detect_format, read_with_notes

XDF_EXAMPLES = SHARED_DATA / "xdf-examples"


@dataclass
class Stream:
    """One stream to write: header fields, samples (n_samples, n_channels) and time stamps."""

    name: str
    kind: str
    rate: float
    fmt: str
    stamps: np.ndarray
    values: list | np.ndarray
    channels: list[tuple[str, str, str]] = field(default_factory=list)
    offsets: list[tuple[float, float]] = field(default_factory=list)


def _chunk(tag: int, content: bytes) -> bytes:
    length = len(content) + 2
    return b"\x08" + struct.pack("<Q", length) + struct.pack("<H", tag) + content


def _count(n: int) -> bytes:
    return b"\x04" + struct.pack("<I", n)


_NUMPY = {"float32": "<f4", "double64": "<f8", "int16": "<i2", "int32": "<i4"}


def write_xdf(path: Path, streams: list[Stream], *, datetime: str | None = None) -> Path:
    """Write an XDF 1.0 file as LabRecorder does: header, stream headers, samples, footers."""
    date = f"<datetime>{datetime}</datetime>" if datetime else ""
    head = f'<?xml version="1.0"?><info><version>1.0</version>{date}</info>'
    out = [b"XDF:", _chunk(1, head.encode())]
    for sid, s in enumerate(streams, start=1):
        n_channels = len(s.values[0]) if len(s.values) else max(len(s.channels), 1)
        desc = "".join(
            f"<channel><label>{escape(label)}</label><type>{kind}</type><unit>{unit}</unit></channel>"
            for label, kind, unit in s.channels
        )
        header = (
            f'<?xml version="1.0"?><info><name>{escape(s.name)}</name><type>{s.kind}</type>'
            f"<channel_count>{n_channels}</channel_count><nominal_srate>{s.rate}</nominal_srate>"
            f"<channel_format>{s.fmt}</channel_format><desc><channels>{desc}</channels></desc>"
            f"<uid>stream-{sid}</uid></info>"
        )
        out.append(_chunk(2, struct.pack("<I", sid) + header.encode()))
    for sid, s in enumerate(streams, start=1):
        for start in range(0, len(s.stamps), 100):  # chunks of 100 samples, as LSL sends
            body = [struct.pack("<I", sid), _count(len(s.stamps[start : start + 100]))]
            for stamp, value in zip(
                s.stamps[start : start + 100], s.values[start : start + 100], strict=True
            ):
                body.append(b"\x08" + struct.pack("<d", stamp))
                if s.fmt == "string":
                    for text in value:
                        raw = text.encode()
                        body.append(_count(len(raw)) + raw)
                else:
                    body.append(np.asarray(value, dtype=_NUMPY[s.fmt]).tobytes())
            out.append(_chunk(3, b"".join(body)))
        for when, offset in s.offsets:
            out.append(_chunk(4, struct.pack("<I", sid) + struct.pack("<dd", when, offset)))
    for sid, s in enumerate(streams, start=1):
        first = s.stamps[0] if len(s.stamps) else 0.0
        last = s.stamps[-1] if len(s.stamps) else 0.0
        footer = (
            f'<?xml version="1.0"?><info><first_timestamp>{first}</first_timestamp>'
            f"<last_timestamp>{last}</last_timestamp><sample_count>{len(s.stamps)}"
            "</sample_count></info>"
        )
        out.append(_chunk(6, struct.pack("<I", sid) + footer.encode()))
    path.write_bytes(b"".join(out))
    return path


RATE = 256.0
LABELS = ("TP9", "AF7", "AF8", "TP10")


def eeg_stream(
    rng: np.random.Generator,
    *,
    seconds: float = 20.0,
    start: float = 1000.0,
    unit: str = "microvolts",
    scale: float = 1.0,
    name: str = "Muse",
    jitter: float = 0.0,
) -> tuple[Stream, np.ndarray]:
    """A 4-channel EEG stream; returns it and its values in microvolts."""
    n = int(seconds * RATE)
    uv = rng.normal(0, 20, (n, 4)) + 10 * np.sin(2 * np.pi * 10 * np.arange(n) / RATE)[:, None]
    stamps = start + np.arange(n) / RATE + rng.uniform(-jitter, jitter, n)
    channels = [(label, "EEG", unit) for label in LABELS]
    return Stream(name, "EEG", RATE, "float32", stamps, uv * scale, channels), uv


def marker_stream(times: list[float], labels: list[str], name: str = "Markers") -> Stream:
    return Stream(name, "Markers", 0, "string", np.asarray(times), [[t] for t in labels])


def test_markers_land_on_the_eeg_samples_of_their_time_and_units_become_volts(tmp_path, rng):
    eeg, uv = eeg_stream(rng, unit="volts", scale=1e-6, jitter=0.0005)
    times = [1001.0, 1005.5, 1012.25]
    path = write_xdf(
        tmp_path / "rec.xdf",
        [eeg, marker_stream(times, ["think", "count", "end"])],
        datetime="2026-03-04T10:11:12+0100",
    )
    assert detect_format(path) == "xdf"
    raw, notes = read_with_notes(path)
    assert raw.ch_names == list(LABELS)
    assert raw.info["sfreq"] == RATE
    assert raw.n_times == uv.shape[0]
    # float32 in volts, read back in volts: the values the stream held
    np.testing.assert_allclose(raw.get_data() * 1e6, uv.T, rtol=1e-5, atol=1e-3)
    kept = [a for a in raw.annotations if not a["description"].startswith("BAD")]
    assert [a["description"] for a in kept] == ["think", "count", "end"]
    onsets = np.array([a["onset"] for a in kept])
    np.testing.assert_allclose(onsets, np.asarray(times) - 1000.0, atol=1.5 / RATE)
    assert raw.info["meas_date"].isoformat() == "2026-03-04T09:11:12+00:00"
    assert not raw.info["bads"]
    assert notes == []


def test_lost_samples_become_a_bad_gap_and_a_flat_channel_is_bad(tmp_path, rng):
    eeg, _ = eeg_stream(rng)
    keep = np.ones(len(eeg.stamps), bool)
    keep[int(5 * RATE) : int(7 * RATE)] = False  # two seconds lost on the way
    values = np.array(eeg.values)
    values[:, 3] = 0.0  # TP10 never touched the skin
    eeg.stamps, eeg.values = eeg.stamps[keep], values[keep]
    raw, notes = read_with_notes(write_xdf(tmp_path / "gap.xdf", [eeg]))
    gaps = [a for a in raw.annotations if a["description"] == "BAD_gap"]
    assert len(gaps) == 1
    assert gaps[0]["onset"] == pytest.approx(5.0, abs=0.05)
    assert gaps[0]["duration"] == pytest.approx(2.0, abs=0.05)
    assert raw.n_times == pytest.approx(20 * RATE, abs=2)
    assert raw.info["bads"] == ["TP10"]
    assert any("measurement date is unknown" in n for n in notes)


def test_several_eeg_streams_are_refused_until_one_is_chosen_by_name(tmp_path, rng):
    first, _ = eeg_stream(rng, name="Muse-A")
    second, uv = eeg_stream(rng, name="Muse-B")
    path = write_xdf(tmp_path / "two.xdf", [first, second])
    with pytest.raises(RecordingFormatError, match=r"several streams.*Muse-A.*Muse-B.*--stream"):
        read_with_notes(path)
    raw, _ = read_with_notes(path, stream="muse-b")
    np.testing.assert_allclose(raw.get_data() * 1e6, uv.T, rtol=1e-5, atol=1e-3)
    with pytest.raises(RecordingFormatError, match=r"no stream named or typed 'Emotiv'"):
        read_with_notes(path, stream="Emotiv")


def test_empty_streams_and_markers_outside_the_eeg_are_noted(tmp_path, rng):
    eeg, _ = eeg_stream(rng)
    empty = Stream("Gyro", "Motion", 50, "float32", np.array([]), [])
    path = write_xdf(
        tmp_path / "notes.xdf", [eeg, empty, marker_stream([1002.0, 1500.0], ["a", "late"])]
    )
    raw, notes = read_with_notes(path)
    assert [a["description"] for a in raw.annotations] == ["a"]
    assert any("without samples left out: Gyro" in n for n in notes)
    assert any("1 marker(s) outside" in n for n in notes)


def test_a_stream_that_is_no_eeg_is_refused_naming_what_the_file_holds(tmp_path, rng):
    path = write_xdf(tmp_path / "markers.xdf", [marker_stream([1.0, 2.0], ["a", "b"])])
    with pytest.raises(RecordingFormatError, match=r"no regular numeric stream with.*'Markers'"):
        read_with_notes(path)


@pytest.mark.parametrize("cut", [0.3, 0.7])
def test_damaged_files_are_refused_or_read_up_to_the_damage(tmp_path, rng, cut):
    eeg, _ = eeg_stream(rng)
    whole = write_xdf(tmp_path / "whole.xdf", [eeg]).read_bytes()
    path = tmp_path / "cut.xdf"
    path.write_bytes(whole[: int(len(whole) * cut)] + b"\xff" * 50)
    try:
        raw, notes = read_with_notes(path)
    except RecordingFormatError as exc:
        assert "cut.xdf" in str(exc)
    else:  # pyxdf reads the chunks before the damage: what is kept is the start of the stream
        assert any("it is damaged" in n for n in notes)
        assert 0 < raw.n_times < 20 * RATE
        np.testing.assert_allclose(raw.times[1], 1 / RATE)


def test_garbage_after_the_magic_is_a_clear_refusal(tmp_path):
    path = tmp_path / "bad.xdf"
    path.write_bytes(b"XDF:" + b"\x07" * 200)
    with pytest.raises(RecordingFormatError, match=r"bad\.xdf"):
        read_with_notes(path)


def test_import_command_adds_an_xdf_recording_with_its_markers(tmp_path, rng):
    eeg, _ = eeg_stream(rng, seconds=30)
    cue = marker_stream([1002.0, 1017.0], ["Think", "Count"])
    path = write_xdf(tmp_path / "rec.xdf", [eeg, cue])
    other, _ = eeg_stream(rng, name="Second")
    write_xdf(tmp_path / "two.xdf", [eeg, other])
    run = [sys.executable, "-m", "eeg4students", "import"]
    labels = ["--to", str(tmp_path / "class"), "--participant", "01", "--session", "1"]
    done = subprocess.run(
        [*run, str(path), *labels, "--task", "think"], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    events = next((tmp_path / "class").rglob("*_events.tsv")).read_text()
    assert "Think" in events and "Count" in events
    refused = subprocess.run(
        [*run, str(tmp_path / "two.xdf"), *labels, "--task", "count"],
        capture_output=True,
        text=True,
    )
    assert refused.returncode != 0
    assert "Traceback" not in refused.stderr and "--stream" in refused.stderr
    chosen = subprocess.run(
        [*run, str(tmp_path / "two.xdf"), *labels, "--task", "count", "--stream", "Second"],
        capture_output=True,
        text=True,
    )
    assert chosen.returncode == 0, chosen.stderr
    assert len(list((tmp_path / "class").rglob("*_eeg.vhdr"))) == 2


@pytest.mark.slow
def test_the_xdf_example_files():
    folder = require(XDF_EXAMPLES)
    raw, notes = read_with_notes(folder / "clock_resets.xdf")
    markers = [a for a in raw.annotations if not a["description"].startswith("BAD")]
    assert len(markers) == 175  # every marker of MyMarkerStream, on the EEG's clock
    assert any("was reset during the recording" in n for n in notes)
    assert raw.info["sfreq"] == 100
    with pytest.raises(RecordingFormatError, match=r"10 Hz is not plausible"):
        read_with_notes(folder / "minimal.xdf")  # 9 samples of 3 int16 channels at 10 Hz
    with pytest.raises(RecordingFormatError, match=r"1 Hz is not plausible"):
        read_with_notes(folder / "empty_streams.xdf")  # its one non-empty stream counts at 1 Hz


def test_a_folder_of_xdf_files_imports_with_labels_from_their_names(tmp_path, rng):
    folder = tmp_path / "lab"
    folder.mkdir()
    for name in ("p01-think-1.xdf", "p02-count-2.xdf"):
        eeg, _ = eeg_stream(rng, seconds=20)
        write_xdf(folder / name, [eeg, marker_stream([1005.0], ["go"])])
    (folder / "notes.txt").write_text("not a recording\n")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "eeg4students",
            "import",
            str(folder),
            "--to",
            str(tmp_path / "class"),
            "--pattern",
            "{participant}-{task}-{session}.xdf",
            "--n-jobs",
            "1",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
    assert "2 of 2 files imported" in done.stdout
    assert "notes.txt" in done.stdout + done.stderr  # left alone, and said so
    stored = sorted(p.name for p in (tmp_path / "class").rglob("*_eeg.vhdr"))
    assert stored == [
        "sub-p01_ses-1_task-think_run-1_eeg.vhdr",
        "sub-p02_ses-2_task-count_run-1_eeg.vhdr",
    ]
