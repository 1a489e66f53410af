"""Folder imports written by several processes: the same dataset as one process writes,
failures contained, nothing left behind."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import muse_samples, write_muse_lsl

from eeg4students import importing
from eeg4students.cli import main
from eeg4students.errors import DatasetError
from eeg4students.importing import import_each, import_workers, plan_import
from eeg4students.store import Dataset

T0 = 1_700_000_000.0
PATTERN = "{participant}-{task}-{session}.csv"

linux_only = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parallel imports fork, on Linux only"
)


def _write(folder: Path, rng, names) -> Path:
    folder.mkdir(exist_ok=True)
    for name in names:
        write_muse_lsl(folder / name, muse_samples(rng, 768), T0 + np.arange(768) / 256)
    return folder


def _tree(root: Path) -> dict[str, bytes]:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def _import(folder: Path, dataset: Path, *more: str) -> int:
    return main(["import", str(folder), "--to", str(dataset), "--pattern", PATTERN, *more])


@linux_only
@pytest.mark.parametrize("dataset_exists", [True, False])
def test_parallel_import_writes_the_dataset_one_process_writes(
    tmp_path, rng, capsys, dataset_exists
):
    first = _write(tmp_path / "first", rng, ["dan-relaxed-1.csv"])
    folder = _write(
        tmp_path / "incoming",
        rng,
        [
            "ann-relaxed-1.csv",
            "ann-focus-1.csv",
            "ann-relaxed-2.csv",
            "bob-relaxed-1.csv",
            "bob-focus-2.csv",
            "cat-focus-1.csv",
            "dan-focus-1.csv",  # dan is in the dataset already: written by this process
            "eve-focus-1.csv",
        ],
    )
    (folder / "fay-relaxed-1.csv").write_text("timestamps,TP9,AF7,AF8,TP10\n1,2,3\n")
    (folder / "cat-relaxed-1.csv").write_text("not,a,recording\n")
    table = tmp_path / "people.csv"
    table.write_text("participant,age,sex\nbob,15,F\ndan,16,M\n")
    outputs = {}
    for jobs in ("1", "2"):
        dataset = tmp_path / f"ds{jobs}"
        if dataset_exists:
            assert _import(first, dataset, "--n-jobs", "1") == 0
            capsys.readouterr()
        status = _import(folder, dataset, "--participants-table", str(table), "--n-jobs", jobs)
        outputs[jobs] = (status, capsys.readouterr())
        assert not list(dataset.glob(".import-*")), "a staging folder was left behind"
    assert outputs["1"][0] == outputs["2"][0] == 1  # fay and cat's second file fail
    assert outputs["1"][1].out == outputs["2"][1].out
    assert "8 of 10 files imported" in outputs["2"][1].out
    one, two = _tree(tmp_path / "ds1"), _tree(tmp_path / "ds2")
    assert {"README", "participants.json", "dataset_description.json"} <= set(two)
    assert one.keys() == two.keys()
    assert [name for name in one if one[name] != two[name]] == []
    rows = (tmp_path / "ds2" / "participants.tsv").read_text().splitlines()
    assert [r.split("\t")[:3] for r in rows[1:]] == [
        ["sub-ann", "n/a", "n/a"],
        ["sub-bob", "15", "F"],
        ["sub-cat", "n/a", "n/a"],
        ["sub-dan", "16", "M"],
        ["sub-eve", "n/a", "n/a"],
    ]
    assert len(Dataset(tmp_path / "ds2").references()) == 8 + dataset_exists
    assert not (tmp_path / "ds2" / "sub-fay").exists()


@linux_only
def test_a_forgotten_participant_is_refused_in_a_parallel_import(tmp_path, rng, capsys):
    dataset = tmp_path / "ds"
    assert (
        _import(_write(tmp_path / "a", rng, ["ann-relaxed-1.csv", "bob-relaxed-1.csv"]), dataset)
        == 0
    )
    assert main(["forget", str(dataset), "--participant", "bob", "--yes"]) == 0
    capsys.readouterr()
    folder = _write(tmp_path / "b", rng, ["bob-focus-1.csv", "cat-focus-1.csv", "eve-focus-1.csv"])
    assert _import(folder, dataset, "--n-jobs", "2") == 1
    out = capsys.readouterr().out
    assert "2 of 3 files imported" in out and "withdrew" in out
    assert Dataset(dataset).participants() == ["ann", "cat", "eve"]


@linux_only
def test_a_worker_that_breaks_leaves_no_staging_behind(tmp_path, rng, monkeypatch):
    folder = _write(tmp_path / "in", rng, ["ann-relaxed-1.csv", "bob-relaxed-1.csv"])
    dataset = Dataset.create(tmp_path / "ds")
    before = _tree(dataset.root)
    real = importing._read

    def broken(job, *args):
        if job.participant == "bob":
            raise RuntimeError("a bug in a reader")
        return real(job, *args)

    monkeypatch.setattr(importing, "_read", broken)  # the workers are forks: they see it
    jobs, _ = plan_import([folder], pattern=PATTERN)
    with pytest.raises(RuntimeError, match="a bug in a reader"):
        list(import_each(dataset, jobs, n_jobs=2))
    assert not list(dataset.root.glob(".import-*"))
    assert not (dataset.root / "sub-bob").exists()
    after = _tree(dataset.root)
    assert set(after) - set(before) <= {n for n in after if n.startswith("sub-ann/")} | {
        "participants.tsv",
        "participants.json",
        "README",
    }


def test_adopting_a_participant_is_refused_or_undone_whole(tmp_path, rng, monkeypatch):
    folder = _write(tmp_path / "in", rng, ["ann-relaxed-1.csv"])
    jobs, _ = plan_import([folder], pattern=PATTERN)
    staging, again = Dataset.create(tmp_path / "staging"), Dataset.create(tmp_path / "again")
    assert all(r.ref for r in import_each(staging, jobs))
    assert all(r.ref for r in import_each(again, jobs))
    target = Dataset.create(tmp_path / "target")
    assert _import(_write(tmp_path / "other", rng, ["bob-relaxed-1.csv"]), target.root) == 0
    before, staged = _tree(target.root), _tree(staging.root)

    def full(*args, **kwargs):
        raise OSError(28, "No space left on device (injected)")

    monkeypatch.setattr("eeg4students.store.dataset.add_participant_row", full)
    with pytest.raises(OSError, match="No space"):
        target.adopt_participant(staging, "ann")
    assert _tree(target.root) == before and _tree(staging.root) == staged
    monkeypatch.undo()
    with pytest.raises(DatasetError, match="holds no participant 'bob'"):
        target.adopt_participant(staging, "bob")
    target.adopt_participant(staging, "ann")
    assert target.participants() == ["ann", "bob"]
    assert not (staging.root / "sub-ann").exists()
    with pytest.raises(DatasetError, match="already has participant 'ann'"):
        target.adopt_participant(again, "ann")
    assert (again.root / "sub-ann").is_dir()
    assert Dataset(target.root).load("ann", "1", "relaxed").n_times == 768


@linux_only
def test_import_workers(monkeypatch):
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(sys, "platform", "linux")
    assert import_workers(1) == 1
    assert import_workers(3) == 3
    assert import_workers(None) == max(1, min(cores, importing.IMPORT_WORKERS))
    assert import_workers(-1) == cores
    monkeypatch.setattr(sys, "platform", "win32")
    assert import_workers(None) == import_workers(4) == 1


@linux_only
def test_a_participant_whose_tables_fail_is_reported_and_left_out(tmp_path, rng, monkeypatch):
    folder = _write(
        tmp_path / "in", rng, ["ann-relaxed-1.csv", "bob-relaxed-1.csv", "bob-focus-1.csv"]
    )
    dataset = Dataset.create(tmp_path / "ds")
    real = Dataset.refresh_sessions_tsv

    def full_disk(self, participant):
        if participant == "bob":
            raise OSError(28, "No space left on device")
        return real(self, participant)

    monkeypatch.setattr(Dataset, "refresh_sessions_tsv", full_disk)  # seen by the forks
    jobs, _ = plan_import([folder], pattern=PATTERN)
    results = {r.job.path.name: r for r in import_each(dataset, jobs, n_jobs=2)}
    assert results["ann-relaxed-1.csv"].ref is not None
    for name in ("bob-relaxed-1.csv", "bob-focus-1.csv"):
        assert results[name].ref is None
        assert "participant's tables could not be written" in results[name].error
        assert "No space left" in results[name].error
    assert dataset.participants() == ["ann"]
    assert not (dataset.root / "sub-bob").exists()
    assert not list(dataset.root.glob(".import-*"))
