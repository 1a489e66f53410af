"""Covariance features and the Riemannian pipelines through train, predict, evaluate, forget."""

from __future__ import annotations

import numpy as np
import pytest
from pyriemann.geometry.covariance import covariances

from eeg4students.cli import main
from eeg4students.evaluation import evaluate
from eeg4students.features import FeatureParams, covariance_names
from eeg4students.featureset import compute_features
from eeg4students.preprocess import PreprocessParams, iter_blocks
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.training import train_model


@pytest.fixture(scope="module")
def small_class(tmp_path_factory):
    root = tmp_path_factory.mktemp("riemann") / "class"
    simulate_to_dataset(root, 3, 2, seed=2, task_seconds=12, progress=False)
    return root


def test_covariance_columns_are_the_windows_oas_covariance(small_class):
    dataset = Dataset(small_class)
    features = compute_features(dataset, feat=FeatureParams(covariance=True), progress=False)
    names = covariance_names(["TP9", "AF7", "AF8", "TP10"])
    assert features.feature_columns[-len(names) :] == names
    # Band-power features keep their cache key when covariance is off.
    plain = compute_features(dataset, progress=False)
    assert plain.folder != features.folder and "cov_TP9_TP9" not in plain.feature_columns
    ref = dataset.references()[0]
    block = next(
        iter_blocks(dataset.load(ref.participant, ref.session, ref.task), PreprocessParams())
    )
    first = block.starts[block.kept][0]
    window = round(2.0 * block.sfreq)
    expected = covariances(block.data[None, :, first : first + window], estimator="oas")[0]
    row = features.table[features.table["recording"] == ref.path.name[: -len("_eeg.vhdr")]].iloc[0]
    upper = np.triu_indices(4)
    np.testing.assert_allclose(row[names].to_numpy(float), expected[upper], rtol=1e-9)


def test_riemannian_models_train_predict_evaluate_and_forget(small_class, tmp_path, capsys):
    root = tmp_path / "class"
    import shutil

    shutil.copytree(small_class, root)
    recording = next(root.glob("sub-sim02/ses-2/eeg/*_eeg.vhdr"))
    # tmvts (TMV over RF, SVM and TS + LR) with a small forest, to keep the test quick.
    small = {"base_params": {"rf": {"n_estimators": 20}}}
    train_model(root, "tmvts", "tmvts", model_params=small, progress=False)
    for model in ("tslr", "mdm"):
        assert main(["train", str(root), "--model", model, "--name", model]) == 0
    for model in ("tslr", "mdm", "tmvts"):
        folder = root / "derivatives" / "eeg4students" / "models" / model
        assert main(["predict", str(folder), str(recording)]) == 0
    out = capsys.readouterr().out
    assert "Trained tslr" in out and "predicted" in out
    results = tmp_path / "results"
    argv = ["evaluate", str(root), "--scheme", "cross-session", "--models", "tslr,mdm,lda"]
    assert main([*argv, "--out", str(results)]) == 0
    printed = capsys.readouterr().out
    assert all(name in printed for name in ("tslr", "mdm", "lda"))
    assert main(["forget", str(root), "--participant", "sim03", "--yes"]) == 0
    forgot = capsys.readouterr().out
    assert "model tslr: retrain exact" in forgot and "model tmvts: retrain exact" in forgot
    for model in ("tslr", "tmvts"):
        folder = root / "derivatives/eeg4students/models" / model
        assert main(["predict", str(folder), str(recording)]) == 0


def test_tmvts_ranks_the_tangent_space_among_its_bases(small_class):
    small = {"base_params": {"rf": {"n_estimators": 20}}}
    saved = train_model(small_class, "tmvts", "tmvts", model_params=small, progress=False)
    assert saved.estimator.estimators[0][1].steps[-1][1].n_estimators == 20
    assert sorted(saved.card["tmv_ranking"]) == ["rf", "svm", "tslr"]
    columns = saved.card["feature_columns"]
    assert any(c.startswith("cov_") for c in columns) and not columns[0].startswith("cov_")
    # Each base sees its own columns: band powers for RF and SVM, matrices for TS + LR.
    for name, base in zip(saved.card["tmv_ranking"][:2], saved.estimator.estimators_, strict=True):
        picked = base.steps[0][1].columns
        kinds = {columns[i].startswith("cov_") for i in picked}
        assert kinds == ({True} if name == "tslr" else {False})
    features = compute_features(small_class, feat=FeatureParams(covariance=True), progress=False)
    result = evaluate(
        features.table,
        features.feature_columns,
        ["tmvts", "tmv"],
        "cross-session",
        model_params={"rf": {"n_estimators": 20}},
        progress=False,
    )
    pipelines = {"tmvts-block", "tmvts-causal", "tmv-block", "tmv-causal"}
    assert set(result.scores["pipeline"]) == pipelines
    ranked = result.tmv_ranking
    assert sorted(ranked.loc[ranked["model"] == "tmvts", "ranking"].iloc[0]) == [
        "rf",
        "svm",
        "tslr",
    ]


def test_a_riemannian_model_alone_needs_no_band_powers(small_class):
    features = compute_features(small_class, feat=FeatureParams(covariance=True), progress=False)
    only = [c for c in features.feature_columns if c.startswith("cov_")]
    result = evaluate(features.table, only, ["mdm"], "cross-session", progress=False)
    assert list(result.summary().columns) == ["mdm"]
