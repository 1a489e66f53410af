"""The command line: help, the commands of this stage, one-line errors."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import muse_samples, write_muse_lsl

from eeg4students._compat import SubParsersAction, parser_actions
from eeg4students.cli import main
from eeg4students.store import Dataset


@pytest.mark.parametrize("command", [[], ["import"], ["dataset", "info"], ["simulate"], ["demo"]])
def test_help(command, capsys):
    with pytest.raises(SystemExit) as info:
        main([*command, "--help"])
    assert info.value.code == 0
    assert "usage: eeg4students" in capsys.readouterr().out


def test_import_runs_and_dataset_info(tmp_path, rng, capsys):
    files = [
        write_muse_lsl(
            tmp_path / f"r{i}.csv", muse_samples(rng, 2560), 1e9 + np.arange(2560) / 256
        )
        for i in range(2)
    ]
    root = tmp_path / "ds"
    args = ["--to", str(root), "--participant", "p01", "--session", "1", "--task", "relaxed"]
    assert main(["import", *map(str, files), *args]) == 0
    out = capsys.readouterr().out
    assert "run-1" in out and "run-2" in out
    dataset = Dataset(root)
    assert list(dataset.recordings()["run"]) == [1, 2]
    # A file without block markers is one block of its task.
    raw = dataset.load("p01", "1", "relaxed", 2)
    assert list(raw.annotations.description) == ["task/relaxed"]
    assert raw.annotations.duration[0] == pytest.approx(raw.times[-1], abs=1e-3)

    csv = tmp_path / "info.csv"
    assert main(["dataset", "info", str(root), "--csv", str(csv)]) == 0
    out = capsys.readouterr().out
    assert "1 participants, 1 sessions, 2 recordings" in out
    assert "relaxed" in out and csv.is_file()


def test_simulate_and_info(tmp_path, capsys):
    root = tmp_path / "sim"
    status = main(
        [
            "simulate",
            "--to",
            str(root),
            "--participants",
            "3",
            "--sessions",
            "2",
            "--task-seconds",
            "3",
            "--seed",
            "4",
        ]
    )
    assert status == 0
    assert Dataset(root).summary()["recordings"] == 6
    capsys.readouterr()
    assert main(["dataset", "info", str(root)]) == 0
    assert "3 participants, 6 sessions, 6 recordings" in capsys.readouterr().out


def test_features_command_prints_quality(tmp_path, capsys):
    root = tmp_path / "sim"
    assert (
        main(
            [
                "simulate",
                "--to",
                str(root),
                "--participants",
                "2",
                "--sessions",
                "1",
                "--task-seconds",
                "10",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["features", str(root), "--window", "2", "--hop", "0.5", "--relative"]) == 0
    out = capsys.readouterr().out
    assert "Quality (share of windows kept" in out
    assert "sim01" in out and "plateau" in out
    assert "x 40 features" in out
    assert main(["features", str(root), "--band-pass", "1", "200"]) == 1
    assert "at or above Nyquist" in capsys.readouterr().err


def test_demo_writes_summary_reports_and_model(tmp_path, capsys):
    from eeg4students.demo import run_demo

    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--participants", "2", "--sessions", "2"]) == 0
    printed = capsys.readouterr().out
    assert "Simulated class: 2 participants x 2 sessions" in printed
    assert "Mean accuracy per participant, cross-session" in printed
    text = (out / "summary.md").read_text()
    assert "2 participants x 2 sessions, 4 recordings" in text
    assert "- time-blocked: rf " in text and "tmv-block" in text
    for scheme in ("cross-session", "time-blocked"):
        assert (out / "evaluation" / scheme / "report.html").is_file()
    assert (out / "dataset" / "derivatives" / "eeg4students" / "models" / "demo").is_dir()
    assert (out / "quality.tsv").is_file()
    # The real sample recordings shipped in data/ are imported and measured too.
    assert "Real sample recordings (shipped with the toolkit)" in printed
    assert "## Real sample recordings" in text and "measurement date is unknown" in text
    real = Dataset(out / "real-data").recordings()
    assert sorted(real["participant"]) == ["lsl1", "obci1"]
    assert set(real["duration_s"].round()) == {120.0, 90.0}
    # Running again starts afresh rather than piling up; with three participants
    # there is someone to forget and someone never seen.
    result = run_demo(
        out, n_participants=3, n_sessions=1, schemes=(), real_data=None, progress=False
    )
    forgotten = result["forgetting"]["participant"]
    assert Dataset(out / "dataset").participants() == sorted(
        {"sim01", "sim02", "sim03"} - {forgotten}
    )
    assert set(result["forgetting"]["tradeoff"]["strategy"]) == {
        "retrain",
        "sharded",
        "certified",
        "conmu",
    }
    assert (out / "forgetting" / "tradeoff.png").is_file()
    assert f"## Forgetting participant {forgotten}" in (out / "summary.md").read_text()


def test_demo_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "mine.txt").write_text("keep me")
    assert main(["demo", "--out", str(tmp_path)]) == 1
    assert "was not made by the demo" in capsys.readouterr().err
    assert (tmp_path / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["dataset", "info", "{tmp}/nowhere"], "no such dataset folder"),
        (["dataset", "info", "{tmp}"], "is not a BIDS dataset"),
        (
            [
                "import",
                "{tmp}/x.csv",
                "--to",
                "{tmp}/d",
                "--participant",
                "a b",
                "--session",
                "1",
                "--task",
                "t",
            ],
            "not a valid BIDS label",
        ),
        (["simulate", "--to", "{tmp}/s", "--protocol", "{tmp}/none.yaml"], "no such protocol"),
    ],
)
def test_user_errors_are_one_line_without_traceback(tmp_path, argv, message):
    argv = [a.replace("{tmp}", str(tmp_path)) for a in argv]
    result = subprocess.run(
        [sys.executable, "-m", "eeg4students.cli", *argv],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("\n") == 1


def _check_self_contained_report(path, n_figures):
    """One HTML file: every image embedded, captions that explain, settings as tables."""
    import re

    page = path.read_text()
    sources = re.findall(r"""<img[^>]*\bsrc=['"]([^'"]*)""", page)
    assert len(sources) >= n_figures  # mne.Report adds its logo
    assert all(src.startswith("data:image/png;base64,") for src in sources)
    assert not re.search(r"""<(script|link)[^>]*(src|href)=['"](?!data:)[^'"#]""", page)
    assert "Mean accuracy of each pipeline for each participant. Scheme:" in page
    assert "How often" in page and "each row adds up to 1" in page
    assert re.search(r"<th>preprocess</th><td><table", page)  # nested settings, not dict text
    assert "{'" not in page


