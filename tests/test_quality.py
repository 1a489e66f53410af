"""One judge of signal quality: the same signal gets the same verdict from every caller."""

from __future__ import annotations

import types

import mne
import numpy as np
import pytest

from eeg4students import acquire, classroom, quality
from eeg4students.events import task_description
from eeg4students.io import read_recording
from eeg4students.preprocess import PreprocessParams, iter_blocks
from eeg4students.quality import FILE, LIVE, RAIL_UV, channel_verdicts, rail_of
from eeg4students.store import Dataset

SFREQ = 256.0
NAMES = ["good", "flat", "railed"]


def _signal(seconds: float = 20.0) -> np.ndarray:
    """EEG in uV: a good channel, a flat one, one clipped at the Muse's rail most of the time."""
    rng = np.random.default_rng(0)
    t = np.arange(int(seconds * SFREQ)) / SFREQ
    good = rng.normal(0, 15, t.size) + 20 * np.sin(2 * np.pi * 10 * t)
    flat = np.full(t.size, 12.0)
    railed = np.clip(3000 * np.sin(2 * np.pi * 1.5 * t) + rng.normal(0, 20, t.size), -1000, 1000)
    return np.vstack([good, flat, railed])


def _raw(data_uv: np.ndarray) -> mne.io.RawArray:
    raw = mne.io.RawArray(data_uv * 1e-6, mne.create_info(NAMES, SFREQ, "eeg"), verbose="error")
    with raw.info._unlock():
        raw.info["device_info"] = {"model": "muse"}
    raw.set_annotations(mne.Annotations([0.0], [raw.times[-1]], [task_description("Think")]))
    return raw


def test_one_rail_table_for_boards_and_devices():
    from eeg4students.boards import get_board

    assert get_board("muse_2").rail_uv == RAIL_UV["muse_2"] == rail_of("muse") == 1000.0
    assert get_board("cyton").rail_uv == rail_of("cyton") == 187500.0
    assert get_board("synthetic").rail_uv is None and rail_of(None) is None


def test_every_caller_gives_the_same_verdict(tmp_path):
    data = _signal()
    rail = rail_of("muse_2")
    judged = [v["verdict"] for v in channel_verdicts(data, LIVE, rail_uv=rail, sfreq=SFREQ)]
    assert judged == ["ok", "flat", "railed"]

    # record's signal check, and the classroom's tile (the same few seconds).
    checked = acquire.check_signal(data, NAMES, SFREQ, rail_uv=rail)
    assert [r["verdict"] for r in checked.table] == judged
    tile = types.SimpleNamespace(
        stream=types.SimpleNamespace(recent=lambda n: data[:, -n:]),
        spec=types.SimpleNamespace(eeg_names=NAMES, sfreq=SFREQ, rail_uv=rail),
        quality=None,
        quality_time=0.0,
        state="recording",
        judged=0,
        judged_bad=0,
    )
    classroom.Headset._judge(tile, now=1.0)
    assert tile.judged == len(NAMES) and tile.judged_bad == sum(v != "ok" for v in judged)
    assert [r["verdict"] for r in tile.quality] == judged

    # A reader marks the same channels bad in a whole file (here without a known rail,
    # the railed channel sits at its own extremes: stuck).
    path = tmp_path / "rec.edf"
    mne.export.export_raw(path, _raw(data), fmt="edf", verbose="error")
    assert read_recording(path).info["bads"] == ["flat", "railed"]
    assert [v["verdict"] != "ok" for v in channel_verdicts(data, FILE, rail_uv=rail)] == [
        False,
        True,
        True,
    ]

    # dataset info: the clipped share and the bad channels of the stored recording.
    raw = _raw(data)
    raw.info["bads"] = quality.bad_channels(data, NAMES, rail_uv=rail)
    dataset = Dataset.create(tmp_path / "ds")
    dataset.add_recording(raw, "p1", "1", "think")
    row = dataset.recordings().iloc[0]
    assert row["bad_channels"] == ["flat", "railed"]
    assert "clipped railed" in row["notes"] and "clipped good" not in row["notes"]
    assert "clipped flat" not in row["notes"]

    # Preprocessing rejects every window of the flat and railed channels, none of the good.
    def reasons(channel: str) -> set[str]:
        params = PreprocessParams(channels=(channel,), max_ptp_uv=None)
        found = set()
        for block in iter_blocks(_raw(data), params):
            found |= {name for name, n in block.counts().items() if n and name != "n_windows"}
        return found

    assert reasons("good") == {"kept"}
    assert reasons("flat") == {"plateau"}
    assert reasons("railed") == {"clipped"}


@pytest.mark.parametrize("limits", [LIVE, FILE])
def test_flat_wins_over_every_other_fault(limits):
    assert channel_verdicts(np.zeros((1, 512)), limits, rail_uv=0.0)[0]["verdict"] == "flat"
