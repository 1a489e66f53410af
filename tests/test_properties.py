"""Property tests: random damage to recordings and packages never gives a traceback.

Hypothesis mutates files of every text format the readers take (written by
the conftest writers, and the real recordings in ``../shared/data`` when
present) and packages made by ``eeg4students package``. Whatever the
damage, a reader returns a usable recording or raises the toolkit's error
with one line; ``import`` and ``ingest`` either succeed with a dataset every
command can read, or fail leaving the dataset byte for byte as it was.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from conftest import (
    MUSE_DIR,
    OPENBCI_DIR,
    muse_samples,
    write_mind_monitor,
    write_muse_lsl,
    write_openbci,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eeg4students.cli import main
from eeg4students.errors import EEG4StudentsError, RecordingFormatError
from eeg4students.io import read_recording
from eeg4students.remote import ingest, package_participant
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset

#: Examples per property; raise it for a deeper round (``EEG4STUDENTS_FUZZ=2000 pytest ...``).
EXAMPLES = int(os.environ.get("EEG4STUDENTS_FUZZ", "60"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _seed_files(folder: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(3)
    t = 1.7e9 + np.arange(768) / 256
    files = {
        "muse.csv": write_muse_lsl(folder / "m.csv", muse_samples(rng, 768), t, {100: "5"}),
        "mind.csv": write_mind_monitor(
            folder / "mm.csv", muse_samples(rng, 600), 1.7e9, {50: "/Marker/1"}
        ),
        "openbci.txt": write_openbci(folder / "o.txt", rng.normal(0, 20, (8, 600))),
        "openbci-old.txt": write_openbci(folder / "oo.txt", rng.normal(0, 20, (8, 600)), v5=False),
    }
    seeds = {name: path.read_bytes() for name, path in files.items()}
    # The head of real recordings, cut after a whole line.
    for name, path in (
        ("real-muse.csv", MUSE_DIR / "subjecta-relaxed-1.csv"),
        ("real-openbci.txt", OPENBCI_DIR / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"),
    ):
        if path.is_file():
            head = path.read_bytes()[:120_000]
            seeds[name] = head[: head.rfind(b"\n") + 1]
    return seeds


@pytest.fixture(scope="module")
def seeds(tmp_path_factory) -> dict[str, bytes]:
    return _seed_files(tmp_path_factory.mktemp("seeds"))


@st.composite
def mutated(draw, seeds: dict[str, bytes]) -> tuple[str, bytes]:
    """A seed file with a few random edits: byte changes, cuts, insertions, line shuffles."""
    name = draw(st.sampled_from(sorted(seeds)))
    data = bytearray(seeds[name])
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "cut", "insert", "truncate", "lines", "field"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[at : at + draw(st.integers(1, 2000))]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=40))
        elif kind == "truncate":
            del data[at:]
        elif kind == "lines":
            lines = bytes(data).split(b"\n")
            i, j = draw(st.integers(0, len(lines) - 1)), draw(st.integers(0, len(lines) - 1))
            lines[i], lines[j] = lines[j], lines[i]
            if draw(st.booleans()):
                lines.insert(i, lines[j])
            data = bytearray(b"\n".join(lines))
        elif kind == "field":
            text = draw(st.sampled_from([b"nan", b"inf", b"-1e308", b"", b"1e400", b"x", b"0"]))
            end = data.find(b",", at)
            if end > at:
                data[at:end] = text
    return name, bytes(data)


def _one_line(message: str) -> None:
    assert message and "\n" not in message.strip(), message


@SETTINGS
@given(data=st.data())
def test_readers_never_raise_anything_but_their_error(seeds, data):
    name, content = data.draw(mutated(seeds))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        try:
            raw = read_recording(path)
        except RecordingFormatError as exc:
            _one_line(str(exc))
        else:
            values = raw.get_data()
            assert np.isfinite(values).all()
            assert raw.n_times / raw.info["sfreq"] >= 2.0


@settings(SETTINGS, max_examples=max(EXAMPLES // 2, 1))
@given(data=st.data())
def test_import_succeeds_or_leaves_nothing(seeds, data, capsys):
    name, content = data.draw(mutated(seeds))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(content)
        root = Path(tmp) / "ds"
        args = ["--to", str(root), "--participant", "p1", "--session", "1", "--task", "rest"]
        status = main(["import", str(path), *args])
        err = capsys.readouterr().err
        if status == 0:
            dataset = Dataset(root)
            assert len(dataset.recordings()) == 1
            dataset.load("p1", "1", "rest")
        else:
            assert status == 1 and err.startswith("eeg4students: error: ")
            assert not root.exists()


# -- packages -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def packaging(tmp_path_factory):
    folder = tmp_path_factory.mktemp("packaging")
    home = folder / "home"
    simulate_to_dataset(home, 2, 1, seed=4, task_seconds=3, progress=False)
    package = package_participant(home, "sim02", folder / "sim02.zip")
    lab = folder / "lab"
    ingest(package_participant(home, "sim01", folder / "sim01.zip"), lab)
    with zipfile.ZipFile(package) as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    return entries, lab


def _tree(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


@st.composite
def package_damage(draw, entries: dict[str, bytes]) -> dict[str, bytes]:
    """Entries with one or two changes; the manifest's checksums are recomputed or not."""
    entries = dict(entries)
    manifest = json.loads(entries.pop("manifest.json"))
    for _ in range(draw(st.integers(1, 2))):
        name = draw(st.sampled_from(sorted(entries)))
        kind = draw(
            st.sampled_from(["bytes", "truncate", "rename", "drop", "add", "row", "label"])
        )
        if kind == "bytes":
            data = bytearray(entries[name])
            at = draw(st.integers(0, max(len(data) - 1, 0)))
            data[at : at + draw(st.integers(0, 30))] = draw(st.binary(max_size=30))
            entries[name] = bytes(data)
        elif kind == "truncate":
            entries[name] = entries[name][: draw(st.integers(0, len(entries[name])))]
        elif kind == "rename":
            new = name.replace(
                draw(st.sampled_from(["sim02", "ses-1", "_eeg", "run-1"])),
                draw(st.sampled_from(["sim01", "ses-2", "", "run-2", "../x"])),
                1,
            )
            entries[new] = entries.pop(name)
            manifest["files"][new] = manifest["files"].pop(name)
        elif kind == "drop":
            entries.pop(name)
        elif kind == "add":
            entries[name.replace("run-1", "run-9")] = draw(st.binary(max_size=50))
        elif kind == "row":
            key = draw(st.sampled_from(["participant_id", "age", "sex", "x y"]))
            manifest["participants_row"][key] = draw(
                st.one_of(st.text(max_size=8), st.none(), st.integers())
            )
        else:
            manifest["participant"] = draw(
                st.sampled_from(["sim01", "sim02\n", "", "sim 2", "sim03"])
            )
    if draw(st.booleans()):
        manifest["files"] = {n: hashlib.sha256(d).hexdigest() for n, d in entries.items()}
    entries["manifest.json"] = json.dumps(manifest).encode()
    return entries


@settings(SETTINGS, max_examples=max(EXAMPLES * 2 // 3, 1))
@given(data=st.data())
def test_ingest_succeeds_or_changes_nothing(packaging, data):
    entries, lab = packaging
    damaged = data.draw(package_damage(entries))
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "lab"
        shutil.copytree(lab, root)
        before = _tree(root)
        package = Path(tmp) / "p.zip"
        with zipfile.ZipFile(package, "w") as archive:
            for name, content in damaged.items():
                archive.writestr(name, content)
        try:
            participant, _ = ingest(package, root)
        except EEG4StudentsError as exc:
            _one_line(str(exc))
            assert _tree(root) == before
            assert not list(root.glob(".ingest-*"))
        else:
            dataset = Dataset(root)
            table = dataset.recordings()
            for ref in dataset.references():
                if ref.participant == participant:
                    dataset.load(ref.participant, ref.session, ref.task, ref.run)
            assert participant in set(table["participant"])