def test_evaluate_train_predict_commands(tmp_path, capsys):
    root = tmp_path / "sim"
    argv = ["simulate", "--to", str(root), "--participants", "2", "--sessions", "2"]
    assert main([*argv, "--task-seconds", "15"]) == 0
    out = tmp_path / "eval"
    status = main(
        ["evaluate", str(root), "--models", "lda,tmv", "--folds", "3", "--out", str(out)]
    )
    assert status == 0
    text = capsys.readouterr().out
    # Without --scheme: two sessions each, so a model meets a new day (cross-session).
    assert "Scheme cross-session: 2 of 2 participants have two or more sessions" in text
    assert "Mean accuracy per participant, cross-session (chance 0.20 for 5 tasks" in text
    assert "always answering the most frequent task scores 0." in text and "tmv-block" in text
    for name in (
        "scores.csv",
        "report.html",
        "accuracy_by_participant.png",
        "kept_vs_accuracy.png",
    ):
        assert (out / name).is_file(), name
    _check_self_contained_report(out / "report.html", n_figures=6)
    page = (out / "report.html").read_text()
    for title in ("Accuracy per participant", "Confusion: tmv-block", "Data kept vs accuracy"):
        assert title in page
    assert (
        main(
            [
                "evaluate",
                str(root),
                "--scheme",
                "shuffled",
                "--models",
                "lda",
                "--folds",
                "3",
                "--out",
                str(tmp_path / "leaky"),
            ]
        )
        == 0
    )
    assert "LEAKY" in capsys.readouterr().out
    assert "LEAKY" in (tmp_path / "leaky" / "report.html").read_text()
    with pytest.raises(SystemExit) as usage:
        main(["evaluate", str(root), "--models", "xgb", "--out", str(out)])
    assert usage.value.code == 2
    assert "unknown model 'xgb'" in capsys.readouterr().err

    assert main(["train", str(root), "--model", "lda", "--name", "m1"]) == 0
    model = root / "derivatives" / "eeg4students" / "models" / "m1"
    assert (model / "card.json").is_file()
    capsys.readouterr()
    recording = next(root.glob("sub-sim01/ses-1/eeg/*_eeg.vhdr"))
    assert main(["predict", str(model), str(recording)]) == 0
    lines = capsys.readouterr().out.splitlines()
    # A header, its rule, five blocks, and the note that the model saw this recording.
    assert "predicted" in lines[0] and set(lines[1]) == {"-", " "} and len(lines) == 8
    assert lines[-1].startswith("note: this recording was in the model's training data")
    assert main(["predict", str(tmp_path), str(recording)]) == 1
    assert "is not a saved model" in capsys.readouterr().err


