"""Hostile and broken inputs, given as an attacker or a clumsy user would give them.

Each case runs one command in this process (``eeg4students.cli.main``) and
checks what a user must see: exit status 1 (2 for usage errors), exactly
one stderr line ``eeg4students: error: ...`` naming the problem, no
traceback (an exception escaping ``main`` fails the test), the dataset it
pointed at byte for byte unchanged, and no new folder left behind.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from conftest import muse_samples, write_mind_monitor, write_muse_lsl, write_openbci

import eeg4students.remote as remote
from eeg4students.cli import main
from eeg4students.remote import package_participant
from eeg4students.simulate import simulate_to_dataset
from eeg4students.training import train_model

T0 = 1_700_000_000.0
MUSE_HEADER = "timestamps,TP9,AF7,AF8,TP10,Right AUX\n"


@pytest.fixture(scope="module")
def lab_template(tmp_path_factory):
    """A small dataset with cached features and a trained model, built once."""
    root = tmp_path_factory.mktemp("hostile") / "lab"
    simulate_to_dataset(root, 3, 1, seed=5, task_seconds=10, progress=False)
    train_model(root, "rf", "m", model_params={"n_estimators": 10}, progress=False)
    return root


@pytest.fixture
def lab(lab_template, tmp_path) -> Path:
    root = tmp_path / "lab"
    shutil.copytree(lab_template, root)
    return root


def tree(root: Path) -> dict:
    """Every file under ``root`` with its bytes (the lock file aside)."""
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


def messages(err: str) -> list[str]:
    """The lines of stderr a user reads, without progress bars (redrawn with a carriage return)."""
    return [line for line in err.split("\n") if line.strip() and "\r" not in line]


@dataclass
class Case:
    argv: list[str]
    message: str
    watched: Path | None = None
    status: int = 1


CASES: dict[str, Callable[[Path, Path], Case]] = {}


def case(name: str):
    def register(build):
        CASES[name] = build
        return build

    return register


def _muse_rows(n: int, start: float = T0, step: float = 1 / 256) -> list[str]:
    return [f"{start + i * step:.6f},1.0,2.0,3.0,4.0,0.0" for i in range(n)]


def _import(path: Path, tmp: Path, *extra: str) -> list[str]:
    labels = ["--participant", "p01", "--session", "1", "--task", "rest"]
    return ["import", str(path), "--to", str(tmp / "new-ds"), *labels, *extra]


def _import_case(tmp: Path, text: str | bytes, message: str, name: str = "rec.csv") -> Case:
    path = tmp / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return Case(_import(path, tmp), message)


# -- recordings ---------------------------------------------------------------------------


@case("empty file")
def _(tmp, lab):
    return _import_case(tmp, "", "the file is empty")


@case("header only")
def _(tmp, lab):
    return _import_case(tmp, MUSE_HEADER, "header but no samples")


@case("binary garbage")
def _(tmp, lab):
    return _import_case(tmp, bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8)), "")


@case("missing file")
def _(tmp, lab):
    return Case(_import(tmp / "nope.csv", tmp), "no such file")


@case("a folder")
def _(tmp, lab):
    (tmp / "folder.csv").mkdir()
    return Case(_import(tmp / "folder.csv", tmp), "is a folder")


@case("timestamp jump of 1e7 s")
def _(tmp, lab):
    rows = _muse_rows(1000)
    rows[500:] = _muse_rows(500, start=T0 + 1e7)
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "jump forward")


@case("gaps adding up to days")
def _(tmp, lab):
    rows = []
    for k in range(60):
        rows += _muse_rows(40, start=T0 + k * 3000)
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "gaps add up")


@case("infinite timestamp")
def _(tmp, lab):
    rows = _muse_rows(1000)
    rows[300] = "inf,1.0,2.0,3.0,4.0,0.0"
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "not a finite number")


@case("all timestamps equal")
def _(tmp, lab):
    rows = _muse_rows(1000, step=0.0)
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "should span")


@case("every row twice")
def _(tmp, lab):
    rows = [row for row in _muse_rows(1000) for _ in range(2)]
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "rows are duplicated")


@case("one row")
def _(tmp, lab):
    return _import_case(tmp, MUSE_HEADER + _muse_rows(1)[0] + "\n", "too short")


@case("two rows")
def _(tmp, lab):
    return _import_case(tmp, MUSE_HEADER + "\n".join(_muse_rows(2)) + "\n", "too short")


@case("one second")
def _(tmp, lab):
    return _import_case(tmp, MUSE_HEADER + "\n".join(_muse_rows(256)) + "\n", "too short")


@case("NaN in EEG")
def _(tmp, lab):
    rows = _muse_rows(1000)
    rows[10] = rows[10].replace("2.0", "nan")
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "missing value")


@case("timestamps jump back 5 s")
def _(tmp, lab):
    rows = _muse_rows(500) + _muse_rows(500, start=T0 + 500 / 256 - 5)
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "goes backwards")


@case("unknown text format")
def _(tmp, lab):
    return _import_case(tmp, "hello\nworld\n", "no format this toolkit knows")


@case("non-number cell")
def _(tmp, lab):
    rows = _muse_rows(1000)
    rows[3] = rows[3].replace("3.0", "x")
    return _import_case(tmp, MUSE_HEADER + "\n".join(rows) + "\n", "'x' is not a number")


def _openbci_text(tmp: Path, header_channels: str, header_rate: str) -> str:
    path = write_openbci(tmp / "o.txt", np.zeros((8, 600)) + 5.0, v5=False)
    lines = path.read_text().splitlines()
    lines[1] = f"%Number of channels = {header_channels}"
    lines[2] = f"%Sample Rate = {header_rate} Hz"
    return "\n".join(lines) + "\n"


@case("OpenBCI zero channels")
def _(tmp, lab):
    return _import_case(tmp, _openbci_text(tmp, "0", "250.0"), "channels", "OpenBCI-RAW.txt")


@case("OpenBCI zero rate")
def _(tmp, lab):
    return _import_case(tmp, _openbci_text(tmp, "8", "0"), "not plausible", "OpenBCI-RAW.txt")


@case("OpenBCI 1e11 Hz")
def _(tmp, lab):
    text = _openbci_text(tmp, "8", "100000000000")
    return _import_case(tmp, text, "not plausible", "OpenBCI-RAW.txt")


@case("OpenBCI header only")
def _(tmp, lab):
    text = "%OpenBCI Raw EEG Data\n%Number of channels = 8\n%Sample Rate = 250.0 Hz\n"
    return _import_case(tmp, text, "no header and no samples", "OpenBCI-RAW.txt")


@case("Mind Monitor without raw rows")
def _(tmp, lab):
    path = write_mind_monitor(tmp / "mm.csv", muse_samples(np.random.default_rng(1), 600), T0, {})
    lines = path.read_text().splitlines()
    cut = [",".join(line.split(",")[:21] + [""] * 4 + line.split(",")[25:]) for line in lines[1:]]
    return _import_case(tmp, "\n".join([lines[0], *cut]) + "\n", "no raw EEG rows")


@case("Mind Monitor garbage time stamp")
def _(tmp, lab):
    path = write_mind_monitor(tmp / "mm.csv", muse_samples(np.random.default_rng(1), 600), T0, {})
    lines = path.read_text().splitlines()
    lines[5] = "yesterday" + lines[5][lines[5].index(",") :]
    return _import_case(tmp, "\n".join(lines) + "\n", "is not a date and time")


def _brainvision(tmp: Path, lab: Path) -> Path:
    source = next(lab.rglob("*_eeg.vhdr"))
    stem = source.name[: -len("_eeg.vhdr")]
    for path in source.parent.glob(f"{stem}_eeg.*"):
        shutil.copy(path, tmp / path.name)
    return tmp / source.name


@case("BrainVision DataFile=/etc/passwd")
def _(tmp, lab):
    vhdr = _brainvision(tmp, lab)
    text = vhdr.read_text(encoding="latin-1")
    vhdr.write_text(
        "\n".join(
            "DataFile=/etc/passwd" if line.startswith("DataFile=") else line
            for line in text.splitlines()
        )
    )
    return Case(_import(vhdr, tmp), "not a file beside the header")


@case("BrainVision DataFile in the parent folder")
def _(tmp, lab):
    vhdr = _brainvision(tmp, lab)
    text = vhdr.read_text(encoding="latin-1")
    vhdr.write_text(text.replace("DataFile=", "DataFile=../"))
    return Case(_import(vhdr, tmp), "not a file beside the header")


@case("BrainVision data file missing")
def _(tmp, lab):
    vhdr = _brainvision(tmp, lab)
    vhdr.with_suffix(".eeg").unlink()
    return Case(_import(vhdr, tmp), "is missing beside the header")


@case("BrainVision data file empty")
def _(tmp, lab):
    vhdr = _brainvision(tmp, lab)
    vhdr.with_suffix(".eeg").write_bytes(b"")
    return Case(_import(vhdr, tmp), "")


@case("EDF garbage")
def _(tmp, lab):
    return _import_case(tmp, b"0       " + b"\x07junk" * 100, "cannot read it as EDF", "x.edf")


@case("BDF truncated")
def _(tmp, lab):
    return _import_case(tmp, b"\xffBIOSEMI" + b" " * 100, "cannot read it as BDF", "x.bdf")


@case("FIF garbage")
def _(tmp, lab):
    return _import_case(tmp, b"\x00\x00\x00\x64" + b"\x01" * 400, "cannot read it as FIF", "x.fif")


@case("BrainFlow file without a board")
def _(tmp, lab):
    rows = "\n".join("\t".join(["1.0"] * 32) for _ in range(600))
    return _import_case(tmp, rows + "\n", "does not say which headset")


@case("BrainFlow file for another board")
def _(tmp, lab):
    path = tmp / "bf.csv"
    path.write_text("\n".join("\t".join(["1.0"] * 7) for _ in range(600)) + "\n")
    return Case(_import(path, tmp, "--board", "synthetic"), "is the board right")


@case("participant label ending in a newline")
def _(tmp, lab):
    path = write_muse_lsl(
        tmp / "r.csv", muse_samples(np.random.default_rng(2), 768), T0 + np.arange(768) / 256
    )
    argv = _import(path, tmp)
    argv[argv.index("p01")] = "p01\n"
    return Case(argv, "", status=2)  # refused as a usage error: a control character


@case("session label with a dash")
def _(tmp, lab):
    path = write_muse_lsl(
        tmp / "r.csv", muse_samples(np.random.default_rng(2), 768), T0 + np.arange(768) / 256
    )
    argv = _import(path, tmp)
    argv[argv.index("1")] = "1-a"
    return Case(argv, "not a valid BIDS label")


@case("import into a file")
def _(tmp, lab):
    path = write_muse_lsl(
        tmp / "r.csv", muse_samples(np.random.default_rng(2), 768), T0 + np.arange(768) / 256
    )
    (tmp / "new-ds").write_text("not a folder")
    return Case(_import(path, tmp), "is a file")


@case("import into a folder that is not a dataset")
def _(tmp, lab):
    path = write_muse_lsl(
        tmp / "r.csv", muse_samples(np.random.default_rng(2), 768), T0 + np.arange(768) / 256
    )
    (tmp / "new-ds").mkdir()
    (tmp / "new-ds" / "notes.txt").write_text("mine")
    return Case(_import(path, tmp), "not empty and not a BIDS dataset", watched=tmp / "new-ds")


@case("import into a dataset whose scans table is damaged")
def _(tmp, lab):
    path = write_muse_lsl(
        tmp / "r.csv", muse_samples(np.random.default_rng(2), 768), T0 + np.arange(768) / 256
    )
    next(lab.rglob("sub-sim01_ses-1_scans.tsv")).write_bytes(b"\xff\xfe\x00garbage\n")
    argv = ["import", str(path), "--to", str(lab), "--participant", "sim01"]
    return Case([*argv, "--session", "2", "--task", "rest"], "is damaged", lab)


# -- a dataset whose files were damaged ----------------------------------------------------


def _first(lab: Path, pattern: str) -> Path:
    return sorted(lab.rglob(pattern))[0]


@case("eeg.json deleted")
def _(tmp, lab):
    _first(lab, "*_eeg.json").unlink()
    return Case(["dataset", "info", str(lab)], "is missing", lab)


@case("eeg.json garbage")
def _(tmp, lab):
    _first(lab, "*_eeg.json").write_text("{not json")
    return Case(["dataset", "info", str(lab)], "is damaged", lab)


@case("eeg.json with a text duration")
def _(tmp, lab):
    sidecar = _first(lab, "*_eeg.json")
    content = json.loads(sidecar.read_text())
    content["RecordingDuration"] = "long"
    sidecar.write_text(json.dumps(content))
    return Case(["dataset", "info", str(lab)], "is damaged", lab)


@case(".eeg deleted")
def _(tmp, lab):
    _first(lab, "*_eeg.eeg").unlink()
    return Case(["features", str(lab)], "is missing beside the header", lab)


@case(".eeg truncated")
def _(tmp, lab):
    data = _first(lab, "*_eeg.eeg")
    data.write_bytes(data.read_bytes()[:7])
    return Case(["features", str(lab)], "was truncated or replaced", lab)


@case("events.tsv garbage")
def _(tmp, lab):
    _first(lab, "*_events.tsv").write_bytes(b"onset\tduration\nabc\x00\tz\t\t\t\n")
    return Case(["features", str(lab)], "cannot be read", lab)


@case("channels.tsv garbage")
def _(tmp, lab):
    _first(lab, "*_channels.tsv").write_text("name\nonly\n")
    return Case(["features", str(lab)], "cannot be read", lab)


@case("header in the dataset points at /etc/passwd")
def _(tmp, lab):
    vhdr = _first(lab, "*_eeg.vhdr")
    text = vhdr.read_text(encoding="latin-1")
    vhdr.write_text(
        "\n".join(
            "DataFile=/etc/passwd" if line.startswith("DataFile=") else line
            for line in text.splitlines()
        )
    )
    return Case(["features", str(lab)], "not a file beside the header", lab)


@case("participants.tsv garbage")
def _(tmp, lab):
    (lab / "participants.tsv").write_bytes(b'participant_id\n"sub-sim01\tx\n')
    return Case(
        ["package", str(lab), "--participant", "sim01", "--out", str(tmp / "p.zip")],
        "is damaged",
        lab,
    )


@case("not a dataset")
def _(tmp, lab):
    return Case(["dataset", "info", str(tmp)], "not a BIDS dataset")


# -- models --------------------------------------------------------------------------------


def _model(lab: Path) -> Path:
    return lab / "derivatives" / "eeg4students" / "models" / "m"


def _predict(tmp: Path, lab: Path) -> list[str]:
    recording = _first(lab, "*_eeg.vhdr")
    return ["predict", str(_model(lab)), str(recording)]


def _edit_card(lab: Path, change) -> None:
    card_file = _model(lab) / "card.json"
    card = json.loads(card_file.read_text())
    change(card)
    card_file.write_text(json.dumps(card))


@case("card.json garbage")
def _(tmp, lab):
    (_model(lab) / "card.json").write_text("{")
    return Case(_predict(tmp, lab), "is not valid JSON", lab)


@case("card.json channels not a list")
def _(tmp, lab):
    _edit_card(lab, lambda card: card.update(channels="TP9"))
    return Case(_predict(tmp, lab), "'channels' is missing or not a list", lab)


@case("card.json with a negative window")
def _(tmp, lab):
    _edit_card(lab, lambda card: card["preprocess"].update(window=-1))
    return Case(_predict(tmp, lab), "preprocessing settings are invalid", lab)


@case("card.json with an unknown setting")
def _(tmp, lab):
    _edit_card(lab, lambda card: card["preprocess"].update(colour="blue"))
    return Case(_predict(tmp, lab), "preprocessing settings are invalid", lab)


@case("card.json classes of another model")
def _(tmp, lab):
    _edit_card(lab, lambda card: card.update(classes=["a", "b"]))
    return Case(_predict(tmp, lab), "do not belong together", lab)


@case("model.skops garbage")
def _(tmp, lab):
    (_model(lab) / "model.skops").write_bytes(b"PK\x03\x04garbage")
    return Case(_predict(tmp, lab), "not a readable skops model", lab)


@case("model folder without a model")
def _(tmp, lab):
    return Case(["predict", str(tmp), str(_first(lab, "*_eeg.vhdr"))], "is not a saved model")


@case("audit log garbage")
def _(tmp, lab):
    log = lab / "derivatives" / "eeg4students" / "audit" / "forget-log.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text("not json\n")
    return Case(["audit", "verify", str(lab)], "not valid JSON", lab)


@case("forget with a damaged journal")
def _(tmp, lab):
    journal = lab / "derivatives" / "eeg4students" / "audit" / "pending.json"
    journal.parent.mkdir(parents=True)
    journal.write_text('{"participant": ')
    return Case(["forget", str(lab), "--participant", "sim01"], "journal", lab)


# -- output paths --------------------------------------------------------------------------


@case("--csv is a folder")
def _(tmp, lab):
    return Case(["dataset", "info", str(lab), "--csv", str(tmp)], "is a folder", lab)


@case("--csv under a file")
def _(tmp, lab):
    (tmp / "afile").write_text("x")
    return Case(
        ["dataset", "info", str(lab), "--csv", str(tmp / "afile" / "t.csv")], "is a file", lab
    )


@case("package --out is a folder")
def _(tmp, lab):
    return Case(
        ["package", str(lab), "--participant", "sim01", "--out", str(tmp)], "is a folder", lab
    )


@case("evaluate --out is a file")
def _(tmp, lab):
    (tmp / "afile").write_text("x")
    return Case(["evaluate", str(lab), "--out", str(tmp / "afile")], "is a file", lab)


@case("evaluate on a damaged dataset, new --out")
def _(tmp, lab):
    _first(lab, "*_eeg.json").write_text("[")
    return Case(["evaluate", str(lab), "--out", str(tmp / "results")], "is damaged", lab)


@case("train --out is a file")
def _(tmp, lab):
    (tmp / "afile").write_text("x")
    argv = ["train", str(lab), "--model", "lda", "--name", "x", "--out", str(tmp / "afile")]
    return Case(argv, "is a file", lab)


# -- packages ------------------------------------------------------------------------------


def _package(lab: Path, tmp: Path) -> Path:
    return package_participant(lab, "sim01", tmp / "good.zip")


def _rebuild(source: Path, target: Path, change=None, manifest_change=None, extra=()) -> Path:
    """Copy a package, changing entries, the manifest, or adding entries (kept consistent)."""
    with zipfile.ZipFile(source) as archive:
        manifest = json.loads(archive.read("manifest.json"))
        entries = {n: archive.read(n) for n in archive.namelist() if n != "manifest.json"}
    for name, data in extra:
        entries[name] = data
        manifest["files"][name] = hashlib.sha256(data).hexdigest()
    if change is not None:
        for name in list(entries):
            new = change(name, entries[name])
            if new is None:
                del entries[name]
                manifest["files"].pop(name)
            else:
                entries[name] = new
                manifest["files"][name] = hashlib.sha256(new).hexdigest()
    if manifest_change is not None:
        manifest_change(manifest)
    with zipfile.ZipFile(target, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
        archive.writestr("manifest.json", json.dumps(manifest))
    return target


def _ingest(package: Path, target: Path, *extra: str) -> list[str]:
    return ["ingest", str(package), "--to", str(target), *extra]


def _ingest_case(tmp, lab, message, **rebuild) -> Case:
    bad = _rebuild(_package(lab, tmp), tmp / "bad.zip", **rebuild)
    return Case(_ingest(bad, tmp / "other-lab"), message)


@case("package: not a zip")
def _(tmp, lab):
    (tmp / "p.zip").write_text("hello")
    return Case(_ingest(tmp / "p.zip", lab), "not a readable zip", lab)


@case("package: empty file")
def _(tmp, lab):
    (tmp / "p.zip").write_bytes(b"")
    return Case(_ingest(tmp / "p.zip", tmp / "other-lab"), "not a readable zip")


@case("package: truncated")
def _(tmp, lab):
    good = _package(lab, tmp)
    (tmp / "p.zip").write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    return Case(_ingest(tmp / "p.zip", tmp / "other-lab"), "not a readable zip")


@case("package: manifest is a list")
def _(tmp, lab):
    good = _package(lab, tmp)
    with zipfile.ZipFile(good) as a, zipfile.ZipFile(tmp / "p.zip", "w") as b:
        for name in a.namelist():
            b.writestr(name, b"[]" if name == "manifest.json" else a.read(name))
    return Case(_ingest(tmp / "p.zip", tmp / "other-lab"), "lacks the participant")


@case("package: digest not a SHA-256")
def _(tmp, lab):
    def change(manifest):
        name = next(iter(manifest["files"]))
        manifest["files"][name] = "abc"

    return _ingest_case(tmp, lab, "is not a SHA-256", manifest_change=change)


@case("package: stray header named like a recording")
def _(tmp, lab):
    extra = [("sub-sim01/ses-1/eeg/notes_eeg.vhdr", b"hello")]
    return _ingest_case(tmp, lab, "is not a file of a BIDS recording", extra=extra)


@case("package: another participant's recording inside")
def _(tmp, lab):
    other = "sub-sim01/ses-1/eeg/sub-sim02_ses-1_task-eeg4students_run-1_eeg.vhdr"
    return _ingest_case(tmp, lab, "is not a file of a BIDS recording", extra=[(other, b"x")])


@case("package: a session folder named for another participant")
def _(tmp, lab):
    extra = [("sub-sim02/ses-1/eeg/sub-sim02_ses-1_task-eeg4students_run-1_eeg.json", b"{}")]
    return _ingest_case(tmp, lab, "belongs to participant 'sim02'", extra=extra)


@case("package: participants row without participant_id")
def _(tmp, lab):
    return _ingest_case(
        tmp,
        lab,
        "names None",
        manifest_change=lambda m: m["participants_row"].pop("participant_id"),
    )


@case("package: participants row naming another participant")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(participant_id="sub-sim02")  # noqa: E731
    return _ingest_case(tmp, lab, "names 'sub-sim02'", manifest_change=change)


@case("package: participants row with a tab and a newline")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(age="3\t4\nsub-x")  # noqa: E731
    return _ingest_case(tmp, lab, "holds tabs", manifest_change=change)


@case("package: participants row with a nested value")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(age={"a": 1})  # noqa: E731
    return _ingest_case(tmp, lab, "not a plain value", manifest_change=change)


@case("package: participants row with an age of 2025 years")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(age=2025)  # noqa: E731
    return _ingest_case(tmp, lab, "is not a number of years", manifest_change=change)


@case("package: participants row with a bad column")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update({"a\tb": "1"})  # noqa: E731
    return _ingest_case(tmp, lab, "bad column name", manifest_change=change)


@case("package: label ending in a newline")
def _(tmp, lab):
    return _ingest_case(
        tmp,
        lab,
        "not a valid BIDS label",
        manifest_change=lambda m: m.update(participant="sim01\n"),
    )


@case("package: path out of the dataset")
def _(tmp, lab):
    return _ingest_case(tmp, lab, "is not a path inside", extra=[("../evil.txt", b"x")])


@case("package: duplicated entry")
def _(tmp, lab):
    good = _package(lab, tmp)
    shutil.copy(good, tmp / "p.zip")
    with zipfile.ZipFile(good) as a, zipfile.ZipFile(tmp / "p.zip", "a") as b:
        name = next(n for n in a.namelist() if n.endswith("_eeg.json"))
        with pytest.warns(UserWarning):
            b.writestr(name, b"{}")
    return Case(_ingest(tmp / "p.zip", tmp / "other-lab"), "appears twice")


@case("package: checksum mismatch")
def _(tmp, lab):
    good = _package(lab, tmp)
    with zipfile.ZipFile(good) as a, zipfile.ZipFile(tmp / "p.zip", "w") as b:
        for item in a.infolist():
            data = a.read(item.filename)
            b.writestr(item, data[:-1] + b"!" if item.filename.endswith("_eeg.eeg") else data)
    return Case(_ingest(tmp / "p.zip", lab), "does not match its checksum", lab)


@case("package: header pointing at /etc/passwd, checksums updated")
def _(tmp, lab):
    def change(name, data):
        if name.endswith("_eeg.vhdr"):
            lines = data.decode("latin-1").splitlines()
            return "\n".join(
                "DataFile=/etc/passwd" if line.startswith("DataFile=") else line for line in lines
            ).encode()
        return data

    return _ingest_case(tmp, lab, "not a file beside the header", change=change)


@case("package: empty data file, checksums updated")
def _(tmp, lab):
    return _ingest_case(
        tmp, lab, "cannot be opened", change=lambda n, d: b"" if n.endswith("_eeg.eeg") else d
    )


@case("package: garbage sidecar, checksums updated")
def _(tmp, lab):
    return _ingest_case(
        tmp, lab, "is damaged", change=lambda n, d: b"{" if n.endswith("_eeg.json") else d
    )


@case("package: recording without its marker file")
def _(tmp, lab):
    return _ingest_case(
        tmp, lab, "lacks its eeg.vmrk", change=lambda n, d: None if n.endswith(".vmrk") else d
    )


@case("package: nothing but the sessions table")
def _(tmp, lab):
    return _ingest_case(
        tmp,
        lab,
        "holds no recording",
        change=lambda n, d: d if n.endswith("sessions.tsv") else None,
    )


@case("package: participant already there")
def _(tmp, lab):
    return Case(_ingest(_package(lab, tmp), lab), "--merge", lab)


@case("package: merging a session already there")
def _(tmp, lab):
    return Case(_ingest(_package(lab, tmp), lab, "--merge"), "already has sim01's ses-1", lab)


@case("package: into a file")
def _(tmp, lab):
    (tmp / "afile").write_text("x")
    return Case(_ingest(_package(lab, tmp), tmp / "afile"), "is a file")


@case("package: a file larger than allowed")
def _(tmp, lab):
    remote.MAX_SIDECAR_BYTES = 100
    return Case(_ingest(_package(lab, tmp), tmp / "other-lab"), "more than such a file may hold")


@case("package: larger than allowed in all")
def _(tmp, lab):
    remote.MAX_PACKAGE_BYTES = 10_000
    return Case(_ingest(_package(lab, tmp), tmp / "other-lab"), "add up to")


# -- protocols, recovery, options -----------------------------------------------------------


@case("record: unknown protocol")
def _(tmp, lab):
    argv = ["record", "--board", "synthetic", "--participant", "p1", "--session", "1"]
    return Case([*argv, "--to", str(tmp / "new-ds"), "--protocol", "nosuch"], "no such protocol")


@case("record: protocol is not YAML")
def _(tmp, lab):
    (tmp / "p.yaml").write_text("a: [b\n")
    argv = ["record", "--board", "synthetic", "--participant", "p1", "--session", "1"]
    return Case(
        [*argv, "--to", str(tmp / "new-ds"), "--protocol", str(tmp / "p.yaml")], "not valid YAML"
    )


@case("record: protocol is a list")
def _(tmp, lab):
    (tmp / "p.yaml").write_text("- a\n- b\n")
    argv = ["record", "--board", "synthetic", "--participant", "p1", "--session", "1"]
    return Case([*argv, "--to", str(tmp / "new-ds"), "--protocol", str(tmp / "p.yaml")], "")


@case("record: headset that cannot be reached, new dataset")
def _(tmp, lab):
    argv = ["record", "--board", "cyton", "--serial-port", str(tmp / "no-such-port")]
    argv += ["--participant", "p1", "--session", "1", "--to", str(tmp / "new-ds"), "--yes"]
    return Case(argv, "Cannot start a session with the cyton headset")


@case("record: headset that cannot be reached, existing dataset")
def _(tmp, lab):
    argv = ["record", "--board", "cyton", "--serial-port", str(tmp / "no-such-port")]
    argv += ["--participant", "p1", "--session", "1", "--to", str(lab), "--yes"]
    return Case(argv, "Cannot start a session with the cyton headset", lab)


@case("recover: no note")
def _(tmp, lab):
    (tmp / "s.csv").write_text("1\t2\n")
    return Case(["recover", str(tmp / "s.csv"), "--to", str(lab)], "no session note", lab)


@case("recover: damaged note")
def _(tmp, lab):
    (tmp / "s.csv").write_text("1\t2\n")
    (tmp / "s.json").write_text("{")
    return Case(["recover", str(tmp / "s.csv"), "--to", str(lab)], "session note is damaged", lab)


@case("recover: note naming a bad label")
def _(tmp, lab):
    (tmp / "s.csv").write_text("1\t2\n")
    note = {k: "x" for k in ("board", "protocol_name", "protocol_source", "session")}
    (tmp / "s.json").write_text(json.dumps({**note, "participant": "../../etc"}))
    return Case(["recover", str(tmp / "s.csv"), "--to", str(lab)], "not a valid BIDS label", lab)


@case("--n-jobs 0")
def _(tmp, lab):
    return Case(["features", str(lab), "--n-jobs", "0"], "", lab, status=2)


@case("--folds 0")
def _(tmp, lab):
    return Case(["evaluate", str(lab), "--out", str(tmp / "o"), "--folds", "0"], "", lab, status=2)


@case("unknown format name")
def _(tmp, lab):
    return Case(_import(tmp / "r.csv", tmp, "--format", "xyz"), "", status=2)


# -- the second round: untrusted files and every option --------------------------------


def _second_model(lab: Path, edit) -> Path:
    """Copy model m to m2 and damage its file with ``edit(entries: dict) -> None``."""
    source = lab / "derivatives" / "eeg4students" / "models" / "m"
    target = source.parent / "m2"
    shutil.copytree(source, target)
    card = json.loads((target / "card.json").read_text())
    (target / "card.json").write_text(json.dumps({**card, "name": "m2"}))
    with zipfile.ZipFile(target / "model.skops") as archive:
        entries = {n: archive.read(n) for n in archive.namelist()}
    edit(entries)
    with zipfile.ZipFile(target / "model.skops", "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return target


def _tree_arrays(entries: dict) -> tuple[dict, str, str]:
    schema = json.loads(entries["schema.json"])
    stack = [schema]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if node.get("__class__") == "Tree":
                state = node["content"]["content"]
                return schema, state["nodes"]["file"], state["values"]["file"]
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    raise AssertionError("no tree")


def _huge_declared_array(entries: dict) -> None:
    _, _, values = _tree_arrays(entries)
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)}
    )
    entries[values] = header.getvalue() + b"\0" * 64


def _cyclic_tree(entries: dict) -> None:
    _, nodes_file, _ = _tree_arrays(entries)
    nodes = np.load(io.BytesIO(entries[nodes_file]))
    nodes["left_child"][0] = 0
    out = io.BytesIO()
    np.save(out, nodes)
    entries[nodes_file] = out.getvalue()


@case("forget: a second model declares an 8 TB array")
def _(tmp, lab):
    _second_model(lab, _huge_declared_array)
    return Case(["forget", str(lab), "--participant", "sim01", "--yes"], "declares", lab)


@case("forget: a second model's tree points back at its root")
def _(tmp, lab):
    _second_model(lab, _cyclic_tree)
    return Case(["forget", str(lab), "--participant", "sim01", "--yes"], "out of range", lab)


@case("forget: a card nested 100,000 levels deep")
def _(tmp, lab):
    (_model(lab) / "card.json").write_text("[" * 100_000 + "]" * 100_000)
    return Case(["forget", str(lab), "--participant", "sim01", "--yes"], "nested", lab)


@case("forget --dry-run: a second model declares an 8 TB array")
def _(tmp, lab):
    _second_model(lab, _huge_declared_array)
    return Case(["forget", str(lab), "--participant", "sim01", "--dry-run"], "declares", lab)


@case("package: participants.tsv without its participant_id column")
def _(tmp, lab):
    path = lab / "participants.tsv"
    path.write_text(path.read_text().replace("participant_id", "pid", 1))
    return Case(
        ["package", str(lab), "--participant", "sim01", "--out", str(tmp / "p.zip")],
        "no participant_id column",
        lab,
    )


@case("features: a dataset holding run 99999999999999999999")
def _(tmp, lab):
    folder = lab / "sub-sim01" / "ses-1" / "eeg"
    stem = "sub-sim01_ses-1_task-eeg4students_run-1"
    big = "sub-sim01_ses-1_task-eeg4students_run-99999999999999999999"
    for path in list(folder.glob(f"{stem}_*")):
        shutil.copy(path, folder / path.name.replace(stem, big))
    return Case(["features", str(lab)], "beyond 9999", lab)


@case("package: manifest nested 200,000 levels deep")
def _(tmp, lab):
    good = _package(lab, tmp)
    with zipfile.ZipFile(good) as a, zipfile.ZipFile(tmp / "p.zip", "w") as b:
        for name in a.namelist():
            deep = b"[" * 200_000 + b"]" * 200_000
            b.writestr(name, deep if name == "manifest.json" else a.read(name))
    return Case(_ingest(tmp / "p.zip", lab), "nested", lab)


@case("package: an encrypted entry")
def _(tmp, lab):
    data = bytearray(_package(lab, tmp).read_bytes())
    # Set the "encrypted" flag of every entry, in the local headers and the directory.
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        start = data.find(signature)
        while start >= 0:
            data[start + offset] |= 0x1
            start = data.find(signature, start + 4)
    (tmp / "p.zip").write_bytes(bytes(data))
    return Case(_ingest(tmp / "p.zip", tmp / "other-lab"), "encrypted")


@case("package: an age in full-width digits")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(age="１５")  # noqa: E731
    return _ingest_case(tmp, lab, "digits other than 0-9", manifest_change=change)


@case("package: a cell that a spreadsheet runs as a formula")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(group="=HYPERLINK(1)")  # noqa: E731
    return _ingest_case(tmp, lab, "formula", manifest_change=change)


@case("package: an age of 1e-320 years")
def _(tmp, lab):
    change = lambda m: m["participants_row"].update(age="1e-320")  # noqa: E731
    return _ingest_case(tmp, lab, "not a number of years", manifest_change=change)


@case("package: a participant differing from one of the dataset only in case")
def _(tmp, lab):
    def rename(manifest):
        manifest["participant"] = "SIM01"
        manifest["participants_row"]["participant_id"] = "sub-SIM01"
        manifest["files"] = {k.replace("sim01", "SIM01"): v for k, v in manifest["files"].items()}

    bad = tmp / "bad.zip"
    with zipfile.ZipFile(_package(lab, tmp)) as a, zipfile.ZipFile(bad, "w") as b:
        manifest = json.loads(a.read("manifest.json"))
        rename(manifest)
        for name in a.namelist():
            if name != "manifest.json":
                b.writestr(name.replace("sim01", "SIM01"), a.read(name))
        b.writestr("manifest.json", json.dumps(manifest))
    return Case(_ingest(bad, lab), "only in case", lab)


def _folder_of(tmp: Path, names: list[str]) -> Path:
    folder = tmp / "incoming"
    folder.mkdir()
    rng = np.random.default_rng(4)
    for name in names:
        write_muse_lsl(folder / name, muse_samples(rng, 512), T0 + np.arange(512) / 256)
    return folder


@case("import folder: a link to a file outside it")
def _(tmp, lab):
    folder = _folder_of(tmp, ["a-rest-1.csv"])
    secret = tmp / "secret.csv"
    secret.write_text("root:x:0:0:root:/root:/bin/bash\n")
    (folder / "b-rest-1.csv").symlink_to(secret)
    argv = [
        "import",
        str(folder),
        "--to",
        str(lab),
        "--pattern",
        "{participant}-{task}-{session}.csv",
    ]
    return Case(argv, "is a link to a file outside", lab)


@case("import folder: participants differing only in case")
def _(tmp, lab):
    folder = _folder_of(tmp, ["Ab-rest-1.csv", "aB-rest-1.csv"])
    argv = [
        "import",
        str(folder),
        "--to",
        str(lab),
        "--pattern",
        "{participant}-{task}-{session}.csv",
    ]
    return Case(argv, "differ only in case", lab)


@case("import: a participant differing from one of the dataset only in case")
def _(tmp, lab):
    folder = _folder_of(tmp, ["r.csv"])
    argv = ["import", str(folder / "r.csv"), "--to", str(lab), "--participant", "SIM01"]
    return Case([*argv, "--session", "1", "--task", "rest"], "only in case", lab)


@case("import folder: run 99999999999999999999 in a file name")
def _(tmp, lab):
    folder = _folder_of(tmp, ["a-rest-1-99999999999999999999.csv"])
    pattern = "{participant}-{task}-{session}-{run}.csv"
    argv = ["import", str(folder), "--to", str(lab), "--pattern", pattern]
    return Case(argv, "must be from 1 to 9999", lab)


@case("import: a participants table naming one participant twice")
def _(tmp, lab):
    folder = _folder_of(tmp, ["a-rest-1.csv"])
    (tmp / "people.csv").write_text("participant,age\na,15\nb,16\na,17\n")
    argv = [
        "import",
        str(folder),
        "--to",
        str(lab),
        "--pattern",
        "{participant}-{task}-{session}.csv",
    ]
    return Case([*argv, "--participants-table", str(tmp / "people.csv")], "lines 2 (a) and 4", lab)


@case("features: a window longer than every block (refused after reading recordings)")
def _(tmp, lab):
    return Case(["features", str(lab), "--window", "600"], "longer than every block", lab)


@case("classroom: a roster of 10,000 headsets")
def _(tmp, lab):
    rows = "".join(f"p{i},synthetic\n" for i in range(10_000))
    (tmp / "roster.csv").write_text("participant,board\n" + rows)
    argv = ["classroom", "--to", str(lab), "--session", "1", "--roster", str(tmp / "roster.csv")]
    return Case(argv, "at most 64", lab)


@case("simulate: 1,000 participants x 100 sessions (8,333 hours of EEG)")
def _(tmp, lab):
    argv = ["simulate", "--to", str(tmp / "s"), "--participants", "1000", "--sessions", "100"]
    return Case(argv, "hours of EEG")


@case("audit key: a key file inside a dataset, --dataset not given")
def _(tmp, lab):
    return Case(["audit", "key", str(lab / "derivatives" / "k.key")], "inside the dataset", lab)


#: Options with values no command may take: each a usage error (status 2) that changes
#: nothing. (argv without the dataset path, which the case adds first where there is one.)
BAD_OPTIONS = {
    "features --window inf": ["features", "{lab}", "--window", "inf"],
    "features --hop 1e-9": ["features", "{lab}", "--hop", "1e-9"],
    "features --line-freq nan": ["features", "{lab}", "--line-freq", "nan"],
    "features --band-pass 1 nan": ["features", "{lab}", "--band-pass", "1", "nan"],
    "features --max-ptp -5": ["features", "{lab}", "--max-ptp", "-5"],
    "features --min-kept 2": ["features", "{lab}", "--min-kept", "2"],
    "features --scheduler ''": ["features", "{lab}", "--scheduler", ""],
    "features --scheduler nonsense": ["features", "{lab}", "--scheduler", "nonsense"],
    "features --channels ''": ["features", "{lab}", "--channels", ""],
    "features --channels a,,b": ["features", "{lab}", "--channels", "a,,b"],
    "features --n-jobs 100000": ["features", "{lab}", "--n-jobs", "100000"],
    "features --n-jobs 1000": ["features", "{lab}", "--n-jobs", "1000"],
    "features --window given twice": ["features", "{lab}", "--window", "2", "--window", "3"],
    "simulate --task-seconds nan": ["simulate", "--to", "{tmp}/s", "--task-seconds", "nan"],
    "simulate --task-seconds 1e12": ["simulate", "--to", "{tmp}/s", "--task-seconds", "1e12"],
    "simulate --seed -1": ["simulate", "--to", "{tmp}/s", "--seed", "-1"],
    "simulate --participants 10000000": [
        "simulate",
        "--to",
        "{tmp}/s",
        "--participants",
        "10000000",
    ],
    "simulate --participants 1.5": ["simulate", "--to", "{tmp}/s", "--participants", "1.5"],
    "record --task-seconds nan": [
        "record",
        "--board",
        "synthetic",
        "--participant",
        "p1",
        "--session",
        "1",
        "--to",
        "{lab}",
        "--task-seconds",
        "nan",
        "--yes",
    ],
    "record --stall-timeout nan": [
        "record",
        "--board",
        "synthetic",
        "--participant",
        "p1",
        "--session",
        "1",
        "--to",
        "{lab}",
        "--stall-timeout",
        "nan",
        "--yes",
    ],
    "record --participant given twice": [
        "record",
        "--board",
        "synthetic",
        "--participant",
        "p1",
        "--participant",
        "p2",
        "--session",
        "1",
        "--to",
        "{lab}",
        "--yes",
    ],
    "classroom --task-seconds inf": [
        "classroom",
        "--to",
        "{lab}",
        "--session",
        "1",
        "--headset",
        "a,synthetic",
        "--task-seconds",
        "inf",
    ],
    "classroom --task-seconds nan": [
        "classroom",
        "--to",
        "{lab}",
        "--session",
        "1",
        "--headset",
        "a,synthetic",
        "--task-seconds",
        "nan",
    ],
    "classroom --stall-timeout nan": [
        "classroom",
        "--to",
        "{lab}",
        "--session",
        "1",
        "--headset",
        "a,synthetic",
        "--stall-timeout",
        "nan",
    ],
    "classroom --port -1": [
        "classroom",
        "--to",
        "{lab}",
        "--session",
        "1",
        "--headset",
        "a,synthetic",
        "--port",
        "-1",
    ],
    "classroom --port 70000": [
        "classroom",
        "--to",
        "{lab}",
        "--session",
        "1",
        "--headset",
        "a,synthetic",
        "--port",
        "70000",
    ],
    "forget --band nan": ["forget", "{lab}", "--participant", "sim01", "--band", "nan", "--yes"],
    "forget --band -1": ["forget", "{lab}", "--participant", "sim01", "--band", "-1", "--yes"],
    "train --epsilon 0": [
        "train",
        "{lab}",
        "--model",
        "lr",
        "--name",
        "c",
        "--unlearnable",
        "certified",
        "--epsilon",
        "0",
    ],
    "forget --proxy-fraction 5": [
        "forget",
        "{lab}",
        "--participant",
        "sim01",
        "--proxy-fraction",
        "5",
    ],
    "train --delta 1": [
        "train",
        "{lab}",
        "--model",
        "lr",
        "--name",
        "c",
        "--unlearnable",
        "certified",
        "--delta",
        "1",
    ],
    "forget --shadows 1": ["forget", "{lab}", "--participant", "sim01", "--shadows", "1"],
    "forget --participant given twice": [
        "forget",
        "{lab}",
        "--participant",
        "sim01",
        "--participant",
        "sim02",
        "--yes",
    ],
    "train --shards 1000000": ["train", "{lab}", "--name", "x", "--shards", "1000000"],
    "train --q 0": ["train", "{lab}", "--name", "x", "--q", "0"],
    "evaluate --folds 1": ["evaluate", "{lab}", "--out", "{tmp}/o", "--folds", "1"],
    "evaluate --minutes 0,nan": ["evaluate", "{lab}", "--out", "{tmp}/o", "--minutes", "0,nan"],
    "live --seconds inf": ["live", "--board", "synthetic", "--model", "{lab}", "--seconds", "inf"],
    "live --lag nan": ["live", "--board", "synthetic", "--model", "{lab}", "--lag", "nan"],
    "dataset info --csv ''": ["dataset", "info", "{lab}", "--csv", ""],
    "import --run 0": ["import", "{tmp}/r.csv", "--to", "{lab}", "--run", "0"],
    "a path holding a NUL": ["features", "{lab}\x00x"],
}


def _options_case(argv: list[str]):
    def build(tmp, lab):
        filled = [a.replace("{lab}", str(lab)).replace("{tmp}", str(tmp)) for a in argv]
        return Case(filled, "", lab, status=2)

    return build


for _name, _argv in BAD_OPTIONS.items():
    CASES[f"option: {_name}"] = _options_case(_argv)


@pytest.fixture
def limits(monkeypatch):
    """Package limits restored after cases that lower them."""
    for name in ("MAX_SIDECAR_BYTES", "MAX_PACKAGE_BYTES"):
        monkeypatch.setattr(remote, name, getattr(remote, name))


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_gives_one_clean_line_and_changes_nothing(
    name, tmp_path, lab, capsys, limits
):
    work = tmp_path / "work"
    work.mkdir()
    spec = CASES[name](work, lab)
    watched = {path: tree(path) for path in {lab, spec.watched} if path is not None}
    before = sorted(p.name for p in work.iterdir())
    try:
        status = main(spec.argv)
    except SystemExit as exit_:
        status = exit_.code
    err = capsys.readouterr().err
    assert status == spec.status, err
    if spec.status == 1:
        lines = messages(err)
        assert len(lines) == 1, err
        assert lines[0].startswith("eeg4students: error: "), err
        assert spec.message in lines[0], err
    assert "Traceback" not in err
    for path, content in watched.items():
        assert tree(path) == content, f"{path} changed"
    after = sorted(p.name for p in work.iterdir())
    assert after == before, "a failed command left files behind"
