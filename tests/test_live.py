"""Live classification from BrainFlow's synthetic board."""

from __future__ import annotations

import pytest

from eeg4students.cli import main
from eeg4students.live import run_live
from eeg4students.modelstore import ModelError, train_model
from eeg4students.simulate import Montage, simulate_to_dataset

SYNTHETIC = Montage(
    ch_names=("Fz", "C3", "Cz", "C4"), sfreq=250.0, rail_uv=None, resolution_uv=None
)


@pytest.fixture(scope="module")
def synthetic_model(tmp_path_factory):
    root = tmp_path_factory.mktemp("live") / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, montage=SYNTHETIC, task_seconds=10, progress=False)
    return train_model(root, "tmv", "live", progress=False)


def test_live_on_the_synthetic_board(synthetic_model):
    seen = []
    updates = run_live(synthetic_model, "synthetic", seconds=4.5, on_update=seen.append)
    assert updates == seen and len(updates) >= 2
    classes = set(synthetic_model.card["classes"])
    for update in updates:
        assert update["rejected"] is not None or update["label"] in classes
        # Causal TMV: where the bases agree, that is the label.
        if update["rejected"] is None and update["top"] == update["second"]:
            assert update["label"] == update["top"]
    times = [u["time"] for u in updates]
    assert times == sorted(times)


def test_live_command_prints_labels(synthetic_model, capsys):
    argv = [
        "live",
        "--board",
        "synthetic",
        "--model",
        str(synthetic_model.path),
        "--seconds",
        "3.5",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "windows classified" in out and " s  " in out


def test_live_refuses_a_model_for_other_channels(tmp_path):
    root = tmp_path / "ds"
    simulate_to_dataset(root, 2, 1, seed=0, task_seconds=8, progress=False)
    muse = train_model(root, "lda", "muse", progress=False)
    with pytest.raises(ModelError, match="Train a model on recordings from this headset"):
        run_live(muse, "synthetic", seconds=1)
