"""Progress where nobody watches a terminal: a few flushed lines, never a bar's noise."""

from __future__ import annotations

import os
import subprocess
import sys

from eeg4students import _progress
from eeg4students._progress import ProgressLines, progress_bar


def test_lines_at_the_start_every_tenth_and_the_end(monkeypatch, capsys):
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "auto")  # stderr is a pipe here
    assert list(progress_bar(range(30), desc="features", unit="rec")) == list(range(30))
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "eeg4students: features: started of 30 rec"
    assert [line.split(": ")[2].split(" (")[0] for line in lines[1:-1]] == [
        f"{p}%" for p in range(10, 100, 10)
    ]
    assert lines[-1].startswith("eeg4students: features: done, 30 rec in ")
    assert not any("\r" in line for line in lines)


def test_a_stage_of_unknown_size_says_so_every_minute(monkeypatch, capsys):
    clock = iter(float(t) for t in range(0, 1000, 25))
    monkeypatch.setattr(_progress.time, "monotonic", lambda: next(clock))
    progress = ProgressLines(desc="import", unit="file")
    for _ in range(6):
        progress.update()
    progress.close()
    lines = capsys.readouterr().err.splitlines()
    assert lines[0] == "eeg4students: import: started"
    assert any("import: 3 file" in line for line in lines[1:-1])
    assert lines[-1].startswith("eeg4students: import: done, 6 file")


def test_off_and_quiet_say_nothing(monkeypatch, capsys):
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "off")
    list(progress_bar(range(5), desc="x"))
    monkeypatch.setenv("EEG4STUDENTS_PROGRESS", "auto")
    list(progress_bar(range(5), desc="x", enabled=False))
    assert capsys.readouterr().err == ""


def test_a_command_into_a_pipe_prints_each_line_as_it_goes(tmp_path):
    # Its stdout is a pipe: lines must arrive before the command ends (line buffering),
    # and its stderr gets progress lines, not bars.
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
    assert "simulate: started of 2 rec" in done.stderr and "\r" not in done.stderr
    assert "2 simulated recordings" in done.stdout
    assert "line buffered True" in done.stderr
