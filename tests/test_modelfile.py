"""Model files are untrusted: only the exact types of the toolkit's own models load."""

from __future__ import annotations

import json
import shutil
import zipfile

import numpy as np
import pytest
import skops.io as sio
from sklearn.dummy import DummyClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

from eeg4students.cli import main
from eeg4students.errors import ModelError
from eeg4students.modelfile import ALLOWED_TYPES, check_model_file, load_model_file, schema_types
from eeg4students.models import MODEL_NAMES, fit_model
from eeg4students.modelstore import load_model
from eeg4students.names import CERTIFIED_MODELS
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.training import build_estimator, train_model


def exec_chain(marker) -> object:
    """A pipeline whose predict writes ``marker``: full_like -> ravel -> min -> exec.

    Each step is fitted on its own: fitting the pipeline would run the chain here.
    """
    code = f"open({str(marker)!r}, 'w').write('owned')"
    X = np.zeros((2, 3))
    steps = [
        FunctionTransformer(np.full_like, kw_args={"fill_value": code, "dtype": object}),
        FunctionTransformer(np.ravel),
        FunctionTransformer(min),
        FunctionTransformer(exec),
    ]
    return make_pipeline(*(s.fit(X) for s in steps), DummyClassifier().fit(X, ["a", "b"]))


def test_the_exec_chain_is_live_when_its_types_are_trusted(tmp_path):
    # The payload of the tests below really runs code if a loader trusts what it asks.
    path = tmp_path / "evil.skops"
    sio.dump(exec_chain(tmp_path / "ran"), path)
    model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
    with pytest.raises(Exception):  # noqa: B017 - exec returns None, the classifier then fails
        model.predict(np.zeros((2, 3)))
    assert (tmp_path / "ran").read_text() == "owned"


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    root = tmp_path_factory.mktemp("modelfile") / "lab"
    simulate_to_dataset(root, 3, 1, seed=6, task_seconds=10, progress=False)
    train_model(root, "rf", "m", model_params={"n_estimators": 10}, progress=False)
    return root


def _plant(folder, marker) -> None:
    sio.dump(exec_chain(marker), folder / "model.skops")


def test_predict_refuses_the_exec_chain_unread(lab, tmp_path, capsys):
    folder = tmp_path / "evil"
    shutil.copytree(lab / "derivatives" / "eeg4students" / "models" / "m", folder)
    marker = tmp_path / "ran"
    _plant(folder, marker)
    recording = next(lab.rglob("*_eeg.vhdr"))
    assert main(["predict", str(folder), str(recording)]) == 1
    err = capsys.readouterr().err
    assert "builtins.exec" in err and "does not trust" in err and err.count("\n") == 1
    assert not marker.exists()
    with pytest.raises(ModelError, match=r"numpy\.full_like"):
        load_model(folder)
    assert not marker.exists()


def test_forget_refuses_a_planted_model_before_changing_anything(lab, tmp_path, capsys):
    root = tmp_path / "lab"
    shutil.copytree(lab, root)
    planted = root / "derivatives" / "eeg4students" / "models" / "m"
    marker = tmp_path / "ran"
    _plant(planted, marker)
    before = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert main(["forget", str(root), "--participant", "sim01"]) == 1
    assert "does not trust" in capsys.readouterr().err
    assert not marker.exists()
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file()}
    assert {p for p in after if p.name != ".eeg4students.lock"} == {
        p for p in before if p.name != ".eeg4students.lock"
    }
    assert all(after[p] == content for p, content in before.items() if p in after)
    assert "sim01" in Dataset(root).participants()


def test_foreign_node_kinds_are_refused_even_for_allowed_names(tmp_path):
    # An allowed type rebuilt by a node kind the toolkit's models never use is refused.
    path = tmp_path / "m.skops"
    sio.dump(DummyClassifier().fit(np.zeros((2, 2)), ["a", "b"]), path)
    with zipfile.ZipFile(path) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    entries["schema.json"] = entries["schema.json"].replace(b'"ObjectNode"', b'"FunctionNode"', 1)
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    assert ("FunctionNode", "sklearn.dummy.DummyClassifier") in schema_types(path)
    with pytest.raises(ModelError, match="FunctionNode"):
        check_model_file(path)


