"""Progress where nobody watches a terminal: a few flushed lines, never a bar's noise."""

from __future__ import annotations

import os
import subprocess
import sys

from eeg4students import _progress
from eeg4students._progress import ProgressLines, progress_bar


def _clock(monkeypatch, step: float) -> None:
    ticks = iter(step * k for k in range(100_000))
    monkeypatch.setattr(_progress.time, "monotonic", lambda: next(ticks))


def test_a_long_stage_says_so_every_tenth_and_at_its_end(monkeypatch, capsys):
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "auto")  # stderr is a pipe here
    monkeypatch.setattr(_progress, "_in_notebook", lambda: False)
    _clock(monkeypatch, 1.0)  # each step takes a second
    assert list(progress_bar(range(30), desc="features", unit="rec")) == list(range(30))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("eeg4students: features: ")  # once it has run 2 s
    shares = [line.split(": ")[2].split(" (")[0] for line in lines[1:-1]]
    assert shares == [f"{p}%" for p in range(10, 100, 10)]
    assert lines[-1].startswith("eeg4students: features: done, 30 rec in ")
    assert not any("\r" in line for line in lines)


def test_a_quick_stage_writes_nothing(monkeypatch, capsys):
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "auto")
    monkeypatch.setattr(_progress, "_in_notebook", lambda: False)
    _clock(monkeypatch, 0.01)
    list(progress_bar(range(30), desc="features", unit="rec"))
    assert capsys.readouterr().err == ""


def test_a_stage_of_unknown_size_says_so_every_minute(monkeypatch, capsys):
    _clock(monkeypatch, 25.0)
    progress = ProgressLines(desc="import", unit="file")
    for _ in range(6):
        progress.update()
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "eeg4students: import: 1 file, 25 s"
    assert any("import: 4 file" in line for line in lines[1:-1])
    assert lines[-1].startswith("eeg4students: import: done, 6 file")


def test_off_and_quiet_say_nothing(monkeypatch, capsys):
    _clock(monkeypatch, 10.0)
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "off")
    list(progress_bar(range(5), desc="x"))
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "auto")
    list(progress_bar(range(5), desc="x", enabled=False))
    assert capsys.readouterr().err == ""


def test_a_command_into_a_pipe_prints_each_line_as_it_goes(tmp_path):
    # Its stdout is a pipe: each line must go out as it is printed (line buffering), and
    # its stderr holds no bar's carriage returns.
    code = (
        "import sys; sys.argv = ['eeg4students', 'simulate', '--to', sys.argv[1], "
        "'--participants', '2', '--sessions', '1', '--task-seconds', '5']; "
        "from eeg4students.cli import run\n"
        "try:\n    run()\nexcept SystemExit:\n"
        "    print('line buffered', sys.stdout.line_buffering, file=sys.stderr)"
    )
    env = {**os.environ, "EEG4STUDENTS_PROGRESS": "auto"}
    done = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "ds")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "2 simulated recordings" in done.stdout
    assert "line buffered True" in done.stderr and "\r" not in done.stderr
