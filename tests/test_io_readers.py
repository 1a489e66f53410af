"""Each reader, on files the tests write in that format."""

from __future__ import annotations

import time

import mne
import numpy as np
import pytest
from brainflow.board_shim import BoardIds, BoardShim, BrainFlowInputParams
from brainflow.data_filter import DataFilter
from conftest import MUSE, muse_samples, write_mind_monitor, write_muse_lsl, write_openbci

from eeg4students.errors import RecordingFormatError
from eeg4students.events import BAD_GAP
from eeg4students.io import detect_format, read_recording

T0 = 1_700_000_000.0


def test_muse_lsl_reads_volts_names_date_and_markers(tmp_path, rng):
    data = muse_samples(rng)
    stamps = T0 + np.arange(data.shape[1]) / 256
    path = write_muse_lsl(tmp_path / "rec.csv", data, stamps, markers={100: "1", 900: "go"})
    raw = read_recording(path)
    assert raw.ch_names == list(MUSE)
    assert raw.get_channel_types() == ["eeg"] * 4
    assert raw.info["sfreq"] == 256.0
    np.testing.assert_allclose(raw.get_data(), data * 1e-6, atol=1e-9)
    assert raw.info["meas_date"].timestamp() == pytest.approx(T0, abs=1e-3)
    ann = raw.annotations
    assert list(ann.description) == ["1", "go"]
    np.testing.assert_allclose(ann.onset, [100 / 256, 900 / 256], atol=1e-5)


def test_muse_lsl_gap_is_filled_and_annotated_not_glued(tmp_path, rng):
    data = muse_samples(rng, 2000)
    index = np.arange(2000)
    index[1000:] += 128  # half a second lost in transit
    stamps = T0 + index / 256 + rng.uniform(-3e-4, 3e-4, 2000)  # host jitter
    raw = read_recording(write_muse_lsl(tmp_path / "gap.csv", data, stamps))
    assert raw.n_times == 2000 + 128
    gaps = raw.annotations[raw.annotations.description == BAD_GAP]
    assert len(gaps) == 1
    assert gaps.onset[0] == pytest.approx(1000 / 256, abs=1e-5)
    assert gaps.duration[0] == pytest.approx(128 / 256)
    # Samples after the gap keep their true time.
    np.testing.assert_allclose(raw.get_data()[:, 1128], data[:, 1000] * 1e-6, atol=1e-9)
    np.testing.assert_allclose(raw.get_data()[:, 999], data[:, 999] * 1e-6, atol=1e-9)


def test_mind_monitor_raw_columns_and_elements(tmp_path, rng):
    data = muse_samples(rng, 1024)
    path = write_mind_monitor(
        tmp_path / "mm.csv",
        data,
        T0,
        {10: "/muse/elements/blink", 512: "/Marker/1"},
    )
    assert detect_format(path) == "mind-monitor"
    raw = read_recording(path)
    assert raw.ch_names == list(MUSE)
    assert raw.n_times == 1024
    np.testing.assert_allclose(raw.get_data(), data * 1e-6, atol=1e-9)
    assert list(raw.annotations.description) == ["/muse/elements/blink", "/Marker/1"]
    np.testing.assert_allclose(raw.annotations.onset, [10 / 256, 512 / 256], atol=1e-5)


@pytest.mark.parametrize("v5", [False, True])
def test_openbci_cyton_formats(tmp_path, rng, v5):
    data = rng.normal(0, 20, (8, 1000))
    data[2] = 187500.0  # not connected: sits at the rail
    data[5] = 3.0  # flat
    path = write_openbci(tmp_path / "OpenBCI-RAW-x.txt", data, v5=v5)
    assert detect_format(path) == "openbci"
    raw = read_recording(path)
    assert raw.info["sfreq"] == 250.0
    assert raw.ch_names == [f"EXG{i}" for i in range(1, 9)]
    np.testing.assert_allclose(raw.get_data(), np.round(data, 2) * 1e-6, atol=1e-10)
    assert raw.info["bads"] == ["EXG3", "EXG6"]
    assert raw.info["meas_date"].timestamp() == pytest.approx(1_557_936_053.329)
    assert raw.info["device_info"]["model"] == "cyton"


