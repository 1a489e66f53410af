"""The simulated classroom: protocol structure, realism, determinism, difficulty."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import welch
from sklearn.ensemble import RandomForestClassifier

from eeg4students.events import task_blocks
from eeg4students.protocol import load_protocol
from eeg4students.simulate import Montage, simulate_classroom, simulate_recording

PROTOCOL = load_protocol()


@pytest.mark.parametrize("session", [1, 2, 3, 4, 5, 6])
def test_blocks_follow_the_session_order(session):
    raw = simulate_recording(0, session, task_seconds=4)
    blocks = task_blocks(raw)
    assert tuple(blocks["task"]) == PROTOCOL.order(session)
    assert np.allclose(blocks["duration"], 4.0)
    gaps = np.diff(blocks["onset"])
    assert np.allclose(gaps, 4.0 + PROTOCOL.rest_seconds, atol=1 / 256)
    assert raw.ch_names == ["TP9", "AF7", "AF8", "TP10"] and raw.info["sfreq"] == 256


def test_deterministic_and_seeded():
    a = simulate_recording(2, 1, seed=5, task_seconds=5).get_data()
    b = simulate_recording(2, 1, seed=5, task_seconds=5).get_data()
    c = simulate_recording(2, 1, seed=6, task_seconds=5).get_data()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    # A participant's recording does not depend on who else was simulated.
    from_class = dict(((p, s), r) for p, s, r in simulate_classroom(3, 1, seed=5, task_seconds=5))
    np.testing.assert_array_equal(from_class[("sim03", "1")].get_data(), a)


def _longest_constant_run(row: np.ndarray) -> int:
    change = np.flatnonzero(np.diff(row) != 0)
    edges = np.concatenate([[-1], change, [len(row) - 1]])
    return int(np.diff(edges).max())


def test_real_world_artifacts_are_present():
    raws = [simulate_recording(p, 1, seed=0) for p in range(4)]
    data = np.concatenate([r.get_data() for r in raws], axis=1) * 1e6
    # Lost contact: some channel repeats one value for at least 1.4 s.
    assert max(_longest_constant_run(row) for row in data) >= int(1.4 * 256)
    # Clipping at the Muse rail, in a small share of samples.
    clipped = np.mean(np.abs(data) >= 999.5)
    assert 0 < clipped < 0.01
    # Blinks: frontal channels (AF7, AF8) carry more slow, large deflections.
    frontal = np.percentile(np.abs(data[1:3]), 99.5)
    temporal = np.percentile(np.abs(data[[0, 3]]), 99.5)
    assert frontal > 1.5 * temporal
    # Spectrum: 1/f with an alpha peak between 8.5 and 11.5 Hz.
    freqs, power = welch(raws[0].get_data()[0], 256, nperseg=1024)
    band = (freqs >= 7) & (freqs <= 13)
    peak = freqs[band][np.argmax(power[band])]
    assert 8 <= peak <= 12
    assert power[(freqs > 2) & (freqs < 4)].mean() > power[(freqs > 20) & (freqs < 30)].mean()


def test_any_montage():
    montage = Montage(
        ch_names=("Fp1", "Fp2", "C3", "C4", "P7", "P8", "O1", "O2"),
        sfreq=250.0,
        rail_uv=None,
        resolution_uv=None,
    )
    raw = simulate_recording(1, 1, montage=montage, task_seconds=3)
    assert raw.ch_names == list(montage.ch_names) and raw.info["sfreq"] == 250.0
    assert len(task_blocks(raw)) == 5


def _band_features(raw):
    raw = raw.copy().filter(1, 40, verbose="error")
    sfreq = raw.info["sfreq"]
    data = raw.get_data() * 1e6
    bands = [(1, 4), (4, 8), (8, 13), (13, 30), (30, 40)]
    rows, labels = [], []
    for block in task_blocks(raw).itertuples():
        start = int((block.onset + 0.3 * block.duration) * sfreq)
        stop = int((block.onset + block.duration) * sfreq)
        for w in range(start, stop - 2 * int(sfreq) + 1, int(sfreq)):
            seg = data[:, w : w + 2 * int(sfreq)]
            if np.ptp(seg, axis=1).max() > 200:
                continue
            freqs, power = welch(seg, sfreq, nperseg=int(sfreq))
            rows.append(
                np.log(
                    [power[:, (freqs >= lo) & (freqs < hi)].mean(1) for lo, hi in bands]
                ).ravel()
            )
            labels.append(block.task)
    return np.array(rows), np.array(labels)


def test_within_participant_is_clearly_easier_than_across():
    n = 5
    feats = {(p, s): _band_features(r) for p, s, r in simulate_classroom(n, 2, seed=11)}
    people = sorted({p for p, _ in feats})
    within, across = [], []
    for person in people:
        (x1, y1), (x2, y2) = feats[(person, "1")], feats[(person, "2")]
        model = RandomForestClassifier(100, random_state=0, n_jobs=1)
        within.append(model.fit(x1, y1).score(x2, y2))
        others = [feats[(q, s)] for q in people if q != person for s in ("1", "2")]
        model.fit(np.vstack([x for x, _ in others]), np.concatenate([y for _, y in others]))
        across.append(model.score(np.vstack([x1, x2]), np.concatenate([y1, y2])))
    # Five tasks: chance is 0.2. Cross-session within a person must be well above
    # chance and clearly above leave-participant-out.
    assert np.mean(within) > 0.4
    assert np.mean(within) > np.mean(across) + 0.15


def test_simulating_a_board_layout(tmp_path, capsys):
    from eeg4students.cli import main

    root = tmp_path / "rehearsal"
    argv = ["simulate", "--to", str(root), "--participants", "1", "--sessions", "1"]
    assert main([*argv, "--board", "synthetic", "--task-seconds", "4"]) == 0
    assert "(16 channels at 250 Hz)" in capsys.readouterr().out
    assert main([*argv, "--board", "playback"]) == 1
    assert "simulate that headset instead" in capsys.readouterr().err
