"""The calibration scheme: a cohort model plus a few minutes of a new student's data."""

from __future__ import annotations

import numpy as np
import pytest
from test_evaluation import FEATURES, _meta

from eeg4students.cli import main
from eeg4students.evaluation import EvaluationError, evaluate
from eeg4students.featureset import compute_features
from eeg4students.simulate import simulate_to_dataset
from eeg4students.splitters import Calibration

# _meta: 3 tasks per session, each one block of 20 windows every second; a
# 2 s window makes each block 21 s of recording.
BLOCK_S = 21.0


def test_levels_take_the_first_seconds_of_each_task_from_the_other_sessions():
    meta = _meta(participants=("p1", "p2", "p3"), sessions=("1", "2", "3"))
    people, sessions = meta["participant"].to_numpy(), meta["session"].to_numpy()
    cohort = set(np.flatnonzero(people != "p1"))
    folds = Calibration(minutes=(0.0, 0.5, 5.0), window=2.0).folds(meta)
    splits = [f for f in folds if f.participant == "p1"]
    assert [f.extra["variant"] for f in splits] == ["+0 min", "+0.5 min", "+5 min", "own"] * 3
    for _, _, train, test, extra in splits:
        variant, seconds = extra["variant"], extra["calibration_s"]
        test_session = sessions[test[0]]
        assert set(test) == set(np.flatnonzero((people == "p1") & (sessions == test_session)))
        assert not set(train) & set(test)
        mine = meta.iloc[sorted(set(train) - cohort)]
        assert test_session not in set(mine["session"])
        if variant == "own":
            assert not cohort & set(train) and np.isnan(seconds)
            assert len(mine) == 2 * 3 * 20  # both other sessions, all of them
        elif variant == "+0 min":
            assert set(train) == cohort and seconds == 0
        elif variant == "+0.5 min":
            # 30 s shared by 3 tasks: each task's first 10 s, windows ending inside them.
            assert set(cohort) <= set(train)
            assert mine["session"].nunique() == 1  # the first other session suffices
            assert mine.groupby("task").size().eq(9).all()
            assert (mine["block_time"] <= 18 + 8).all()
            assert seconds == pytest.approx(30.0)
            # Balanced: 27 windows repeated 9 times weigh about as much as the cohort's 360.
            assert len(train) - len(cohort) == 27 * round(len(cohort) / 27)
        else:  # 5 min asked, the other sessions hold 2 x 21 s per task
            assert len(mine) == 2 * 3 * 20
            assert seconds == pytest.approx(3 * 2 * BLOCK_S)
    plain = Calibration(minutes=(0.5,), window=2.0, balance=False).folds(meta)
    train = next(f.train for f in plain if f.participant == "p1")
    assert len(train) == len(cohort) + 27
    # As a scikit-learn splitter: the same (train, test) pairs, every participant's.
    pairs = list(Calibration(minutes=(0.0, 0.5, 5.0), window=2.0).split(meta))
    assert len(pairs) == 3 * 3 * 4
    assert all(np.array_equal(a[0], b.train) for a, b in zip(pairs[:12], splits, strict=True))


def test_evaluate_calibration_names_each_level_and_the_levels_that_ran_short():
    meta = _meta(participants=("p1", "p2", "p3"))
    result = evaluate(meta, FEATURES, ["lda"], "calibration", minutes=(0, 0.5, 5), progress=False)
    scores = result.scores
    assert set(scores["pipeline"]) == {"lda +0 min", "lda +0.5 min", "lda +5 min", "lda own"}
    assert set(scores["model"]) == {"lda"}
    # One fold per participant and session, for every level.
    assert scores.groupby(["participant", "pipeline"]).size().eq(2).all()
    assert scores.loc[scores["variant"] == "+0.5 min", "calibration_s"].eq(30.0).all()
    assert result.settings["calibration_minutes"] == [0.0, 0.5, 5.0]
    assert any(
        n.startswith("+5 min: 6 of 6 test sessions had only 1.1-1.1 min") for n in result.notes
    )
    assert not any(n.startswith("+0.5 min") for n in result.notes)
    with pytest.raises(EvaluationError, match="two participants"):
        evaluate(_meta(participants=("p1",)), FEATURES, ["lda"], "calibration", progress=False)
    with pytest.raises(EvaluationError, match="zero or more"):
        evaluate(meta, FEATURES, ["lda"], "calibration", minutes=(-1,), progress=False)
    with pytest.raises(EvaluationError, match="at least two sessions"):
        evaluate(_meta(sessions=("1",)), FEATURES, ["lda"], "calibration", progress=False)


def test_a_minute_of_calibration_helps_a_new_student(tmp_path):
    root = tmp_path / "class"
    simulate_to_dataset(root, 3, 2, seed=1, task_seconds=20, progress=False)
    features = compute_features(root, progress=False)
    result = evaluate(
        features.table,
        features.feature_columns,
        ["lda"],
        "calibration",
        minutes=(0, 1),
        progress=False,
    )
    mean = result.summary().loc["mean"]
    assert mean["lda +1 min"] > mean["lda +0 min"] + 0.08


def test_evaluate_command_draws_the_learning_curve(pair_class, tmp_path, capsys):
    root = pair_class
    out = tmp_path / "results"
    argv = ["evaluate", str(root), "--scheme", "calibration", "--models", "lda"]
    assert main([*argv, "--minutes", "0,0.5", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "a cohort model plus M minutes" in printed and "own" in printed
    row = next(line.split() for line in printed.splitlines() if line.startswith("lda"))
    assert len(row) == 4 and all(0 <= float(v) <= 1 for v in row[1:])
    assert (out / "learning_curve.png").stat().st_size > 10_000
    assert "Calibration learning curve" in (out / "report.html").read_text()
    with pytest.raises(SystemExit) as stop:
        main([*argv, "--minutes", "one", "--out", str(out)])
    assert stop.value.code == 2
    assert "'one' is not a number" in capsys.readouterr().err