def test_openbci_ganglion_daisy_names_markers_and_dropped_packets(tmp_path, rng):
    ganglion = read_recording(
        write_openbci(
            tmp_path / "g.txt", rng.normal(0, 20, (4, 400)), sfreq=200, board="Ganglion"
        ),
        ch_names=["Fp1", "Fp2", "O1", "O2"],
    )
    assert ganglion.info["sfreq"] == 200.0
    assert ganglion.ch_names == ["Fp1", "Fp2", "O1", "O2"]
    assert ganglion.info["device_info"]["model"] == "ganglion"

    daisy = read_recording(
        write_openbci(tmp_path / "d.txt", rng.normal(0, 20, (16, 300)), sfreq=125)
    )
    assert len(daisy.ch_names) == 16
    assert daisy.info["device_info"]["model"] == "cyton_daisy"

    index = np.arange(600)
    index[300:] += 5  # five samples lost over the radio
    raw = read_recording(
        write_openbci(
            tmp_path / "c.txt",
            rng.normal(0, 20, (8, 600)),
            index=index % 256,
            markers={50: 3.0},
        )
    )
    assert raw.n_times == 605
    gap = raw.annotations[raw.annotations.description == BAD_GAP]
    assert gap.onset[0] == pytest.approx(300 / 250, abs=1e-5)
    assert gap.duration[0] == pytest.approx(5 / 250)
    assert "3" in raw.annotations.description


def test_brainflow_file_from_the_synthetic_board(tmp_path):
    BoardShim.disable_board_logger()
    board = BoardShim(BoardIds.SYNTHETIC_BOARD.value, BrainFlowInputParams())
    board.prepare_session()
    try:
        board.start_stream()
        time.sleep(1.2)
        board.insert_marker(7)
        time.sleep(1.2)
        data = board.get_board_data()
        board.stop_stream()
    finally:
        board.release_session()
    path = tmp_path / "brainflow.csv"
    DataFilter.write_file(data, str(path), "w")
    assert detect_format(path) == "brainflow"
    with pytest.raises(RecordingFormatError, match="does not say which headset"):
        read_recording(path)
    with pytest.raises(RecordingFormatError, match="is the board right"):
        read_recording(path, board="muse_2")
    raw = read_recording(path, board="synthetic", marker_names={7.0: "task/Think"})
    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    assert raw.ch_names == descr["eeg_names"].split(",")
    assert raw.info["sfreq"] == descr["sampling_rate"]
    eeg = data[descr["eeg_channels"]]
    np.testing.assert_allclose(raw.get_data(), eeg * 1e-6, atol=1e-11)
    marker_at = int(np.flatnonzero(data[descr["marker_channel"]])[0])
    think = raw.annotations[raw.annotations.description == "task/Think"]
    assert think.onset[0] == pytest.approx(marker_at / descr["sampling_rate"], abs=1e-5)


def _synthetic_file(path, timestamps: np.ndarray) -> np.ndarray:
    """A BrainFlow file in the synthetic board's layout with the given timestamps."""
    descr = BoardShim.get_board_descr(BoardIds.SYNTHETIC_BOARD.value)
    data = np.zeros((BoardShim.get_num_rows(BoardIds.SYNTHETIC_BOARD.value), len(timestamps)))
    data[descr["eeg_channels"]] = np.random.default_rng(0).normal(0, 10, (16, len(timestamps)))
    data[descr["timestamp_channel"]] = timestamps
    DataFilter.write_file(data, str(path), "w")
    return data


