"""The same results on one process, on local processes and on a Dask cluster."""

from __future__ import annotations

import contextlib
import io
import json

import numpy as np
import pandas as pd
import pytest

from eeg4students import parallel
from eeg4students.cli import main
from eeg4students.errors import EEG4StudentsError
from eeg4students.modelstore import load_model
from eeg4students.parallel import backend
from eeg4students.store import Dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def scheduler():
    distributed = pytest.importorskip("dask.distributed")
    cluster = distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    )
    yield cluster.scheduler_address
    cluster.close()


def _files(root):
    skip = {".eeg4students.lock"}
    return {
        str(p.relative_to(root)): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name not in skip and "derivatives" not in p.parts
    }


def _run(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = main(argv)
    assert status == 0, err.getvalue()


def _pipeline(root, out, extra) -> None:
    """simulate, features, evaluate, train (sharded) and forget --sweep into ``root``."""
    _run(
        [
            "simulate",
            "--to",
            str(root),
            "--participants",
            "4",
            "--sessions",
            "2",
            "--task-seconds",
            "10",
            *extra,
        ]
    )
    _run(["features", str(root), *extra])
    _run(
        [
            "evaluate",
            str(root),
            "--scheme",
            "loso",
            "--models",
            "rf,lda",
            "--out",
            str(out / "eval"),
            *extra,
        ]
    )
    _run(
        [
            "train",
            str(root),
            "--model",
            "svm",
            "--name",
            "sisa",
            "--unlearnable",
            "sharded",
            "--shards",
            "3",
            *extra,
        ]
    )
    _run(
        [
            "forget",
            str(root),
            "--participant",
            "sim01",
            "--sweep",
            "--model",
            "lda",
            "--out",
            str(out / "sweep"),
            "--shadows",
            "8",
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def single(tmp_path_factory):
    """The pipeline in one process (run once, compared with both parallel modes)."""
    out = tmp_path_factory.mktemp("single")
    _pipeline(out / "ds", out, [])
    return out


@pytest.mark.parametrize("mode", ["local", "dask"])
def test_every_command_kind_gives_the_same_result(tmp_path, scheduler, single, mode):
    switch = ["--n-jobs", "2"] if mode == "local" else ["--scheduler", scheduler]
    _pipeline(tmp_path / "ds", tmp_path, switch)
    outs = {"single": single, "parallel": tmp_path}
    single_root, parallel = single / "ds", tmp_path / "ds"
    # simulate: byte-identical BIDS files.
    assert _files(single_root) == _files(parallel)
    # features: identical tables.
    tables = [
        pd.concat(pd.read_parquet(p) for p in sorted(r.rglob("*_features.parquet")))
        for r in (single_root, parallel)
    ]
    pd.testing.assert_frame_equal(
        tables[0].reset_index(drop=True), tables[1].reset_index(drop=True)
    )
    # evaluate: identical rows but for timing.
    scores = [pd.read_csv(outs[n] / "eval" / "scores.csv") for n in ("single", "parallel")]
    columns = ["participant", "pipeline", "fold", "accuracy", "kappa", "n_train", "n_test"]
    pd.testing.assert_frame_equal(scores[0][columns], scores[1][columns])
    # train (sharded): the same model.
    models = [
        load_model(r / "derivatives/eeg4students/models/sisa") for r in (single_root, parallel)
    ]
    X = tables[0][models[0].card["feature_columns"]].to_numpy()
    assert np.array_equal(models[0].estimator.predict(X), models[1].estimator.predict(X))
    cards = [{k: v for k, v in m.card.items() if k != "created"} for m in models]
    assert json.dumps(cards[0], sort_keys=True) == json.dumps(cards[1], sort_keys=True)
    # forget --sweep: identical measurements but for timing.
    sweeps = [pd.read_csv(outs[n] / "sweep" / "tradeoff.csv") for n in ("single", "parallel")]
    same = ["strategy", "setting", "test_accuracy", "forget_accuracy", "z", "verdict", "forgotten"]
    pd.testing.assert_frame_equal(sweeps[0][same], sweeps[1][same])
    assert Dataset(parallel).participants() == ["sim01", "sim02", "sim03", "sim04"]


def test_unreachable_scheduler_is_a_clear_error(monkeypatch):
    monkeypatch.setattr(parallel, "SCHEDULER_TIMEOUT", "2s")
    unreachable = backend(scheduler="tcp://127.0.0.1:9")
    with pytest.raises(EEG4StudentsError, match="Cannot reach the Dask scheduler"), unreachable:
        pass


def test_a_cluster_without_dask_installed_is_a_clear_error(monkeypatch, capsys):
    import builtins

    real_import = builtins.__import__

    def no_dask(name, *args, **kwargs):
        if name.startswith("dask"):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_dask)
    with (
        pytest.raises(EEG4StudentsError, match=r"eeg4students\[cluster\]"),
        backend(scheduler="tcp://127.0.0.1:9"),
    ):
        pass


def test_long_work_uses_every_core_unless_told(tmp_path, monkeypatch):
    import contextlib

    from eeg4students.cli import main

    asked = []

    @contextlib.contextmanager
    def recording(n_jobs=None, scheduler=None):
        asked.append((n_jobs, scheduler))
        yield

    monkeypatch.setattr(parallel, "backend", recording)
    root = tmp_path / "ds"
    args = ["--participants", "2", "--sessions", "1", "--task-seconds", "10"]
    assert main(["simulate", "--to", str(root), *args]) == 0
    assert main(["features", str(root), "--n-jobs", "1"]) == 0
    assert asked == [(-1, None), (1, None)]  # every core by default; --n-jobs 1 opts out


def test_relative_paths_work_after_the_folder_changes(tmp_path, monkeypatch):
    # Worker processes are reused and keep the folder they started in: a relative dataset
    # path must mean the caller's folder, not theirs (a notebook that changes folder).
    from eeg4students.featureset import compute_features
    from eeg4students.simulate import simulate_to_dataset

    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        monkeypatch.chdir(tmp_path / name)
        with backend(n_jobs=2):
            refs = simulate_to_dataset("ds", 2, 1, seed=1, task_seconds=10, progress=False)
            features = compute_features("ds", progress=False)
        assert all(not ref.path.is_absolute() and ref.path.is_file() for ref in refs)
        assert features.table["participant"].nunique() == 2
        assert (tmp_path / name / "ds" / "derivatives").is_dir()