def _one_line(err: str) -> str:
    lines = [line for line in err.split("\n") if line.strip() and "\r" not in line]
    assert len(lines) == 1, err
    return lines[0]


def test_operating_system_errors_are_one_line(tmp_path, rng, capsys, monkeypatch):
    import pathlib

    import eeg4students._files as files
    import eeg4students.store as store

    path = write_muse_lsl(tmp_path / "r.csv", muse_samples(rng, 768), 1e9 + np.arange(768) / 256)
    root = tmp_path / "ds"
    args = ["--to", str(root), "--participant", "p01", "--session", "1", "--task", "rest"]
    assert main(["import", str(path), *args]) == 0
    capsys.readouterr()

    # An unreadable recording (as a user without the right to read it sees it).
    real_open = pathlib.Path.open

    def no_read(self, *a, **kw):
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *a, **kw)

    with monkeypatch.context() as patch:
        patch.setattr(pathlib.Path, "open", no_read)
        assert main(["import", str(path), *args]) == 1
    assert "cannot be read (Permission denied)" in _one_line(capsys.readouterr().err)

    # A dataset folder that cannot be written: the write is undone.
    def read_only(*a, **kw):
        raise PermissionError(13, "Permission denied", str(root / "sub-p01"))

    with monkeypatch.context() as patch:
        patch.setattr(store.dataset, "write_raw_bids", read_only)
        assert main(["import", str(path), *args, "--run", "2"]) == 1
    line = _one_line(capsys.readouterr().err)
    assert "failed and was undone" in line and "Permission denied" in line
    assert len(Dataset(root).recordings()) == 1

    # A full disk while writing a table.
    def full(*a, **kw):
        raise OSError(28, "No space left on device", str(tmp_path / "t.csv"))

    with monkeypatch.context() as patch:
        patch.setattr(files, "atomic_write_text", full)
        assert main(["dataset", "info", str(root), "--csv", str(tmp_path / "t.csv")]) == 1
    line = _one_line(capsys.readouterr().err)
    assert line.startswith("eeg4students: error: ") and "No space left on device" in line


