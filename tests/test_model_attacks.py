"""Model files made to harm: out-of-range trees, huge arrays, deep JSON, hostile parameters.

Every crafted file is loaded and used by ``eeg4students predict`` in a forked
child under a 2 GB memory cap and a time limit (:mod:`isolated`), so that a
crash, a memory blow-up or a hang shows as such. Each must end in one clean
error line, or (a kd-tree, which is never trusted but rebuilt) in the same
predictions as the genuine model.
"""

from __future__ import annotations

import contextlib
import io
import json
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
from isolated import run_isolated

from eeg4students.cli import main
from eeg4students.simulate import simulate_to_dataset
from eeg4students.training import train_model

#: saved name -> (model, settings)
MODELS = {
    "rf": ("rf", {"n_estimators": 8}),
    "gb": ("gb", {"n_estimators": 4}),
    "knn": ("knn", {}),
    "knnkd": ("knn", {"algorithm": "kd_tree"}),
    "svm": ("svm", {}),
    "tslr": ("tslr", {}),
    "tmv": ("tmv", {}),
    "ada": ("ada", {"n_estimators": 5}),
    "cert": ("lr", {}),
}
#: Saved models trained in an unlearnable form.
FORMS = {"cert": {"kind": "certified", "epsilon": 1.0}}


