"""The README runs as written: its console examples, in order, in an empty folder.

Every ```console block whose lines start with ``$ `` is run in one empty
folder, in the README's order: ``eeg4students`` commands in this process,
other commands (``cp``, ``mkdir``) through the shell. The lines the README
shows under a command must appear in its output in that order (``...``
inside a line stands for any text, a line of only ``...`` for any lines;
spacing is free, as tables wrap). A command ending in `` &`` runs in the
background, as a shell runs it (a process of its own, here with SIGINT
ignored as a shell's background job has it); the block's end waits for
every such process, which must exit 0 and print the lines shown under it. A
block preceded by ``<!-- not run by the README test: REASON -->`` is
skipped, and must say why.
"""

from __future__ import annotations

import re
import shlex
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eeg4students.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"
SKIP = re.compile(r"<!-- not run by the README test: (?P<why>[^>]+?) -->\s*$")

# The walkthrough records a real (synthetic-board) session and streams live.
pytestmark = pytest.mark.slow


def console_blocks(text: str) -> list[tuple[int, list[str], str | None]]:
    """Each console block: its first line number, its lines, and why it is skipped."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        if lines[i].strip() == "```console":
            start = i + 1
            end = next(j for j in range(start, len(lines)) if lines[j].strip() == "```")
            before = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
            skip = SKIP.search(before)
            blocks.append((start + 1, lines[start:end], skip["why"] if skip else None))
            i = end
        i += 1
    return blocks


def commands(block: list[str]) -> list[tuple[str, list[str]]]:
    """The ``$`` commands of a block with the output lines shown under each."""
    out: list[tuple[str, list[str]]] = []
    for line in block:
        if line.startswith("$ "):
            out.append((line[2:], []))
        elif out:
            out[-1][1].append(line)
    return out


def _pattern(shown: str) -> re.Pattern:
    """A shown line as a pattern: ``...`` is any text, spaces any spacing."""
    parts = [re.escape(part).replace("\\ ", r"\s*") for part in shown.split("...")]
    return re.compile(".*?".join(parts))


def check_output(command: str, shown: list[str], output: str) -> None:
    """Every shown line appears in the output, in order (tables may wrap)."""
    flat = " ".join(output.split())
    position = 0
    for line in shown:
        if line.strip() in ("", "..."):
            continue
        found = _pattern(" ".join(line.split())).search(flat, position)
        assert found, f"{command!r} did not print {line.strip()!r}; it printed:\n{output}"
        position = found.end()


def run(command: str, capsys) -> str:
    argv = shlex.split(command)
    if argv[0] == "eeg4students":
        status = main(argv[1:])
        captured = capsys.readouterr()
        assert status == 0, f"{command!r} exited {status}:\n{captured.out}{captured.err}"
        return captured.out + captured.err
    result = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"{command!r} failed:\n{result.stderr}"
    return result.stdout + result.stderr


def test_every_skipped_block_says_why_and_runnable_blocks_only_run_known_commands():
    blocks = console_blocks(README.read_text())
    assert len(blocks) >= 10
    for line, block, why in blocks:
        if why is None:
            for command, _ in commands(block):
                assert shlex.split(command)[0] in ("eeg4students", "cp", "mkdir"), (line, command)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def start(command: str, logs: Path) -> tuple[subprocess.Popen, Path]:
    """Start ``eeg4students ... &`` as a process of its own; its output goes to a file."""
    argv = shlex.split(command.removesuffix("&"))
    assert argv[0] == "eeg4students", command
    log = logs / f"background-{len(list(logs.iterdir()))}.txt"
    with log.open("w") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "eeg4students", *argv[1:]],
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=_ignore_sigint,
        )
    return process, log


def test_the_readme_runs_as_written(tmp_path, tmp_path_factory, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    logs = tmp_path_factory.mktemp("background")
    ran = 0
    for line, block, why in console_blocks(README.read_text()):
        if why is not None:
            continue
        background = []
        for command, shown in commands(block):
            if command.rstrip().endswith(" &"):
                background.append((command, shown, *start(command, logs)))
            else:
                output = run(command, capsys)
                check_output(f"README line {line}: {command}", shown, output)
            ran += 1
        for command, shown, process, log in background:
            try:
                status = process.wait(timeout=300)
            except subprocess.TimeoutExpired:
                process.kill()
                pytest.fail(f"{command!r} still ran after 300 s:\n{log.read_text()}")
            output = log.read_text()
            assert status == 0, f"{command!r} exited {status}:\n{output}"
            check_output(f"README line {line}: {command}", shown, output)
    assert ran >= 20