def test_brainflow_samples_that_arrive_late_in_a_burst_are_not_lost(tmp_path):
    t = 1_700_000_000.0 + np.arange(2000) / 250
    # The connection (or a busy machine) stalls for 0.75 s, then delivers the
    # samples it held all at once: late, not lost.
    late = t.copy()
    late[500:688] = t[688] - (688 - np.arange(500, 688)) * 1e-5
    _synthetic_file(tmp_path / "late.csv", late)
    raw = read_recording(tmp_path / "late.csv", board="synthetic")
    assert raw.n_times == 2000
    assert "BAD_gap" not in raw.annotations.description
    # Samples really lost: the clock runs on with nothing for 0.5 s.
    kept = np.r_[0:1000, 1125:2000]
    _synthetic_file(tmp_path / "lost.csv", t[kept])
    raw = read_recording(tmp_path / "lost.csv", board="synthetic")
    assert raw.n_times == 2000
    gap = raw.annotations[raw.annotations.description == "BAD_gap"]
    assert gap.onset[0] == pytest.approx(1000 / 250, abs=0.02)
    assert gap.duration[0] == pytest.approx(0.5, abs=0.02)


def _mne_raw(rng) -> mne.io.RawArray:
    info = mne.create_info(list(MUSE), 256.0, "eeg")
    raw = mne.io.RawArray(rng.normal(0, 20e-6, (4, 2560)), info, verbose="error")
    raw.set_meas_date(T0)
    raw.set_annotations(mne.Annotations([1.0], [2.0], ["task/Think"], orig_time=T0))
    return raw


@pytest.mark.parametrize(
    ("fmt", "name", "atol"),
    [
        ("fif", "rec_raw.fif", 1e-12),
        ("edf", "rec.edf", 0.05e-6),
        ("brainvision", "rec.vhdr", 1e-9),
    ],
)
def test_standard_formats_through_mne(tmp_path, rng, fmt, name, atol):
    raw = _mne_raw(rng)
    path = tmp_path / name
    if fmt == "fif":
        raw.save(path, verbose="error")
    else:
        mne.export.export_raw(path, raw, fmt=fmt, verbose="error")
    assert detect_format(path) == fmt
    back = read_recording(path)
    assert back.ch_names == list(MUSE)
    np.testing.assert_allclose(back.get_data()[:, :2560], raw.get_data(), atol=atol)
    assert "task/Think" in back.annotations.description


def test_bdf_is_recognised_from_content(tmp_path, rng):
    path = tmp_path / "rec.bdf"
    mne.export.export_raw(path.with_suffix(".edf"), _mne_raw(rng), verbose="error")
    # A BDF header starts with 0xFF "BIOSEMI"; content decides, not the name.
    path.write_bytes(b"\xffBIOSEMI" + path.with_suffix(".edf").read_bytes()[8:])
    assert detect_format(path) == "bdf"


def test_format_comes_from_content_not_extension(tmp_path, rng):
    data = muse_samples(rng, 600)
    path = write_muse_lsl(tmp_path / "recording.txt", data, T0 + np.arange(600) / 256)
    assert detect_format(path) == "muse-lsl"
    assert read_recording(path).n_times == 600


def test_unknown_option_is_named(tmp_path, rng):
    path = write_muse_lsl(tmp_path / "r.csv", muse_samples(rng, 300), T0 + np.arange(300) / 256)
    with pytest.raises(RecordingFormatError, match="no option 'board'"):
        read_recording(path, board="muse_2")


@pytest.mark.parametrize("cell", ["inf", "nan", "-1e308", "", "-3", "7.5"])
def test_openbci_sample_counter_with_a_broken_cell_is_not_used_for_gaps(tmp_path, rng, cell):
    # Found by the import property test: a counter cell of "inf" crashed the reader.
    path = write_openbci(tmp_path / "c.txt", rng.normal(0, 20, (8, 600)))
    lines = path.read_text().splitlines()
    row = lines[5 + 16].split(", ")
    row[0] = cell
    lines[5 + 16] = ", ".join(row)
    path.write_text("\n".join(lines) + "\n")
    raw = read_recording(path)
    assert raw.n_times == 600
    assert BAD_GAP not in raw.annotations.description