@pytest.mark.parametrize("form", [None, "sharded", "certified"])
def test_every_model_the_toolkit_trains_is_on_the_allow_list(tmp_path, form):
    rng = np.random.default_rng(0)
    y = np.repeat(["a", "b", "c"], 40)
    # Covariance columns (3 x 3 upper triangles): every model, Riemannian ones too, fits them.
    windows = rng.normal(size=(120, 3, 32))
    windows[:, 0] *= 1 + np.repeat([0.0, 1.0, 2.0], 40)[:, None]
    cov = np.einsum("wcs,wds->wcd", windows, windows) / 32
    X = cov[:, [0, 0, 0, 1, 1, 2], [0, 1, 2, 1, 2, 2]]
    blocks = np.repeat(np.arange(6), 20).astype(str)
    people = np.repeat(["p1", "p2", "p3", "p4"], 30)
    unlearnable = {
        None: None,
        "sharded": {"kind": "sharded", "q": 0.5, "shards": 2},
        "certified": {"kind": "certified", "epsilon": 5.0},
    }[form]
    # tmvts takes band powers beside the matrices and routes them by name.
    both = np.hstack([rng.normal(size=(120, 2)), X])
    names = ["b0", "b1", "cov_0_0", "cov_0_1", "cov_0_2", "cov_1_1", "cov_1_2", "cov_2_2"]
    for name in CERTIFIED_MODELS if form == "certified" else MODEL_NAMES:
        params = {"rf": {"n_estimators": 5}, "tmvts": {"base_params": {"rf": {"n_estimators": 5}}}}
        params = params.get(name)
        X = both if name == "tmvts" else both[:, 2:]
        model = build_estimator(name, params, unlearnable, feature_columns=names)
        estimator = fit_model(model, X, y, blocks, people)
        path = tmp_path / f"{name}.skops"
        sio.dump(estimator, path)
        assert {t for _, t in schema_types(path)} <= ALLOWED_TYPES, name
        loaded = load_model_file(path)
        np.testing.assert_array_equal(loaded.predict(X), estimator.predict(X))


def test_damaged_model_files_are_clean_errors(tmp_path):
    path = tmp_path / "m.skops"
    for content in (b"", b"PK\x03\x04", b"not a zip at all"):
        path.write_bytes(content)
        with pytest.raises(ModelError, match="not a readable skops model"):
            load_model_file(path)
    with pytest.raises(ModelError, match="cannot read the model file"):
        load_model_file(tmp_path / "missing.skops")


def test_card_must_match_the_model(lab, tmp_path):
    folder = tmp_path / "m"
    shutil.copytree(lab / "derivatives" / "eeg4students" / "models" / "m", folder)
    card = json.loads((folder / "card.json").read_text())
    assert load_model(folder).card["classes"] == card["classes"]
    card["trained_on"]["participants"] = "sim01"
    (folder / "card.json").write_text(json.dumps(card))
    with pytest.raises(ModelError, match="must be a list of short texts"):
        load_model(folder)


def test_saved_trees_carry_no_leftover_memory(tmp_path):
    """Node records are padded; the padding must not carry old memory (a label) to disk."""
    from sklearn.ensemble import RandomForestClassifier

    from eeg4students.modelfile import save_model_file

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(200, 4)), rng.integers(0, 3, 200)
    forest = RandomForestClassifier(n_estimators=5, random_state=0).fit(X, y)
    expected = forest.predict_proba(X)
    tree = forest.estimators_[0].tree_
    state = tree.__getstate__()
    nodes = state["nodes"].copy()
    fields = nodes.dtype.fields
    used = max(fields[n][1] + fields[n][0].itemsize for n in nodes.dtype.names)
    assert used < nodes.dtype.itemsize  # there is padding to leak through
    raw = nodes.view(np.uint8).reshape(len(nodes), -1)
    raw[:, used : used + 5] = np.frombuffer(b"sim03", dtype=np.uint8)
    tree.__setstate__({**state, "nodes": nodes})  # as if the memory held a label before
    assert b"sim03" in tree.__getstate__()["nodes"].tobytes()
    path = tmp_path / "model.skops"
    save_model_file(forest, path)
    with zipfile.ZipFile(path) as archive:
        assert all(b"sim03" not in archive.read(name) for name in archive.namelist())
    back = load_model_file(path)
    np.testing.assert_allclose(back.predict_proba(X), expected)
