"""Datasets the toolkit writes pass the BIDS validator (bids-validator-deno, from PyPI).

Simulated sessions (with the protocol's task description and instructions),
imported real recordings of two formats, and a forgotten participant: the
validator must report no error, and none of the warnings the toolkit can
prevent (placeholder authors, missing task description or instructions).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from eeg4students.cli import main
from eeg4students.sample_data import SAMPLES_DIR as SAMPLES


def _validator() -> str:
    exe = Path(sys.executable).with_name("bids-validator-deno")
    found = str(exe) if exe.is_file() else shutil.which("bids-validator-deno")
    if not found:
        pytest.skip("bids-validator-deno is not installed (pip install -e '.[test]')")
    return found


def _validate(root: Path) -> list[dict]:
    result = subprocess.run(
        [_validator(), str(root), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_COLOR": "1"},
    )
    assert result.stdout.strip(), result.stderr
    return json.loads(result.stdout)["issues"]["issues"]


def test_simulated_and_imported_datasets_pass_the_validator(tmp_path, capsys):
    root = tmp_path / "class"
    assert (
        main(
            [
                "simulate",
                "--to",
                str(root),
                "--participants",
                "3",
                "--sessions",
                "2",
                "--task-seconds",
                "8",
            ]
        )
        == 0
    )
    assert main(["forget", str(root), "--participant", "sim01", "--yes"]) == 0
    issues = _validate(root)
    errors = [i for i in issues if i["severity"] == "error"]
    assert not errors, errors
    avoidable = {"TaskDescription", "Instructions", "Authors", "License"}
    assert not [i for i in issues if i.get("subCode") in avoidable], issues
    sidecar = json.loads(next(root.glob("sub-*/ses-1/eeg/*_eeg.json")).read_text())
    assert sidecar["Instructions"].startswith("Think: ")
    assert "EEG4Students protocol" in sidecar["TaskDescription"]

    real = tmp_path / "real"
    argv = ["import", "--to", str(real), "--session", "1", "--author", "A. Teacher"]
    muse = SAMPLES / "muse-lsl" / "data_2017-09-27-14.50.29.csv"
    obci = SAMPLES / "openbci-gui" / "OpenBCI_GUI-v6-blinks-jawClench-alpha.txt"
    assert main([*argv[:1], str(muse), *argv[1:], "--participant", "lsl1", "--task", "ssaep"]) == 0
    assert (
        main([*argv[:1], str(obci), *argv[1:], "--participant", "obci1", "--task", "artifacts"])
        == 0
    )
    capsys.readouterr()
    errors = [i for i in _validate(real) if i["severity"] == "error"]
    assert not errors, errors
    description = json.loads((real / "dataset_description.json").read_text())
    assert description["Authors"] == ["A. Teacher"]
