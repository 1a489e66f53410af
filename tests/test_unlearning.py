"""Forgetting a participant: exactness, privacy measurements, audit, crash safety."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from eeg4students.cli import main
from eeg4students.errors import DatasetError
from eeg4students.models import make_model
from eeg4students.modelstore import list_models, load_model, train_model
from eeg4students.simulate import simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.unlearning import audit
from eeg4students.unlearning.conmu import ConMUSettings, select_important
from eeg4students.unlearning.experiment import SWEEP_GRID, forget_experiment, split_members
from eeg4students.unlearning.forget import CRASH_ENV, forget_participant
from eeg4students.unlearning.metrics import membership
from eeg4students.unlearning.sharded import ShardedForest, SISAEnsemble, UnlearnableTMV


def _cohort(n_people=10, n=60, seed=0):
    rng = np.random.default_rng(seed)
    people = np.repeat([f"p{i:02d}" for i in range(n_people)], n)
    y = np.tile(np.repeat(["A", "B", "C"], n // 3), n_people)
    X = rng.normal(size=(len(y), 6))
    X[:, 0] += (y == "B") * 1.5
    X[:, 1] += (y == "C") * 1.5
    return X, y, people


@pytest.mark.parametrize("q", [0.1, 0.3, 1.0])
def test_sharded_forest_forgets_exactly(q):
    X, y, people = _cohort()
    keep = people != "p03"
    forgot = ShardedForest(60, q=q, random_state=4).fit(X, y, participants=people)
    forgot.forget("p03", X[keep], y[keep], people[keep])
    fresh = ShardedForest(60, q=q, random_state=4).fit(X[keep], y[keep], participants=people[keep])
    np.testing.assert_array_equal(forgot.predict_proba(X), fresh.predict_proba(X))
    assert "p03" not in forgot.assignment_


@pytest.mark.parametrize("shards", [1, 3, 5])
def test_sisa_and_tmv_forget_exactly(shards):
    X, y, people = _cohort()
    keep = people != "p05"
    sisa = SISAEnsemble(make_model("svm"), shards).fit(X, y, participants=people)
    sisa.forget("p05", X[keep], y[keep], people[keep])
    fresh = SISAEnsemble(make_model("svm"), shards).fit(
        X[keep], y[keep], participants=people[keep]
    )
    np.testing.assert_array_equal(sisa.predict(X), fresh.predict(X))

    def tmv():
        bases = [
            ("rf", ShardedForest(40, q=0.3)),
            ("svm", SISAEnsemble(make_model("svm"), shards)),
        ]
        return UnlearnableTMV(bases)

    forgot = tmv().fit(X, y, participants=people)
    forgot.forget("p05", X[keep], y[keep], people[keep])
    again = tmv().fit(X[keep], y[keep], participants=people[keep])
    assert forgot.ranking_ == again.ranking_
    np.testing.assert_equal(forgot.scores_, again.scores_)
    np.testing.assert_array_equal(forgot.predict(X), again.predict(X))


def test_membership_attack_tells_members_from_strangers():
    X, y, people = _cohort(12, 90)
    members, strangers = people < "p08", people >= "p08"
    forest = make_model("rf", n_estimators=60).fit(X[members], y[members])
    target = people == "p02"
    attack = membership(
        forest,
        (X[members & ~target], y[members & ~target], people[members & ~target]),
        (X[strangers], y[strangers], people[strangers]),
        (X[target], y[target]),
    )
    assert attack["svc_auc"] > 0.65 and attack["threshold_auc"] > 0.8
    assert attack["target_called_member"] and attack["target_nonmember_share"] < 0.5
    # Retrained without p02, the model treats p02 like a stranger.
    gold = make_model("rf", n_estimators=60).fit(X[members & ~target], y[members & ~target])
    after = membership(
        gold,
        (X[members & ~target], y[members & ~target], people[members & ~target]),
        (X[strangers], y[strangers], people[strangers]),
        (X[target], y[target]),
    )
    assert not after["target_called_member"]
    assert after["target_nonmember_share"] > attack["target_nonmember_share"] + 0.3


def test_conmu_knobs_change_what_it_does():
    X, y, _ = _cohort()
    forest = make_model("rf", n_estimators=30).fit(X, y)
    assert len(select_important(forest, X, y, None)) == len(X)
    assert len(select_important(forest, X, y, 0.5)) < len(select_important(forest, X, y, 2.0))


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    from eeg4students.featureset import compute_features

    folder = tmp_path_factory.mktemp("cohort") / "ds"
    simulate_to_dataset(folder, 8, 1, seed=5, task_seconds=20, progress=False)
    return compute_features(folder, progress=False)


@pytest.mark.parametrize(
    ("strategy", "unlearnable"),
    [("retrain", None), ("sharded", {"kind": "sharded", "q": 0.3}), ("conmu", None)],
)
def test_every_strategy_makes_the_participant_a_stranger(features, strategy, unlearnable):
    people = sorted(features.table["participant"].unique())
    members, strangers = split_members(people, 0.25, seed=1)
    result = forget_experiment(
        features.table,
        features.feature_columns,
        members[0],
        members,
        strangers,
        model="rf",
        model_params={"n_estimators": 60},
        strategy=strategy,
        unlearnable=unlearnable,
        conmu=ConMUSettings(noise_steps=2),
    )
    model = result["report"]["model"]
    assert not model["target_called_member"]
    assert model["forget_accuracy"] <= model["test_accuracy"] + 0.15
    if strategy != "conmu":
        assert result["report"]["gap"] < 1e-9  # exact strategies equal the gold model


@pytest.fixture
def lab(tmp_path):
    root = tmp_path / "lab"
    simulate_to_dataset(root, 5, 1, seed=3, task_seconds=15, progress=False)
    people = ["sim01", "sim02", "sim03", "sim04"]
    train_model(
        root, "rf", "plain", participants=people, model_params={"n_estimators": 40}, progress=False
    )
    train_model(
        root,
        "rf",
        "fast",
        participants=people,
        unlearnable={"kind": "sharded", "q": 0.3},
        model_params={"n_estimators": 40},
        progress=False,
    )
    train_model(root, "lda", "other", participants=["sim01", "sim02"], progress=False)
    return Dataset(root)


def _scan(root: Path, label: str, data: bytes) -> list[str]:
    hits = []
    for path in root.rglob("*"):
        if path.is_file() and path.name != "forget-log.jsonl":
            content = path.read_bytes()
            if label.encode() in content or data in content:
                hits.append(str(path.relative_to(root)))
    return hits


def _fingerprint(root: Path, label: str) -> bytes:
    eeg = next((root / f"sub-{label}").rglob("*_eeg.eeg")).read_bytes()
    return eeg[len(eeg) // 2 : len(eeg) // 2 + 64]


def test_forget_removes_every_trace_and_updates_models(lab, tmp_path):
    from eeg4students.modelstore import export_model

    copy = export_model(
        load_model(lab.root / "derivatives/eeg4students/models/plain"), tmp_path / "c"
    )
    chunk = _fingerprint(lab.root, "sim03")
    result = forget_participant(lab, "sim03", "sharded", evaluate=True)
    assert result.exports == [str(copy.resolve())]
    assert audit.read_log(lab.root)[-1]["exports_to_replace"] == [str(copy.resolve())]
    assert _scan(lab.root, "sim03", chunk) == []
    assert "sim03" not in lab.participants()
    by_name = {m["name"]: m for m in result.models}
    assert by_name["fast"]["strategy"] == "sharded"
    assert by_name["plain"]["strategy"] == "retrain" and "sharded form" in by_name["plain"]["note"]
    assert result.untouched == ["other"]
    for saved in list_models(lab):
        assert "sim03" not in saved.card["trained_on"]["participants"]
    assert load_model(lab.root / "derivatives/eeg4students/models/other").card["trained_on"][
        "participants"
    ] == ["sim01", "sim02"]
    entry = audit.read_log(lab.root)[-1]
    assert entry["participant"] == "sim03" and entry["models_untouched"] == ["other"]
    assert {f["path"].split("/")[0] for f in entry["files_removed"]} >= {"sub-sim03"}
    assert all(len(f["sha256"]) == 64 for f in entry["files_removed"])
    metrics = by_name["fast"]["metrics"]
    assert metrics["model"]["test_accuracy"] == pytest.approx(metrics["gold"]["test_accuracy"])
    assert audit.verify(lab.root) == 1


def test_unknown_participant_changes_nothing(lab):
    before = {p: p.read_bytes() for p in lab.root.rglob("*") if p.is_file()}
    with pytest.raises(DatasetError, match=r"no participant 'sim99'.*nothing was changed"):
        forget_participant(lab, "sim99")
    assert {p: p.read_bytes() for p in lab.root.rglob("*") if p.is_file()} == before


def test_participant_in_no_model(lab):
    result = forget_participant(lab, "sim05")
    assert result.models == [] and sorted(result.untouched) == ["fast", "other", "plain"]
    assert "sim05" not in lab.participants()
    assert audit.read_log(lab.root)[-1]["models_updated"] == []


def test_audit_detects_an_edit(lab, capsys):
    forget_participant(lab, "sim05")
    forget_participant(lab, "sim04")
    assert main(["audit", "verify", str(lab.root)]) == 0
    log = audit.audit_path(lab.root)
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["participant"] = "someone"
    log.write_text("\n".join([json.dumps(entry, sort_keys=True), *lines[1:]]) + "\n")
    capsys.readouterr()
    assert main(["audit", "verify", str(lab.root)]) == 1
    assert "line 1: the entry does not match its hash" in capsys.readouterr().err
    log.write_text(lines[1] + "\n")
    with pytest.raises(audit.AuditError, match="line 1: the link to the previous entry"):
        audit.verify(lab.root)


@pytest.mark.parametrize("point", ["staged", "model", "audited"])
def test_crash_and_resume(lab, point):
    chunk = _fingerprint(lab.root, "sim02")
    code = (
        "import sys; from eeg4students.cli import main; "
        f"sys.exit(main(['forget', {str(lab.root)!r}, '--participant', 'sim02']))"
    )
    env = {**os.environ, CRASH_ENV: point}
    crashed = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, timeout=300
    )
    assert crashed.returncode == 75
    assert (lab.root / "derivatives/eeg4students/audit/pending.json").is_file()
    # Another participant cannot be forgotten until this one is finished.
    with pytest.raises(DatasetError, match="was interrupted"):
        forget_participant(lab, "sim01")
    result = forget_participant(lab, "sim02")
    assert result.participant == "sim02"
    assert _scan(lab.root, "sim02", chunk) == []
    assert len(audit.read_log(lab.root)) == 1 and audit.verify(lab.root) == 1
    for saved in list_models(lab):
        assert "sim02" not in saved.card["trained_on"]["participants"]


def test_forget_command_and_sweep(lab, tmp_path, capsys):
    argv = ["forget", str(lab.root), "--participant", "sim01", "--strategy", "conmu"]
    assert main([*argv, "--noise-steps", "1"]) == 0
    out = capsys.readouterr().out
    assert "Forgot participant sim01" in out and "model fast: conmu" in out
    assert main(["audit", "show", str(lab.root)]) == 0
    assert "forget sim01 [conmu]" in capsys.readouterr().out
    assert main(["forget", str(lab.root), "--participant", "nobody"]) == 1
    assert "no participant 'nobody'" in capsys.readouterr().err
    out = tmp_path / "sweep"
    argv = ["forget", str(lab.root), "--participant", "sim02", "--sweep", "--model", "lda"]
    assert main([*argv, "--out", str(out)]) == 0
    table = pd.read_csv(out / "tradeoff.csv")
    assert list(table["strategy"].unique()) == ["retrain", "sharded", "conmu"]
    assert len(table) == 2 + len(SWEEP_GRID) and (out / "tradeoff.png").is_file()
    assert "sim02" in lab.participants()  # the sweep works on a copy