def test_python_m_and_a_parser_that_loads_no_heavy_library():
    out = subprocess.run(
        [sys.executable, "-m", "eeg4students", "--version"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.startswith("eeg4students ")
    code = (
        "import sys; from eeg4students.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('pandas', 'tqdm', 'mne', 'sklearn', 'numpy') "
        "if m in sys.modules))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert loaded.strip() == "[]"


def test_a_command_without_parallel_options_does_not_load_joblib(tmp_path, rng):
    # joblib (with its loky executor) takes about 0.2 s to import; commands that
    # are not asked for parallel work, such as import, should not pay it.
    recording = write_muse_lsl(
        tmp_path / "r.csv", muse_samples(rng, 512), 1e9 + np.arange(512) / 256
    )
    code = (
        "import sys; from eeg4students.cli import main; "
        "status = main(['import', sys.argv[1], '--to', sys.argv[2], '--participant', 'p01', "
        "'--session', '1', '--task', 'relaxed']); "
        "print(status, 'joblib' in sys.modules)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(recording), str(tmp_path / "ds")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert out.split()[-2:] == ["0", "False"]


def _walk(parser, name="eeg4students"):
    import argparse

    yield name, parser, None
    for action in parser_actions(parser):
        if isinstance(action, SubParsersAction):
            for child_name, child in action.choices.items():
                yield from _walk(child, f"{name} {child_name}")
        elif not isinstance(action, argparse._HelpAction):
            yield name, parser, action


def test_every_command_is_described_and_every_option_has_help():
    from eeg4students.cli import build_parser

    missing = []
    for name, parser, action in _walk(build_parser()):
        if action is None and not parser.description:
            missing.append(f"{name}: no description")
        elif action is not None and not action.help:
            missing.append(f"{name} {action.option_strings or action.dest}: no help")
    assert missing == []


def test_help_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["simulate", "--help"])
    out = capsys.readouterr().out
    assert "(default: 8)" in out and "(default: 0)" in out


def test_verbose_logs_and_quiet_hides_notes(tmp_path, rng, capsys):
    path = write_muse_lsl(tmp_path / "r.csv", muse_samples(rng, 600), 5000 + np.arange(600) / 256)
    labels = ["--participant", "p1", "--session", "1", "--task", "rest"]
    assert main(["-v", "import", str(path), "--to", str(tmp_path / "a"), *labels]) == 0
    captured = capsys.readouterr()
    assert "eeg4students: INFO: reading" in captured.err
    assert "note: its timestamps are LSL clock seconds" in captured.out
    assert main(["-q", "import", str(path), "--to", str(tmp_path / "b"), *labels]) == 0
    captured = capsys.readouterr()
    assert "note:" not in captured.out and "INFO" not in captured.err
    assert "-> sub-p1" in captured.out
    assert main(["import", str(path), "--to", str(tmp_path / "c"), *labels]) == 0
    assert "INFO" not in capsys.readouterr().err


def test_handout_markdown_and_printable_html(tmp_path, capsys):
    from eeg4students.handout import handout_markdown
    from eeg4students.protocol import load_protocol

    shipped = Path(__file__).resolve().parents[1] / "protocols" / "EEG4Students.md"
    assert handout_markdown(load_protocol()) == shipped.read_text(encoding="utf-8")
    assert main(["handout", "--protocol", "quick"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("# EEG4Students-quick: the recording protocol")
    words = " ".join(out.split())
    assert "five tasks of 5 seconds each" in words
    assert "Draw a simple house on the paper" in words
    page = tmp_path / "handout.html"
    assert main(["handout", "--out", str(page)]) == 0
    text = page.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and "<table>" in text and "@page" in text
    assert "src=" not in text and "<link" not in text  # nothing outside the page
    assert main(["handout", "--out", str(tmp_path / "handout.pdf")]) == 1
    assert "give a file ending in .html" in capsys.readouterr().err
    assert main(["handout", "--protocol", "nosuch"]) == 1
    assert "built-in protocols: eeg4students, quick" in capsys.readouterr().err


def test_predict_says_when_a_recording_was_in_the_training_data(tmp_path, capsys):
    root = tmp_path / "sim"
    assert main(["simulate", "--to", str(root), "--participants", "2", "--sessions", "1"]) == 0
    csv = tmp_path / "rec.csv"
    rng = np.random.default_rng(0)
    write_muse_lsl(csv, muse_samples(rng, 256 * 40), 1.7e9 + np.arange(256 * 40) / 256)
    argv = ["import", str(csv), "--to", str(root), "--participant", "lsl", "--session", "1"]
    assert main([*argv, "--task", "Think"]) == 0
    assert main(["train", str(root), "--model", "lda", "--name", "m"]) == 0
    model = root / "derivatives" / "eeg4students" / "models" / "m"
    seen = next((root / "sub-sim01").rglob("*_eeg.vhdr"))
    capsys.readouterr()
    for recording, was_seen in ((seen, True), (csv, True)):
        assert main(["predict", str(model), str(recording)]) == 0
        out = capsys.readouterr().out
        assert ("was in the model's training data" in out) is was_seen, recording
    assert (
        main(["train", str(root), "--model", "lda", "--name", "m1", "--participants", "sim01"])
        == 0
    )
    other = next((root / "sub-sim02").rglob("*_eeg.vhdr"))
    capsys.readouterr()
    assert (
        main(["predict", str(root / "derivatives" / "eeg4students" / "models" / "m1"), str(other)])
        == 0
    )
    assert "training data" not in capsys.readouterr().out
