"""Bad input: each case raises the toolkit's error naming the file and the problem."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import muse_samples, write_muse_lsl

from eeg4students.cli import main
from eeg4students.errors import EEG4StudentsError, RecordingFormatError
from eeg4students.io import read_recording

HEADER = "timestamps,TP9,AF7,AF8,TP10,Right AUX\n"


def _rows(n: int, start: float = 1_700_000_000.0) -> list[str]:
    return [f"{start + i / 256:.6f},1.0,2.0,3.0,4.0,0.0" for i in range(n)]


def _case(tmp_path, name: str) -> tuple:
    path = tmp_path / "bad.csv"
    rows = _rows(20)
    if name == "empty":
        path.write_text("")
        return path, "empty", None, None
    if name == "header only":
        path.write_text(HEADER)
        return path, "header but no samples", None, None
    if name == "short line in the middle":
        rows[12] = rows[12][:22]
        path.write_text(HEADER + "\n".join(rows) + "\n")
        return path, "missing value", 14, None
    if name == "non-numeric cell":
        rows[6] = rows[6].replace("2.0", "abc")
        path.write_text(HEADER + "\n".join(rows) + "\n")
        return path, "'abc' is not a number", 8, "AF7"
    if name == "missing column":
        path.write_text("timestamps,TP9,AF7,TP10,Right AUX\n" + "\n".join(r[:-4] for r in rows))
        return path, "no column 'AF8'", None, None
    if name == "NaN run":
        for i in range(5, 9):
            rows[i] = rows[i].replace("3.0", "nan")
        path.write_text(HEADER + "\n".join(rows) + "\n")
        return path, "4 missing value", 7, "AF8"
    if name == "timestamps jump back":
        rows[11:] = _rows(9, start=1_700_000_000.0 - 5.0)  # a second recording, 5 s earlier
        path.write_text(HEADER + "\n".join(rows) + "\n")
        return path, "goes backwards by 5.0", 13, None
    if name == "unknown format":
        path.write_text("hello there\nthis is not EEG\n")
        return path, "no format this toolkit knows", None, None
    raise AssertionError(name)


CASES = [
    "empty",
    "header only",
    "short line in the middle",
    "non-numeric cell",
    "missing column",
    "NaN run",
    "timestamps jump back",
    "unknown format",
]


@pytest.mark.parametrize("name", CASES)
def test_reader_names_file_line_and_problem(tmp_path, name):
    path, problem, line, column = _case(tmp_path, name)
    with pytest.raises(RecordingFormatError) as info:
        read_recording(path)
    message = str(info.value)
    assert message.startswith(str(path))
    assert problem in message
    if line is not None:
        assert f"line {line}" in message
    if column is not None:
        assert f"column {column!r}" in message
    assert isinstance(info.value, EEG4StudentsError)
    assert "\n" not in message


@pytest.mark.parametrize("name", CASES)
def test_cli_prints_one_line_and_writes_nothing(tmp_path, capsys, name):
    path, problem, _, _ = _case(tmp_path, name)
    dataset = tmp_path / "dataset"
    status = main(
        [
            "import",
            str(path),
            "--to",
            str(dataset),
            "--participant",
            "p01",
            "--session",
            "1",
            "--task",
            "rest",
        ]
    )
    err = capsys.readouterr().err
    assert status == 1
    assert err.count("\n") == 1
    assert err.startswith("eeg4students: error: ")
    assert problem in err
    assert "Traceback" not in err
    assert not dataset.exists()


def test_one_bad_file_among_good_ones_writes_nothing(tmp_path, rng, capsys):
    good = write_muse_lsl(
        tmp_path / "good.csv", muse_samples(rng, 768), np.arange(768) / 256 + 1e9
    )
    dataset = tmp_path / "dataset"
    args = ["--to", str(dataset), "--participant", "p01", "--session", "1", "--task", "rest"]
    assert main(["import", str(good), *args]) == 0
    before = sorted(p.relative_to(dataset) for p in dataset.rglob("*"))
    bad, *_ = _case(tmp_path, "non-numeric cell")
    assert main(["import", str(good), str(bad), *args]) == 1
    assert sorted(p.relative_to(dataset) for p in dataset.rglob("*")) == before
    assert "is not a number" in capsys.readouterr().err


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(RecordingFormatError, match="no such file"):
        read_recording(tmp_path / "nope.csv")
    with pytest.raises(RecordingFormatError, match="is a folder"):
        read_recording(tmp_path)


def test_openbci_header_without_rate(tmp_path):
    path = tmp_path / "OpenBCI-RAW.txt"
    path.write_text("%OpenBCI Raw EEG Data\n%Number of channels = 8\n0, 1, 2\n")
    with pytest.raises(RecordingFormatError, match="Sample Rate"):
        read_recording(path)


def test_a_parser_message_on_several_lines_becomes_one(tmp_path, monkeypatch):
    """pandas 2.2 ends some C-parser messages with a newline and a "."."""
    import pandas as pd

    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "\n".join(_rows(20)) + "\n")

    def overflow(*args, **kwargs):
        raise pd.errors.ParserError(
            "Error tokenizing data. C error: Buffer overflow caught - possible malformed input "
            "file.\n."
        )

    monkeypatch.setattr(pd, "read_csv", overflow)
    with pytest.raises(RecordingFormatError) as caught:
        read_recording(path)
    message = str(caught.value)
    assert "\n" not in message and message.endswith("possible malformed input file."), message
