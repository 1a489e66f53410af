"""Forgetting beside other commands: no interleaving leaves the participant behind.

Each test pauses one command at a named checkpoint while it holds the
dataset's lock (``EEG4STUDENTS_PAUSE_AT``; it signals arrival with a file),
starts the other command, waits for it to report that it is waiting for the
lock, then lets the first go on. Without the lock, the second command would
run in between and leave P in a model, a table or the dataset.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import Lines, wait_for_file

from eeg4students._files import PAUSE_ENV
from eeg4students.acquire import PARTIAL_DIR
from eeg4students.cli import main
from eeg4students.featureset import DERIVATIVE
from eeg4students.modelstore import list_models
from eeg4students.remote import package_participant
from eeg4students.simulate import simulate_recording, simulate_to_dataset
from eeg4students.store import Dataset, read_tsv
from eeg4students.training import train_model

pytestmark = pytest.mark.slow
WAITING = "waiting for another eeg4students command"


@pytest.fixture
def lab(tmp_path) -> Path:
    root = tmp_path / "lab"
    simulate_to_dataset(root, 4, 1, seed=7, task_seconds=12, progress=False)
    return root


def _command(argv: list[str], pause: str | None = None, release: Path | None = None):
    env = dict(os.environ)
    if pause:
        env[PAUSE_ENV] = f"{pause}:{release}"
    code = "import sys; from eeg4students.cli import main; sys.exit(main(sys.argv[1:]))"
    process = subprocess.Popen(
        [sys.executable, "-c", code, *argv],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, Lines(process.stdout), Lines(process.stderr)


def _paused(tmp_path: Path, name: str, argv: list[str]):
    """Start ``argv`` and return once it holds the lock at checkpoint ``name``."""
    release = tmp_path / f"release-{name}"
    process, out, err = _command(argv, name, release)
    wait_for_file(Path(f"{release}.reached"))
    return process, out, err, release


def _finish(process, out, err) -> str:
    process.wait(timeout=300)
    assert process.returncode == 0, err.text()
    return out.text()


def _forget(lab: Path, participant: str = "sim02"):
    return _command(["forget", str(lab), "--participant", participant, "--yes"])


def _holds(root: Path, label: str) -> list[str]:
    return [
        str(p.relative_to(root))
        for p in root.rglob("*")
        if p.is_file() and p.name != "forget-log.jsonl" and label.encode() in p.read_bytes()
    ]


def test_train_then_forget(lab, tmp_path):
    # train has read sim02's features; forget must wait for it, then update its model.
    train = _paused(tmp_path, "train", ["train", str(lab), "--model", "lda", "--name", "late"])
    forget = _forget(lab)
    forget[2].wait_for(WAITING, timeout=120)
    train[3].touch()
    _finish(*train[:3])
    _finish(*forget)
    for saved in list_models(Dataset(lab)):
        assert "sim02" not in saved.card["trained_on"]["participants"]
    assert _holds(lab, "sim02") == []


def test_forget_then_train(lab, tmp_path):
    # forget has staged sim02's files; train must wait and then never see them.
    forget = _paused(tmp_path, "staged", ["forget", str(lab), "--participant", "sim02", "--yes"])
    train = _command(["train", str(lab), "--model", "lda", "--name", "after"])
    train[2].wait_for(WAITING, timeout=120)
    forget[3].touch()
    _finish(*forget[:3])
    _finish(*train)
    (saved,) = list_models(Dataset(lab))
    assert saved.card["trained_on"]["participants"] == ["sim01", "sim03", "sim04"]


def test_features_then_forget(lab, tmp_path):
    # features has computed sim02's rows and is about to write the quality tables.
    features = _paused(tmp_path, "features", ["features", str(lab)])
    forget = _forget(lab)
    forget[2].wait_for(WAITING, timeout=120)
    features[3].touch()
    _finish(*features[:3])
    _finish(*forget)
    for table in (lab / DERIVATIVE / "features").glob("*/*.tsv"):
        assert "sim02" not in set(read_tsv(table).get("participant", []))
    assert _holds(lab, "sim02") == []


def test_ingest_waits_for_forget_and_is_refused(lab, tmp_path):
    other = Dataset.create(tmp_path / "home")
    other.add_recording(
        simulate_recording(1, 2, seed=3, task_seconds=12), "sim02", "2", "eeg4students"
    )
    package = package_participant(other, "sim02", tmp_path / "sim02.zip")
    forget = _paused(tmp_path, "staged", ["forget", str(lab), "--participant", "sim02", "--yes"])
    ingest = _command(["ingest", str(package), "--to", str(lab), "--merge"])
    ingest[2].wait_for(WAITING, timeout=120)
    forget[3].touch()
    _finish(*forget[:3])
    ingest[0].wait(timeout=300)
    assert ingest[0].returncode == 1
    assert "withdrew and was forgotten" in ingest[2].text()
    assert _holds(lab, "sim02") == []


def _session_of_sim02_recording(lab: Path):
    argv = ["record", "--board", "synthetic", "--participant", "sim02", "--session", "2"]
    argv += ["--to", str(lab), "--task-seconds", "3", "--protocol", "quick", "--yes"]
    return _command(argv)


def test_forget_while_recording(lab):
    # sim02 records a second session while withdrawing: the stream is deleted at the end.
    record = _session_of_sim02_recording(lab)
    record[1].wait_for("[1/5]")
    assert main(["forget", str(lab), "--participant", "sim02", "--yes"]) == 0
    record[0].wait(timeout=300)
    assert record[0].returncode == 1
    assert "withdrew and was forgotten" in record[2].text()
    assert not list((lab / PARTIAL_DIR).glob("*"))
    assert "sim02" not in Dataset(lab).participants()
    assert _holds(lab, "sim02") == []


def test_recover_after_forget_is_refused(lab, tmp_path):
    # A killed recorder's stream copied elsewhere before sim02 withdrew.
    record = _session_of_sim02_recording(lab)
    record[1].wait_for("[2/5]")
    record[0].kill()
    record[0].wait(timeout=60)
    (partial,) = (lab / PARTIAL_DIR).glob("*.csv")
    copy = tmp_path / partial.name
    shutil.copy(partial, copy)
    shutil.copy(partial.with_suffix(".json"), copy.with_suffix(".json"))
    assert main(["forget", str(lab), "--participant", "sim02", "--yes"]) == 0
    assert not list((lab / PARTIAL_DIR).glob("*")), "forget removes partial streams"
    assert main(["recover", str(copy), "--to", str(lab)]) == 1
    assert not copy.exists(), "the stream of a withdrawn participant is deleted, not kept"
    assert _holds(lab, "sim02") == []


def test_train_model_holds_the_lock_reentrantly(lab):
    # In one process, train (which computes features under the same lock) does not deadlock.
    dataset = Dataset(lab)
    with dataset.lock():
        saved = train_model(dataset, "lda", "inside", progress=False)
    assert saved.card["trained_on"]["participants"] == ["sim01", "sim02", "sim03", "sim04"]
