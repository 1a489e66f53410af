"""Recording with BrainFlow's synthetic and playback boards: sessions, faults, recovery."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
from brainflow.data_filter import DataFilter
from conftest import Lines

import eeg4students.acquire as acquire
from eeg4students.acquire import PARTIAL_DIR, RecordingInterrupted, check_signal, record_session
from eeg4students.cli import main
from eeg4students.events import task_blocks
from eeg4students.store import Dataset, read_meta

# Sessions run in real time with BrainFlow's synthetic board.
pytestmark = pytest.mark.slow


def _sidecar(ref) -> dict:
    return read_meta(ref.path)


def test_full_short_session(tmp_path, monkeypatch):
    copies = []
    original = acquire._store

    def keep_copy(partial, dataset, interruption=None, note=None):
        copies.append(shutil.copy(partial, tmp_path / "stream.csv"))
        return original(partial, dataset, interruption, note)

    monkeypatch.setattr(acquire, "_store", keep_copy)
    lines = []
    ref = record_session(
        "synthetic",
        "p01",
        "3",
        tmp_path / "ds",
        protocol="quick",
        task_seconds=2,
        show=lines.append,
    )
    raw = Dataset(tmp_path / "ds").load("p01", "3", "eeg4students")
    blocks = task_blocks(raw)
    assert list(blocks["task"]) == ["Think", "Breathe", "Recall", "Count", "Draw"]
    # Block onsets are the marker samples of the stream.
    stream = DataFilter.read_file(str(copies[0]))
    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    markers = stream[descr["marker_channel"]]
    starts = np.flatnonzero((markers >= 1) & (markers <= 99)) / descr["sampling_rate"]
    np.testing.assert_allclose(blocks["onset"], starts, atol=1 / descr["sampling_rate"])
    np.testing.assert_allclose(blocks["duration"], 2.0, atol=0.15)
    facts = _sidecar(ref)
    assert facts["board"] == "synthetic" and facts["brainflow_version"]
    assert facts["samples_captured"] >= 0.99 * facts["samples_expected"]
    assert facts["dropped_samples"] == 0 and facts["interruption"] is None
    assert any(line.startswith("[1/5] Think:") for line in lines)
    assert any("signal check" in line for line in lines)
    # Started without waiting (no confirm): the channels that need attention are summed
    # up in one warning instead of scrolling past (the synthetic board has such channels).
    verdicts = [line.split()[-1] for line in lines if "peak-to-peak" in line]
    bad = sum(v != "ok" for v in verdicts)
    warnings = [line for line in lines if line.startswith("warning:")]
    assert bad == 0 or (
        len(warnings) == 1 and f"{bad} of {len(verdicts)} channels need attention" in warnings[0]
    )
    assert not list((tmp_path / "ds" / PARTIAL_DIR).glob("*.csv"))


def test_signal_check_verdicts():
    rng = np.random.default_rng(0)
    t = np.arange(512) / 256
    data = np.vstack(
        [
            rng.normal(0, 10, 512),
            np.full(512, 3.0),
            rng.normal(0, 10, 512) + 200 * np.sin(2 * np.pi * 50 * t),
            rng.normal(0, 200, 512),
            np.where(np.arange(512) % 2, 1000.0, -1000.0),
        ]
    )
    check = check_signal(data, ["a", "b", "c", "d", "e"], 256.0, rail_uv=1000.0)
    assert [r["verdict"] for r in check.table] == [
        "ok",
        "flat",
        "line noise",
        "too large",
        "railed",
    ]
    assert not check.ok


def _short_playback_file(path: Path, seconds: float) -> Path:
    BoardShim.disable_board_logger()
    board = BoardShim(BoardIds.SYNTHETIC_BOARD.value, BrainFlowInputParams())
    board.prepare_session()
    board.start_stream()
    time.sleep(seconds)
    data = board.get_board_data()
    board.stop_stream()
    board.release_session()
    DataFilter.write_file(data, str(path), "w")
    return path


def test_disconnect_saves_what_was_captured(tmp_path):
    source = _short_playback_file(tmp_path / "short.csv", 4.0)
    connection = {"file": str(source), "master_board": "synthetic"}
    with pytest.raises(RecordingInterrupted, match="no samples from the headset") as info:
        record_session(
            "playback",
            "p02",
            "1",
            tmp_path / "ds",
            protocol="quick",
            task_seconds=2,
            timeout=1.0,
            connection=connection,
            show=lambda _: None,
            check_seconds=0.5,
        )
    ref = info.value.ref
    facts = _sidecar(ref)
    assert "no samples" in facts["interruption"]
    raw = Dataset(tmp_path / "ds").load("p02", "1", "eeg4students")
    assert "interrupted" in raw.annotations.description
    assert 3.0 < raw.times[-1] < 4.5


def _record_command(root: Path, participant: str, seconds: str = "3") -> list[str]:
    code = (
        "import sys; from eeg4students.cli import main; "
        f"sys.exit(main(['record', '--board', 'synthetic', '--participant', {participant!r}, "
        f"'--session', '1', '--to', {str(root)!r}, '--task-seconds', {seconds!r}, "
        "'--protocol', 'quick', '--yes']))"
    )
    return [sys.executable, "-c", code]


def _ignore_sigint() -> None:
    """In the child before it starts: SIGINT ignored, as a background job inherits it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(
    root: Path, participant: str, seconds: str, *, sigint_ignored: bool = False
) -> tuple[subprocess.Popen, Lines]:
    process = subprocess.Popen(
        _record_command(root, participant, seconds),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_ignore_sigint if sigint_ignored else None,
    )
    return process, Lines(process.stdout)