@pytest.fixture(scope="module")
def lab(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("attacks") / "lab"
    simulate_to_dataset(root, 3, 1, seed=8, task_seconds=10, progress=False)
    for name, (model, params) in MODELS.items():
        train_model(
            root, model, name, model_params=params, unlearnable=FORMS.get(name), progress=False
        )
    return root


@pytest.fixture(scope="module")
def recording(lab) -> Path:
    return next(lab.rglob("*_eeg.vhdr"))


def predict(folder: Path, recording: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(["predict", str(folder), str(recording)])
    return status, out.getvalue(), err.getvalue()


def copy_model(lab: Path, name: str, tmp: Path) -> Path:
    folder = tmp / name
    shutil.copytree(lab / "derivatives" / "eeg4students" / "models" / name, folder)
    return folder


class ModelFile:
    """A skops file's entries, edited in memory and written back."""

    def __init__(self, folder: Path) -> None:
        self.path = folder / "model.skops"
        with zipfile.ZipFile(self.path) as archive:
            self.entries = {n: archive.read(n) for n in archive.namelist()}
        self.schema = json.loads(self.entries["schema.json"])

    def nodes(self, **match) -> list[dict]:
        found, stack = [], [self.schema]
        while stack:
            node = stack.pop()
            if isinstance(node, dict):
                if all(node.get(k) == v for k, v in match.items()):
                    found.append(node)
                stack.extend(node.values())
            elif isinstance(node, list):
                stack.extend(node)
        return found

    def array(self, node: dict) -> np.ndarray:
        return np.load(io.BytesIO(self.entries[node["file"]]))

    def set_array(self, node: dict, value: np.ndarray) -> None:
        buffer = io.BytesIO()
        np.save(buffer, value, allow_pickle=False)
        self.entries[node["file"]] = buffer.getvalue()

    def attrs(self, cls: str) -> dict:
        """The attribute dict of the first object of class ``cls``."""
        return self.nodes(__class__=cls)[0]["content"]["content"]

    def save(self, schema_bytes: bytes | None = None) -> None:
        self.entries["schema.json"] = schema_bytes or json.dumps(self.schema).encode()
        with zipfile.ZipFile(self.path, "w", zipfile.ZIP_DEFLATED) as archive:
            for name, data in self.entries.items():
                archive.writestr(name, data)


_IDS = iter(range(2 * 10**9, 3 * 10**9))


def json_value(value) -> dict:
    return {
        "__class__": "str",  # as skops writes every JSON value
        "__module__": "builtins",
        "__loader__": "JsonNode",
        "content": json.dumps(value),
        "is_json": True,
        "__id__": next(_IDS),  # skops builds one object per id (None included)
    }


def first_tree(model: ModelFile) -> dict:
    return model.nodes(__class__="Tree")[0]["content"]["content"]


def edit_tree_nodes(field: str, value, row: int = 0):
    def edit(model: ModelFile) -> None:
        node = first_tree(model)["nodes"]
        nodes = model.array(node)
        nodes[field][row] = value
        model.set_array(node, nodes)

    return edit


def edit_attr(cls: str, name: str, value):
    def edit(model: ModelFile) -> None:
        model.attrs(cls)[name] = value if isinstance(value, dict) else json_value(value)

    return edit


def huge_shared_array(model: ModelFile) -> None:
    """60 array nodes, each its own object, all reading one 20 MB entry."""
    big = np.zeros(2_500_000)  # 20 MB
    buffer = io.BytesIO()
    np.save(buffer, big)
    model.entries["big.npy"] = buffer.getvalue()
    attrs = model.attrs("RandomForestClassifier")
    for i in range(60):
        attrs[f"extra{i}_"] = {
            "__class__": "ndarray",
            "__module__": "numpy",
            "__loader__": "NdArrayNode",
            "type": "numpy",
            "file": "big.npy",
            "__id__": 10**9 + i,
        }


def declared_not_held(model: ModelFile) -> None:
    """An array header that declares 8 TB over a few bytes of data."""
    node = first_tree(model)["values"]
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    model.entries[node["file"]] = b"\x93NUMPY\x01\x00" + header.getvalue()[8:] + b"\0" * 64


def long_string_parameter(model: ModelFile) -> None:
    model.attrs("RandomForestClassifier")["criterion"] = json_value("g" * 5_000_000)


def type_as_metric(model: ModelFile) -> None:
    model.attrs("KNeighborsClassifier")["metric"] = {
        "__class__": "str",
        "__module__": "builtins",
        "__loader__": "TypeNode",
        "__id__": 77,
    }


def corrupt_kd_tree(model: ModelFile) -> None:
    """The kd-tree's index array pointed far outside its data."""
    node = model.nodes(__class__="KDTree")[0]
    arrays = [n for n in ModelFile.nodes_in(node) if n.get("__loader__") == "NdArrayNode"]
    for array_node in arrays:
        value = model.array(array_node)
        if value.dtype.kind == "i" and value.ndim == 1:
            model.set_array(array_node, value + 10**9)


def _nodes_in(node) -> list[dict]:
    found, stack = [], [node]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            found.append(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return found


ModelFile.nodes_in = staticmethod(_nodes_in)


def svm_attr_array(name: str, change):
    def edit(model: ModelFile) -> None:
        node = model.attrs("SVC")[name]
        model.set_array(node, change(model.array(node)))

    return edit


def certified_array(name: str, change):
    def edit(model: ModelFile) -> None:
        node = model.attrs("CertifiedLogisticRegression")[name]
        model.set_array(node, change(model.array(node)))

    return edit


def certified_hessian_alone(model: ModelFile) -> None:
    """The Hessian kept, the weights it was computed at gone."""
    model.attrs("CertifiedLogisticRegression")["hessian_at_"] = json_value(None)


def gb_stages_narrowed(model: ModelFile) -> None:
    attrs = model.attrs("GradientBoostingClassifier")
    attrs["n_trees_per_iteration_"] = json_value(1)


def covariance_columns(value):
    def edit(model: ModelFile) -> None:
        attrs = model.attrs("CovarianceColumns")
        attrs["columns"] = {
            "__class__": "list",
            "__module__": "builtins",
            "__loader__": "ListNode",
            "content": [json_value(v) for v in value],
        }

    return edit


#: name -> (model, edit, text the error must hold)
ATTACKS = {
    "tree child at node 10^9": ("rf", edit_tree_nodes("left_child", 10**9), "out of range"),
    "tree split on feature 10^8": ("rf", edit_tree_nodes("feature", 10**8), "feature"),
    "tree child pointing back (a cycle)": ("rf", edit_tree_nodes("left_child", 0), "out of range"),
    "tree node with one child": ("rf", edit_tree_nodes("right_child", -1), "one child"),
    "tree threshold NaN": ("rf", edit_tree_nodes("threshold", np.nan), "threshold"),
    "8 TB array declared": ("rf", declared_not_held, "declares"),
    "60 nodes sharing a 20 MB array": ("rf", huge_shared_array, "add up to"),
    "a 5 MB string parameter": ("rf", long_string_parameter, "longer"),
    "n_jobs 100000": ("rf", edit_attr("RandomForestClassifier", "n_jobs", 100_000), "n_jobs"),
    "n_neighbors 1e18": ("knn", edit_attr("KNeighborsClassifier", "n_neighbors", 1e18), ""),
    "n_neighbors 10^18": (
        "knn",
        edit_attr("KNeighborsClassifier", "n_neighbors", 10**18),
        "n_neighbors",
    ),
    "a type as the metric": ("knn", type_as_metric, "where a value belongs"),
    "svm support vectors split wrongly": (
        "svm",
        svm_attr_array("_n_support", lambda a: a + 5),
        "support vectors",
    ),
    "svm support vectors narrower than the data": (
        "svm",
        svm_attr_array("support_vectors_", lambda a: np.ascontiguousarray(a[:, :2])),
        "support_vectors_",
    ),
    "gradient boosting stages and classes disagree": ("gb", gb_stages_narrowed, "stages"),
    "covariance column 999999999": ("tslr", covariance_columns([999_999_999] * 10), "columns"),
    "negative covariance columns": ("tslr", covariance_columns([-1] * 10), "columns"),
    "a TMV base's tree out of range": ("tmv", edit_tree_nodes("right_child", 10**7), "range"),
    "certified Hessians of the wrong width": (
        "cert",
        certified_array("hessian_", lambda a: np.ascontiguousarray(a[:, :2, :2])),
        "hessian_",
    ),
    "a certified Hessian holding NaN": (
        "cert",
        certified_array("hessian_", lambda a: np.full_like(a, np.nan)),
        "NaN",
    ),
    "a certified Hessian without its weights": ("cert", certified_hessian_alone, "hessian_"),
}


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_a_crafted_model_file_is_refused_cleanly(lab, recording, tmp_path, name):
    kind, edit, message = ATTACKS[name]
    folder = copy_model(lab, kind, tmp_path)
    model = ModelFile(folder)
    edit(model)
    model.save()
    outcome = run_isolated(predict, folder, recording, timeout=120)
    assert outcome.kind == "returned", f"{name}: {outcome.kind} {outcome.detail}"
    status, _, err = outcome.value
    assert status == 1, f"{name}: accepted ({err!r})"
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("eeg4students: error: "), err
    assert "Traceback" not in err and message in lines[0], lines[0]


def test_a_kd_tree_is_rebuilt_not_trusted(lab, recording, tmp_path):
    genuine = predict(lab / "derivatives" / "eeg4students" / "models" / "knnkd", recording)
    assert genuine[0] == 0
    folder = copy_model(lab, "knnkd", tmp_path)
    model = ModelFile(folder)
    corrupt_kd_tree(model)
    model.save()
    outcome = run_isolated(predict, folder, recording, timeout=120)
    assert outcome.kind == "returned", outcome.detail
    assert outcome.value == genuine  # the same neighbours: the tree was rebuilt


@pytest.mark.parametrize("depth", [100_000, 200_000])
def test_deep_json_in_a_schema_is_refused(lab, recording, tmp_path, depth):
    folder = copy_model(lab, "rf", tmp_path)
    model = ModelFile(folder)
    model.save(b"[" * depth + b"]" * depth)
    status, _, err = predict(folder, recording)
    assert status == 1 and "nested" in err and err.count("\n") == 1, err


@pytest.mark.parametrize("depth", [100_000, 200_000])
def test_deep_json_in_a_card_is_refused(lab, recording, tmp_path, depth):
    folder = copy_model(lab, "rf", tmp_path)
    (folder / "card.json").write_text("[" * depth + "]" * depth)
    status, _, err = predict(folder, recording)
    assert status == 1 and "nested" in err and err.count("\n") == 1, err


def test_every_genuine_model_still_loads_and_predicts(lab, recording):
    for name in MODELS:
        status, out, err = predict(
            lab / "derivatives" / "eeg4students" / "models" / name, recording
        )
        assert status == 0, (name, err)
        assert "predicted" in out
