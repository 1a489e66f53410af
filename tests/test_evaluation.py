"""Splitters that respect time, and the evaluation table."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eeg4students.evaluation import (
    EvaluationError,
    chance_levels,
    choose_scheme,
    evaluate,
)
from eeg4students.splitters import (
    Calibration,
    CrossSession,
    LeaveParticipantOut,
    ShuffledKFold,
    TimeBlockedKFold,
)

WINDOW, HOP = 2.0, 1.0


def _meta(participants=("p1", "p2"), sessions=("1", "2"), tasks=("A", "B", "C"), n=20, seed=0):
    """A feature table: every task block holds ``n`` windows every HOP seconds."""
    rng = np.random.default_rng(seed)
    rows = []
    for p in participants:
        offset = rng.normal(0, 1, 4)
        for s in sessions:
            for b, task in enumerate(tasks):
                for i in range(n):
                    signal = offset + (np.arange(4) == b) * 2.0 + rng.normal(0, 1, 4)
                    rows.append(
                        {
                            "participant": p,
                            "session": s,
                            "run": 1,
                            "task": task,
                            "recording": f"{p}_{s}",
                            "block": f"{p}_{s}_{b}",
                            "start": 100.0 * b + 18 + i * HOP,
                            "block_time": 18 + i * HOP,
                            **{f"f{j}": v for j, v in enumerate(signal)},
                        }
                    )
    return pd.DataFrame(rows)


FEATURES = ["f0", "f1", "f2", "f3"]


def _check_partition(meta, splits):
    tested = np.zeros(len(meta), dtype=int)
    for train, test in splits:
        assert not set(train) & set(test)
        tested[test] += 1
    assert (tested == 1).all()


def test_time_blocked_folds_test_every_window_once_with_no_overlap():
    meta = _meta()
    splitter = TimeBlockedKFold(n_splits=7, window=WINDOW)
    splits = list(splitter.split(meta))
    assert len(splits) == 7 * 2  # each participant's folds in turn
    _check_partition(meta, splits)
    for train, test in splits:
        # One participant at a time; every block of theirs in every test fold, as a
        # contiguous chunk.
        mine = meta[meta["participant"] == meta["participant"].iloc[test[0]]]
        assert set(meta.iloc[train]["participant"]) == set(mine["participant"])
        assert meta.iloc[test]["block"].nunique() == mine["block"].nunique()
        for block, chunk in meta.iloc[test].groupby("block"):
            starts = np.sort(chunk["start"].to_numpy())
            assert np.allclose(np.diff(starts), HOP)
            others = meta.iloc[train]
            others = others[others["block"] == block]["start"].to_numpy()
            # No training window overlaps a test window in time.
            gaps = np.abs(others[:, None] - starts[None, :])
            assert (gaps >= WINDOW).all()


def test_cross_session_and_leave_participant_out():
    meta = _meta()
    splits = list(CrossSession().split(meta))
    _check_partition(meta, splits)
    for train, test in splits:
        assert not set(meta.iloc[train]["session"]) & set(meta.iloc[test]["session"])
    splits = list(LeaveParticipantOut().split(meta))
    _check_partition(meta, splits)
    for train, test in splits:
        assert not set(meta.iloc[train]["participant"]) & set(meta.iloc[test]["participant"])
    _check_partition(meta, list(ShuffledKFold(5).split(meta)))


@pytest.mark.parametrize("scheme", ["time-blocked", "cross-session", "loso", "shuffled"])
def test_evaluate_table(scheme):
    meta = _meta()
    small = {"rf": {"n_estimators": 30}}
    result = evaluate(
        meta, FEATURES, ["lda", "tmv"], scheme, n_splits=4, model_params=small, progress=False
    )
    scores = result.scores
    assert set(scores["pipeline"]) == {"lda", "tmv-block", "tmv-causal"}
    assert set(scores["participant"]) == {"p1", "p2"}
    expected_folds = {"time-blocked": 4, "cross-session": 2, "loso": 1, "shuffled": 4}[scheme]
    assert scores.groupby(["participant", "pipeline"]).size().eq(expected_folds).all()
    columns = {
        "accuracy",
        "balanced_accuracy",
        "kappa",
        "fit_time",
        "predict_time",
        "n_train",
        "n_test",
        "fold",
        "scheme",
        "leaky",
    }
    assert columns <= set(scores.columns)
    assert scores["leaky"].eq(scheme == "shuffled").all()
    assert (scores["accuracy"] > 0.5).all()
    matrix = result.confusion[("p1", "lda")]
    assert list(matrix.index) == ["A", "B", "C"]
    # Every window of p1 is tested once per scheme (LOSO: all of p1 at once).
    assert matrix.to_numpy().sum() == (meta["participant"] == "p1").sum()
    assert result.settings["scheme"] == scheme
    assert not result.tmv_ranking.empty


def test_evaluate_bad_input():
    meta = _meta()
    with pytest.raises(EvaluationError, match="Unknown scheme"):
        evaluate(meta, FEATURES, ["lda"], "random", progress=False)
    with pytest.raises(EvaluationError, match="Unknown model 'xgb'"):
        evaluate(meta, FEATURES, ["xgb"], progress=False)
    one = meta[meta["task"] == "A"]
    with pytest.raises(EvaluationError, match="at least two"):
        evaluate(one, FEATURES, ["lda"], progress=False)
    single = _meta(sessions=("1",))
    with pytest.raises(EvaluationError, match="at least two sessions"):
        evaluate(single, FEATURES, ["lda"], "cross-session", progress=False)
    with pytest.raises(EvaluationError, match="two participants"):
        evaluate(_meta(participants=("p1",)), FEATURES, ["lda"], "loso", progress=False)


def test_results_do_not_depend_on_parallel_jobs():
    meta = _meta()
    small = {"rf": {"n_estimators": 30}}
    one = evaluate(meta, FEATURES, ["rf", "tmv"], n_splits=3, model_params=small, progress=False)
    two = evaluate(
        meta, FEATURES, ["rf", "tmv"], n_splits=3, model_params=small, progress=False, n_jobs=2
    )
    cols = ["participant", "pipeline", "fold", "accuracy", "kappa"]
    pd.testing.assert_frame_equal(one.scores[cols], two.scores[cols])


def test_too_little_data_for_the_folds_is_named():
    meta = _meta(n=4)
    with pytest.raises(EvaluationError, match="use fewer --folds"):
        evaluate(meta, FEATURES, ["lda"], n_splits=7, progress=False)
    # One short block among long ones is tested in fewer folds, and said so.
    mixed = pd.concat([_meta(n=20), _meta(participants=("p3",), n=4)], ignore_index=True)
    result = evaluate(mixed, FEATURES, ["lda"], n_splits=7, progress=False)
    assert set(result.scores["participant"]) == {"p1", "p2"}
    assert any(note.startswith("p3: every block has fewer than 7") for note in result.skipped)
    # A block tested in fewer folds than the others left nothing out: a note, not "left out".
    short = _meta(n=20)
    short = short[~((short["block"] == "p1_1_0") & (short["start"] >= 18 + 5))]
    result = evaluate(short, FEATURES, ["lda"], n_splits=7, progress=False)
    assert not result.skipped
    assert any("block p1_1_0 has 5 windows, so it is tested in 5" in n for n in result.notes)


def _shape(people: int, sessions: dict[int, int] | int) -> pd.DataFrame:
    rows = []
    for p in range(people):
        count = sessions if isinstance(sessions, int) else sessions.get(p, 1)
        for s in range(1, count + 1):
            rows += [{"participant": f"p{p}", "session": str(s), "task": t} for t in "ABAC"]
    return pd.DataFrame(rows)


@pytest.mark.parametrize(
    ("people", "sessions", "scheme"),
    [
        (4, 2, "cross-session"),  # the shared Muse recordings: two days each
        (43, 1, "loso"),  # a published cohort: one session each
        (10, {0: 2, 1: 2}, "loso"),  # two of ten came back: mostly one session
        (10, {p: 2 for p in range(6)}, "cross-session"),
        (2, 1, "time-blocked"),
        (1, 1, "time-blocked"),
    ],
)
def test_the_default_scheme_follows_the_data(people, sessions, scheme):
    chosen, why = choose_scheme(_shape(people, sessions))
    assert chosen == scheme
    assert ("WARNING" in why) == (scheme == "time-blocked")


def test_chance_levels_count_tasks_and_the_most_frequent_one():
    assert chance_levels(_shape(2, 1)) == (3, 0.5)


@pytest.mark.parametrize(
    "splitter",
    [
        TimeBlockedKFold(4, window=WINDOW),
        CrossSession(),
        LeaveParticipantOut(),
        ShuffledKFold(4),
        Calibration(minutes=(0.0, 0.5)),
    ],
    ids=type,
)
def test_every_splitter_is_a_scikit_learn_cross_validator(splitter):
    from sklearn.discriminant_analysis import LinearDiscriminantAnalysis
    from sklearn.model_selection import cross_val_score, cross_validate

    meta = _meta(participants=("p1", "p2", "p3"))
    X, y = meta[FEATURES].to_numpy(), meta["task"].to_numpy()
    scores = cross_val_score(LinearDiscriminantAnalysis(), X, y, groups=meta, cv=splitter)
    assert len(scores) == splitter.get_n_splits(X, y, groups=meta) > 1
    assert repr(splitter).startswith(type(splitter).__name__ + "(")
    # The same splits under metadata routing, where groups is routed to the splitter.
    import sklearn

    with sklearn.config_context(enable_metadata_routing=True):
        routed = cross_validate(
            LinearDiscriminantAnalysis(), X, y, params={"groups": meta}, cv=splitter
        )
    assert np.allclose(routed["test_score"], scores)
    with pytest.raises(ValueError, match="metadata"):
        list(splitter.split(X, y))


def test_one_column_groups_stand_for_the_splitters_key():
    meta = _meta(participants=("p1", "p2", "p3"), sessions=("1",))
    X = meta[FEATURES].to_numpy()
    by_label = list(LeaveParticipantOut().split(X, groups=meta["participant"].to_numpy()))
    assert [t.tolist() for _, t in by_label] == [
        t.tolist() for _, t in LeaveParticipantOut().split(X, groups=meta)
    ]
    # Block ids alone, rows in time order: the gap is counted in rows.
    one = meta[meta["participant"] == "p1"].reset_index(drop=True)
    rows = list(TimeBlockedKFold(4, window=2).split(one[FEATURES], groups=one["block"].to_numpy()))
    timed = list(TimeBlockedKFold(4, window=2 * HOP).split(one[FEATURES], groups=one))
    assert all(
        np.array_equal(a[0], b[0]) and np.array_equal(a[1], b[1])
        for a, b in zip(rows, timed, strict=True)
    )


def test_a_tuned_svm_fits_and_scores_inside_an_evaluation():
    meta = _meta(participants=("p1",), sessions=("1", "2"), n=24)
    result = evaluate(
        meta,
        FEATURES,
        ["svm", "tmv"],
        "cross-session",
        model_params={"svm": {"tune": True}},
        progress=False,
    )
    assert set(result.scores["pipeline"]) == {"svm", "tmv-block", "tmv-causal"}
    assert result.scores["accuracy"].between(0, 1).all() and len(result.scores) == 6
