"""The sample recordings installed with the package: copied whole, checked, importable."""

from __future__ import annotations

import hashlib
import shutil

import pytest

from eeg4students import sample_data
from eeg4students.cli import main
from eeg4students.errors import EEG4StudentsError


def test_samples_command_copies_recordings_licences_and_checksums(tmp_path, capsys):
    out = tmp_path / "samples"
    assert main(["samples", "--out", str(out)]) == 0
    assert "licence LICENSE-muse-lsl.txt" in capsys.readouterr().out
    sums = dict(reversed(line.split()) for line in (out / "SHA256SUMS").read_text().splitlines())
    for sample in sample_data.SAMPLES:
        copied = out / sample.path
        assert hashlib.sha256(copied.read_bytes()).hexdigest() == sums[sample.path]
        assert (copied.parent / sample.licence).is_file()


def test_a_damaged_installation_is_named(tmp_path, monkeypatch):
    fake = tmp_path / "installed"
    shutil.copytree(sample_data.SAMPLES_DIR, fake)
    target = fake / sample_data.SAMPLES[0].path
    target.write_bytes(target.read_bytes()[:-10])
    monkeypatch.setattr(sample_data, "SAMPLES_DIR", fake)
    with pytest.raises(EEG4StudentsError, match="does not match its SHA-256; reinstall"):
        sample_data.copy_samples(tmp_path / "out")


def test_samples_into_a_file_is_refused(tmp_path, capsys):
    (tmp_path / "file.txt").write_text("x")
    assert main(["samples", "--out", str(tmp_path / "file.txt")]) == 1
    assert "is a file" in capsys.readouterr().err
