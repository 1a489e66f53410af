"""Training, saving with skops, model cards, loading, predicting."""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest

from eeg4students.errors import LabelError
from eeg4students.modelstore import ModelError, export_model, find_model, list_models, load_model
from eeg4students.predict import predict_recording
from eeg4students.simulate import Montage, simulate_recording, simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.training import train_model


@pytest.fixture(scope="module")
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp("models") / "ds"
    simulate_to_dataset(root, 3, 2, seed=2, task_seconds=20, progress=False)
    return Dataset(root)


@pytest.fixture(scope="module")
def saved(dataset):
    return train_model(dataset, "tmv", "class", participants=["sim01", "sim02"], progress=False)


def test_model_card_lists_what_the_model_saw(dataset, saved):
    card = json.loads((saved.path / "card.json").read_text())
    assert saved.path == dataset.root / "derivatives" / "eeg4students" / "models" / "class"
    assert (saved.path / "model.skops").is_file()
    trained = card["trained_on"]
    assert trained["participants"] == ["sim01", "sim02"]
    assert trained["sessions"] == [["sim01", "1"], ["sim01", "2"], ["sim02", "1"], ["sim02", "2"]]
    assert len(trained["recordings"]) == 4
    files = trained["recordings"][0]["files"]
    assert any(name.endswith("_eeg.eeg") for name in files)
    assert all(len(digest) == 64 for digest in files.values())
    assert card["channels"] == ["TP9", "AF7", "AF8", "TP10"] and card["sfreq"] == 256.0
    assert card["classes"] == sorted(["Think", "Count", "Recall", "Breathe", "Draw"])
    assert card["preprocess"]["window"] == 2.0 and card["features"]["bands"][0][0] == "delta"
    assert set(card["tmv_ranking"]) == {"rf", "svm"}
    assert card["toolkit_version"] and card["sklearn_version"]
    assert [m.card["name"] for m in list_models(dataset)] == ["class"]


def test_load_round_trip_predicts_the_same(dataset, saved):
    loaded = load_model(find_model(dataset, "class"))
    raw = dataset.load("sim01", "2", "eeg4students")
    a = predict_recording(saved, raw)
    b = predict_recording(loaded, raw)
    assert a.equals(b)
    assert list(a["task"]) == ["Breathe", "Think", "Count", "Recall", "Draw"]
    # A participant the model was trained on, a session it saw: mostly right.
    assert (a["predicted"] == a["task"]).mean() >= 0.6


def test_export_is_recorded_on_the_card(tmp_path, saved):
    out = export_model(saved, tmp_path / "copy")
    assert load_model(out).card["exported_from"] == str(saved.path)
    card = json.loads((saved.path / "card.json").read_text())
    assert str(out.resolve()) in card["exports"]


def test_mismatched_recording_and_bad_names(dataset, saved):
    montage = Montage(ch_names=("Fp1", "Fp2", "O1", "O2"), sfreq=256.0)
    other = simulate_recording(0, 1, montage=montage, task_seconds=5)
    with pytest.raises(ModelError, match="lacks channel"):
        predict_recording(saved, other)
    resampled = dataset.load("sim03", "1", "eeg4students").resample(128, verbose="error")
    with pytest.raises(ModelError, match="sampled at 128 Hz"):
        predict_recording(saved, resampled)
    with pytest.raises(ModelError, match="already has a model 'class'"):
        train_model(dataset, "rf", "class", progress=False)
    with pytest.raises(LabelError, match="model label"):
        train_model(dataset, "rf", "my model", progress=False)
    with pytest.raises(ModelError, match="no model 'nope'"):
        find_model(dataset, "nope")
    with pytest.raises(Exception, match="Unknown model 'xgb'"):
        train_model(dataset, "xgb", "x", progress=False)


def test_untrusted_file_is_refused(tmp_path, saved):
    import skops.io as sio

    folder = tmp_path / "evil"
    folder.mkdir()
    sio.dump({"payload": mne.Annotations([0], [1], ["x"])}, folder / "model.skops")
    (folder / "card.json").write_text("{}")
    with pytest.raises(ModelError, match="does not trust"):
        load_model(folder)
    with pytest.raises(ModelError, match="is not a saved model"):
        load_model(tmp_path)


def test_prediction_without_task_annotations_is_one_block(saved, dataset):
    raw = dataset.load("sim01", "1", "eeg4students")
    raw.set_annotations(mne.Annotations([], [], []))
    table = predict_recording(saved, raw)
    assert list(table["task"]) == ["unlabelled"] and table["windows"].iloc[0] > 60
    assert np.isfinite(table["agreement"].iloc[0])


def test_a_setting_the_model_refuses_leaves_a_new_dataset_as_it_was(tmp_path):
    # The first training of a dataset creates its feature caches (and the folders above
    # them); a model that then refuses its settings leaves none of it behind.
    root = tmp_path / "fresh"
    simulate_to_dataset(root, 2, 1, seed=1, task_seconds=10, progress=False)

    def files():
        return {
            p.relative_to(root).as_posix(): p.read_bytes() if p.is_file() else None
            for p in root.rglob("*")
            if p.name != ".eeg4students.lock"
        }

    before = files()
    with pytest.raises(ModelError, match=r"could not be trained.*n_estimators"):
        train_model(root, "rf", "x", model_params={"n_estimators": -3}, progress=False)
    assert files() == before