def test_ctrl_c_or_sigterm_saves_an_annotated_recording(tmp_path):
    # Started with SIGINT ignored (a background job, a service manager): the recorder's
    # own handlers still save what was captured. Both signals at once, one recorder each.
    cases = {
        "p03": (signal.SIGINT, 130, "stopped with Ctrl-C"),
        "p04": (signal.SIGTERM, 143, "stopped by SIGTERM"),
    }
    root = tmp_path / "ds"
    Dataset.create(root)
    started = {p: _start(root, p, "3", sigint_ignored=True) for p in cases}
    for participant, (process, lines) in started.items():
        lines.wait_for("[1/5]")  # the first task block is open and streaming to disk
        process.send_signal(cases[participant][0])
    for participant, (process, _) in started.items():
        _, status, reason = cases[participant]
        process.wait(timeout=120)
        err = process.stderr.read()
        assert process.returncode == status, err
        assert err.count("\n") == 1 and reason in err and "Traceback" not in err
        raw = Dataset(root).load(participant, "1", "eeg4students")
        assert "interrupted" in raw.annotations.description
        vhdr = next((root / f"sub-{participant}").rglob("*_eeg.vhdr"))
        assert reason in read_meta(vhdr)["interruption"]


def test_killed_recorder_is_recovered(tmp_path):
    root = tmp_path / "ds"
    process, lines = _start(root, "p04", "4")
    lines.wait_for("[2/5]")  # a whole block was recorded and flushed
    process.kill()
    killed_at = time.time()
    process.wait(timeout=30)
    partials = list((root / PARTIAL_DIR).glob("*.csv"))
    assert len(partials) == 1
    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    stream = DataFilter.read_file(str(partials[0]))
    last_sample = stream[descr["timestamp_channel"]][-1]
    at_risk = killed_at - last_sample
    assert at_risk < 1.5  # at most about one second was only in memory
    assert main(["recover", str(partials[0]), "--to", str(root)]) == 0
    raw = Dataset(root).load("p04", "1", "eeg4students")
    assert raw.n_times == stream.shape[1]
    assert "interrupted" in raw.annotations.description
    assert not list((root / PARTIAL_DIR).glob("*.csv"))


def test_two_headsets_into_one_dataset_at_once(tmp_path):
    root = tmp_path / "ds"
    Dataset.create(root)
    processes = [
        subprocess.Popen(
            _record_command(root, p, "2"),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for p in ("p05", "p06")
    ]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    dataset = Dataset(root)
    assert dataset.participants() == ["p05", "p06"]
    table = pd.read_csv(root / "participants.tsv", sep="\t")
    assert sorted(table["participant_id"]) == ["sub-p05", "sub-p06"]
    for person in ("p05", "p06"):
        assert len(task_blocks(dataset.load(person, "1", "eeg4students"))) == 5


def test_boards_command(capsys):
    assert main(["boards"]) == 0
    out = capsys.readouterr().out
    assert "muse_2" in out and "TP9, AF7, AF8, TP10" in out and "256.0" in out
    assert (
        main(
            [
                "record",
                "--board",
                "muse_3",
                "--participant",
                "p",
                "--session",
                "1",
                "--to",
                "x",
                "--yes",
            ]
        )
        == 1
    )
    assert "Unknown headset 'muse_3'" in capsys.readouterr().err


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    monkeypatch.delenv("EEG4STUDENTS_CRASH_AT", raising=False)
    yield
    os.environ.pop("EEG4STUDENTS_CRASH_AT", None)


MUSE_LSL = Path(__file__).resolve().parents[1] / "eeg4students/samples/muse-lsl"


def test_playback_replays_any_file_import_reads_converted_on_the_fly(tmp_path, capsys):
    from eeg4students.io import read_recording

    source = MUSE_LSL / "data_2017-09-27-14.50.29.csv"
    ref = record_session(
        "playback",
        "m01",
        "1",
        tmp_path / "ds",
        protocol="quick",
        task_seconds=1,
        connection={"file": str(source), "master_board": "muse_2"},
        show=lambda _: None,
        check_seconds=0.5,
    )
    stored = Dataset(tmp_path / "ds").load("m01", "1", "eeg4students")
    assert stored.ch_names[:4] == ["TP9", "AF7", "AF8", "TP10"]
    assert len(task_blocks(stored)) == 5 and read_meta(ref.path)["interruption"] is None
    # The samples are the file's own (in order, to the precision BrainFlow writes).
    original = read_recording(source).get_data(picks=["TP9", "AF7", "AF8", "TP10"])
    replayed = stored.get_data(picks=["TP9", "AF7", "AF8", "TP10"])
    start = int(np.argmin(np.abs(original - replayed[:, :1]).sum(axis=0)))
    np.testing.assert_allclose(replayed[:, :500], original[:, start : start + 500], atol=1e-9)
    assert not list(Path(tempfile.gettempdir()).glob("eeg4students-playback-*"))
    # A file whose channels do not fit the headset named: one clear sentence.
    openbci = Path(__file__).resolve().parents[1] / "eeg4students/samples/openbci-gui"
    status = main(
        ["record", "--board", "playback", "--file", str(next(openbci.glob("*.txt"))),
         "--master-board", "muse_2", "--participant", "m02", "--session", "1", "--to",
         str(tmp_path / "ds"), "--protocol", "quick", "--yes"]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert status == 1 and "records TP9, AF7, AF8, TP10" in err and len(err.splitlines()) == 1
