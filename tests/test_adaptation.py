"""Session adaptation: no labels used, a new day met better, confounded sessions named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from eeg4students.adaptation import (
    adapt_table,
    recenter_sessions,
    standardise_sessions,
    unbalanced_sessions,
)
from eeg4students.cli import main
from eeg4students.evaluation import EvaluationError, evaluate
from eeg4students.featureset import compute_features
from eeg4students.models.riemann import to_matrices
from eeg4students.simulate import simulate_to_dataset


def _table(rng, tasks_per_session):
    rows = []
    for session, tasks in tasks_per_session.items():
        offset = rng.normal(0, 5, 3)  # the day's contact offset
        for task in tasks:
            for _ in range(20):
                rows.append(
                    {
                        "participant": "p1",
                        "session": session,
                        "task": task,
                        **dict(zip("abc", offset + rng.normal(0, 1, 3), strict=True)),
                    }
                )
    return pd.DataFrame(rows)


def test_standardisation_uses_no_labels_and_centres_each_session(rng):
    table = _table(rng, {"1": ["Think", "Count"], "2": ["Think", "Count"]})
    out = standardise_sessions(table, ["a", "b", "c"])
    shuffled = table.assign(task=rng.permutation(table["task"].to_numpy()))
    again = standardise_sessions(shuffled, ["a", "b", "c"])
    np.testing.assert_array_equal(out[["a", "b", "c"]], again[["a", "b", "c"]])
    means = out.groupby("session")[["a", "b", "c"]].mean().to_numpy()
    np.testing.assert_allclose(means, 0, atol=1e-12)
    constant = standardise_sessions(table.assign(a=1.0), ["a"])
    assert (constant["a"] == 0).all()


def test_recentering_moves_each_session_to_the_identity_and_keeps_distances(rng):
    from pyriemann.geometry.distance import distance_riemann
    from pyriemann.geometry.mean import mean_riemann

    n, upper = 3, np.triu_indices(3)
    rows = []
    for session in ("1", "2"):
        mixing = rng.normal(size=(n, n)) + 3 * np.eye(n)  # the day's electrode contact
        for task in ("Think", "Count") * 15:
            source = rng.normal(size=(n, 50)) * (2.0 if task == "Think" else 1.0)
            cov = mixing @ np.cov(source) @ mixing.T
            rows.append({"participant": "p1", "session": session, "task": task})
            rows[-1].update({f"cov_{i}_{j}": cov[i, j] for i, j in zip(*upper, strict=True)})
    table = pd.DataFrame(rows)
    columns = [c for c in table.columns if c.startswith("cov_")]
    out = recenter_sessions(table, columns)
    shuffled = recenter_sessions(
        table.assign(task=rng.permutation(table["task"].to_numpy())), columns
    )
    np.testing.assert_array_equal(out[columns], shuffled[columns])  # labels unused
    before = to_matrices(table[columns].to_numpy())
    after = to_matrices(out[columns].to_numpy())
    for session in ("1", "2"):
        rows_ = np.flatnonzero(table["session"] == session)
        np.testing.assert_allclose(mean_riemann(after[rows_]), np.eye(n), atol=1e-6)
        # Congruence keeps Riemannian distances: the task structure survives.
        assert np.isclose(
            distance_riemann(before[rows_[0]], before[rows_[1]]),
            distance_riemann(after[rows_[0]], after[rows_[1]]),
        )
    assert (np.linalg.eigvalsh(after) > 0).all()
    # After re-centring, the two days' matrices of one task lie close together.
    think = [np.flatnonzero((table["session"] == s) & (table["task"] == "Think")) for s in "12"]
    gap_before = distance_riemann(mean_riemann(before[think[0]]), mean_riemann(before[think[1]]))
    gap_after = distance_riemann(mean_riemann(after[think[0]]), mean_riemann(after[think[1]]))
    assert gap_after < gap_before / 2


def test_sessions_with_one_task_are_named(rng):
    table = _table(rng, {"1": ["Think"], "2": ["Count"], "3": ["Think", "Count"]})
    notes = unbalanced_sessions(table)
    assert len(notes) == 2 and "p1 session 1 has no windows of Count" in notes[0]
    adapted, again = adapt_table(table.assign(cov_a_a=4.0), ["a", "cov_a_a"], "session")
    assert again == notes
    assert np.allclose(adapted["cov_a_a"], 1.0)  # re-centred, not standardised to 0
    with pytest.raises(ValueError, match="Unknown adaptation"):
        adapt_table(table, ["a"], "zap")


def test_a_new_day_is_met_better_with_session_standardisation(tmp_path):
    root = tmp_path / "class"
    simulate_to_dataset(root, 3, 2, seed=1, task_seconds=20, progress=False)
    features = compute_features(root, progress=False)
    args = (features.table, features.feature_columns, ["lda"], "cross-session")
    plain = evaluate(*args, progress=False).summary().loc["mean", "lda"]
    adapted = evaluate(*args, adapt="session", progress=False)
    assert adapted.settings["adapt"] == "session"
    assert adapted.summary().loc["mean", "lda"] > plain + 0.05
    with pytest.raises(EvaluationError, match="Unknown adaptation"):
        evaluate(*args, adapt="zap", progress=False)


def test_evaluate_command_adapts_and_says_so(pair_class, tmp_path, capsys):
    root = pair_class
    out = tmp_path / "results"
    argv = ["evaluate", str(root), "--scheme", "cross-session", "--models", "lda"]
    assert main([*argv, "--adapt", "session", "--out", str(out)]) == 0
    assert "cross-session, features adapted per session" in capsys.readouterr().out
    assert "<th>adapt</th><td>session</td>" in (out / "report.html").read_text()


def test_running_adaptation_reaches_the_offline_statistics(rng):
    from pyriemann.geometry.distance import distance_riemann

    from eeg4students.adaptation import RunningAdaptation

    n, upper = 3, np.triu_indices(3)
    mixing = rng.normal(size=(n, n)) + 3 * np.eye(n)
    rows = []
    for _ in range(60):
        cov = mixing @ np.cov(rng.normal(size=(n, 40))) @ mixing.T
        rows.append(
            {
                "participant": "p1",
                "session": "1",
                "task": "Think",
                "a": rng.normal(5, 2),
                "b": rng.normal(-1, 0.5),
                **{f"cov_{i}_{j}": cov[i, j] for i, j in zip(*upper, strict=True)},
            }
        )
    table = pd.DataFrame(rows)
    columns = [c for c in table.columns if c not in ("participant", "session", "task")]
    offline, _ = adapt_table(table, columns, "session")
    running = RunningAdaptation(columns, warmup=10)
    outputs = [running.update(x) for x in table[columns].to_numpy()]
    assert outputs[:10] == [None] * 10 and outputs[10] is not None
    last = outputs[-1]
    # Scalars: exactly the offline standardisation once the session is over.
    np.testing.assert_allclose(last[:2], offline[["a", "b"]].to_numpy()[-1])
    # Covariance: the running Riemannian mean lands close to the offline one.
    online = to_matrices(last[None, 2:])[0]
    batch = to_matrices(offline[columns[2:]].to_numpy()[-1:])[0]
    assert distance_riemann(online, batch) < 0.1


def test_an_adapted_model_ignores_a_new_days_gain_in_predict_and_forget(tmp_path):
    from eeg4students.modelstore import load_model
    from eeg4students.predict import predict_recording
    from eeg4students.store import Dataset
    from eeg4students.training import train_model
    from eeg4students.unlearning.forget import forget_participant

    root = tmp_path / "class"
    simulate_to_dataset(root, 3, 2, seed=2, task_seconds=15, progress=False)
    argv = ["train", str(root), "--model", "lda", "--name", "adapted", "--adapt", "session"]
    assert main(argv) == 0
    saved = load_model(root / "derivatives/eeg4students/models/adapted")
    assert saved.adapt == "session"
    plain = train_model(root, "lda", "plain", progress=False)
    assert plain.adapt is None
    dataset = Dataset(root)
    ref = dataset.references()[0]
    raw = dataset.load(ref.participant, ref.session, ref.task, ref.run)
    quieter = raw.copy().apply_function(lambda x: 0.5 * x)  # the headset's gain on a new day
    # Log band powers move by a constant and session standardisation removes it.
    # (Halving also keeps a window the amplitude rule dropped, so the statistics move a
    # little; the labels do not.)
    for signal in (raw, quieter):
        blocks = predict_recording(saved, signal)
        assert (blocks["predicted"] == blocks["task"]).all()
    blocks = predict_recording(plain, quieter)
    assert (blocks["predicted"] == blocks["task"]).sum() <= 3  # without: lost on a new day
    # Forgetting retrains on the others' adapted features and keeps the setting.
    forget_participant(root, "sim03")
    again = load_model(root / "derivatives/eeg4students/models/adapted")
    assert again.adapt == "session" and "sim03" not in again.card["trained_on"]["participants"]
    retrained = train_model(
        root, "lda", "check", participants=["sim01", "sim02"], adapt="session", progress=False
    )
    np.testing.assert_allclose(again.estimator.coef_, retrained.estimator.coef_)


def test_evaluate_shows_pipelines_with_and_without_adaptation_side_by_side(
    pair_class, tmp_path, capsys
):
    root = pair_class
    out = tmp_path / "results"
    argv = ["evaluate", str(root), "--scheme", "cross-session", "--models", "lda"]
    assert main([*argv, "--adapt", "none,session", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "without and with adaptation (none, session)" in printed
    scores = pd.read_csv(out / "scores.csv")
    assert set(zip(scores["pipeline"], scores["adapt"], strict=True)) == {
        ("lda", "none"),
        ("lda [session]", "session"),
    }
    summary = pd.read_csv(out / "summary.csv", index_col=0)
    assert list(summary.columns) == ["lda", "lda [session]"]
    # The same numbers as each evaluation alone.
    features = compute_features(root, progress=False)
    alone = evaluate(
        features.table,
        features.feature_columns,
        ["lda"],
        "cross-session",
        adapt="session",
        progress=False,
    )
    assert np.isclose(summary.loc["mean", "lda [session]"], alone.summary().loc["mean", "lda"])
    assert "confusion_lda_session.csv" in {p.name for p in out.iterdir()}
    with pytest.raises(SystemExit):
        main([*argv, "--adapt", "none,zap", "--out", str(out)])
    assert "use none, session or participant" in capsys.readouterr().err
