"""Forgetting a participant: exactness, P's privacy, ConMU's guarantees, audit, leftovers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from eeg4students._files import CRASH_ENV
from eeg4students.cli import main
from eeg4students.errors import DatasetError, ModelError
from eeg4students.models import ShardedForest, SISAEnsemble, UnlearnableTMV, make_model
from eeg4students.modelstore import list_models, load_model
from eeg4students.simulate import simulate_recording, simulate_to_dataset
from eeg4students.store import Dataset
from eeg4students.training import build_estimator, card_training_table, fit_estimator, train_model
from eeg4students.unlearning import audit
from eeg4students.unlearning.conmu import ConMUSettings, conmu_forget, select_important
from eeg4students.unlearning.experiment import (
    SWEEP_GRID,
    forget_experiment,
    frontier,
    split_members,
)
from eeg4students.unlearning.forget import forget_participant, plan_forget
from eeg4students.unlearning.metrics import public_report
from eeg4students.unlearning.privacy import (
    attack_summary,
    fit_shadows,
    split_strangers,
    window_scores,
)


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
    forgot = ShardedForest(60, q=q, random_state=4).fit(X, y, groups=people)
    forgot.forget("p03", X[keep], y[keep], people[keep])
    fresh = ShardedForest(60, q=q, random_state=4).fit(X[keep], y[keep], groups=people[keep])
    np.testing.assert_array_equal(forgot.predict_proba(X), fresh.predict_proba(X))
    assert "p03" not in forgot.assignment_


@pytest.mark.parametrize("shards", [1, 3, 5])
def test_sisa_and_tmv_forget_exactly(shards):
    X, y, people = _cohort()
    keep = people != "p05"
    sisa = SISAEnsemble(make_model("svm"), shards).fit(X, y, groups=people)
    sisa.forget("p05", X[keep], y[keep], people[keep])
    fresh = SISAEnsemble(make_model("svm"), shards).fit(X[keep], y[keep], groups=people[keep])
    np.testing.assert_array_equal(sisa.predict(X), fresh.predict(X))

    def tmv():
        bases = [
            ("rf", ShardedForest(40, q=0.3)),
            ("svm", SISAEnsemble(make_model("svm"), shards)),
        ]
        return UnlearnableTMV(bases)

    forgot = tmv().fit(X, y, groups=people)
    forgot.forget("p05", X[keep], y[keep], people[keep])
    again = tmv().fit(X[keep], y[keep], groups=people[keep])
    assert forgot.ranking_ == again.ranking_
    np.testing.assert_equal(forgot.scores_, again.scores_)
    np.testing.assert_array_equal(forgot.predict(X), again.predict(X))


# -- P's privacy ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def features(tmp_path_factory):
    from eeg4students.featureset import compute_features

    folder = tmp_path_factory.mktemp("cohort") / "ds"
    simulate_to_dataset(folder, 10, 1, seed=5, task_seconds=20, progress=False)
    return compute_features(folder, progress=False)


def _forest():
    return build_estimator("rf", {"n_estimators": 40})


def test_privacy_check_fails_the_original_and_passes_a_retrain(features):
    table, columns = features.table, features.feature_columns
    people = sorted(table["participant"].unique())
    members, strangers = people[:7], people[7:]
    target = members[2]
    original = fit_estimator(_forest(), table[table["participant"].isin(members)], columns)
    rest = [p for p in members if p != target]
    gold = fit_estimator(_forest(), table[table["participant"].isin(rest)], columns)
    shadows = fit_shadows(
        table, columns, target, members + strangers, len(members), _forest, n_shadows=12
    )
    assert not shadows.seeds_only
    assert shadows.out["model"].shape == shadows.members["model"].shape == (6, shadows.windows)
    rows = table[table["participant"] == target]
    X, y = rows[columns].to_numpy(float), rows["task"].to_numpy()
    before = shadows.check(window_scores(original, X, y))
    after = shadows.check(window_scores(gold, X, y))
    assert before["verdict"] == "not forgotten" and before["power"] >= 0.8
    assert after["verdict"] == "forgotten"
    assert before["private"]["model"]["z"] > before["private"]["model"]["threshold"]
    # With no one outside the model's participants, shadows can only vary their seeds.
    seeds = fit_shadows(table, columns, target, members, len(members), _forest, n_shadows=8)
    assert seeds.seeds_only
    assert seeds.check(window_scores(original, X, y))["verdict"] == "not forgotten"
    assert seeds.check(window_scores(gold, X, y))["verdict"] in ("forgotten", "inconclusive")


def test_attack_summary_and_stranger_split():
    assert attack_summary([5, 6, 7], [0, 1, 2], fprs=(0.05,)) == {
        "auc": 1.0,
        "tpr@0.05": 1.0,
        "positives": 3,
        "negatives": 3,
    }
    assert attack_summary([1, 1], [1, 1])["auc"] == 0.5
    calibration, evaluation = split_strangers([f"s{i}" for i in range(7)])
    assert len(calibration) == 3 and len(evaluation) == 4
    assert not set(calibration) & set(evaluation)


def _forget_first_member(features, strategy, unlearnable, conmu):
    """A 40-tree forest on 6 of the 10 participants forgets the first, 16 shadows."""
    people = sorted(features.table["participant"].unique())
    members, strangers = split_members(people, 0.6, seed=1)
    return forget_experiment(
        features.table,
        features.feature_columns,
        members[0],
        members,
        strangers,
        model_params={"n_estimators": 40},
        strategy=strategy,
        unlearnable=unlearnable,
        conmu=conmu,
        n_shadows=16,
    )


@pytest.mark.parametrize(
    ("strategy", "unlearnable"),
    [("retrain", None), ("sharded", {"kind": "sharded", "q": 0.3}), ("conmu", None)],
)
def test_every_strategy_forgets_the_participant(features, strategy, unlearnable):
    result = _forget_first_member(features, strategy, unlearnable, ConMUSettings())
    report = result["report"]
    assert report["original"]["privacy"]["verdict"] == "not forgotten"
    assert report["gold"]["privacy"] is None  # a retrain is exact: no probabilistic verdict
    assert report["model"]["strangers"] is not None  # 3 calibration, 3 evaluation strangers
    if strategy == "conmu":
        # ConMU refits on a selection of the remaining windows: approximate, tested.
        assert not result["exact"] and report["identical"] is None
        assert 0 < result["info"]["n_selected"] <= len(features.table)
        check = report["model"]["privacy"]
        assert check["against"] == "unlearned" and check["shadows"] == {"out": 8, "unlearned": 8}
        assert check["verdict"] == "forgotten"
    else:  # exact strategies are the gold model (of their kind), proved by digest
        assert result["exact"] and report["model"]["privacy"] is None
        assert report["identical"] and report["model"]["digest"] == report["gold"]["digest"]
        assert report["agreement"] == 1.0
        assert report["model"]["forget_accuracy"] == report["gold"]["forget_accuracy"]


def test_u_lira_flags_a_model_fitted_on_noisy_copies_of_p(features):
    # What ConMU's old noise module did: refit on perturbed copies of P's windows (60 here).
    # Tested against shadows unlearned the same way, such a model is told from a retrain.
    def noisy_copies(model, remain, forget):
        rng = np.random.default_rng(0)
        copies = forget.sample(60, replace=True, random_state=0).copy()
        spread = remain[columns].std().to_numpy()
        copies[columns] += rng.normal(0, 0.5, (60, len(columns))) * spread
        return fit_estimator(clone(model), pd.concat([remain, copies]), columns)

    columns = features.feature_columns
    table = features.table
    people = sorted(table["participant"].unique())
    members, strangers = people[:-3], people[-3:]
    forest = make_model("rf", n_estimators=40)
    shadows = fit_shadows(
        table,
        columns,
        members[0],
        [*members, *strangers],
        len(members),
        lambda: forest,
        n_shadows=16,
        unlearn=noisy_copies,
        strategy="noisy copies",
    )
    remain = table[table["participant"].isin(members[1:])]
    forget = table[table["participant"] == members[0]]
    model = noisy_copies(forest, remain, forget)
    check = shadows.check(
        window_scores(model, forget[columns].to_numpy(), forget["task"].to_numpy()),
        against="unlearned",
    )
    assert check["verdict"] == "not forgotten" and 0 < check["detected"] <= 1


def test_conmu_knobs_change_what_it_does():
    X, y, _ = _cohort()
    forest = make_model("rf", n_estimators=30).fit(X, y)
    assert len(select_important(forest, X, y, None)) == len(X)
    assert len(select_important(forest, X, y, 0.5)) < len(select_important(forest, X, y, 2.0))


def test_conmu_refits_on_remaining_windows_a_proxy_that_never_saw_p_selected():
    X, y, people = _cohort(8, 60)
    blocks = np.array([f"{p}-{t}" for p, t in zip(people, y, strict=True)])
    target, strangers = people == "p00", np.isin(people, ["p06", "p07"])
    members = ~strangers
    model = make_model("rf", n_estimators=30).fit(X[members], y[members])
    keep = members & ~target
    remain = (X[keep], y[keep], blocks[keep], people[keep])
    forget = (X[target], y[target])
    template = make_model("rf", n_estimators=30)
    calibration = (X[strangers], y[strangers], people[strangers])
    settings = ConMUSettings(band=0.5)
    updated, info = conmu_forget(
        model, template, remain=remain, forget=forget, calibration=calibration, settings=settings
    )
    # A selection of the remaining windows, nothing else: no window of P, no copy of one.
    assert 0 < info["n_selected"] < keep.sum() and "proxy" in info["times"]
    assert not {"n_pseudo", "steps"} & set(info)
    # The selection does not depend on the model trained with P.
    other = make_model("rf", n_estimators=30, random_state=9).fit(X[members], y[members])
    _, again = conmu_forget(
        other, template, remain=remain, forget=forget, calibration=calibration, settings=settings
    )
    assert again["n_selected"] == info["n_selected"]
    assert updated.n_features_in_ == X.shape[1]
    # What the audit keeps of the calibration attack: its verdict, not P's own score.
    kept = public_report(info["calibration"])
    assert "score" in info["calibration"] and "score" not in kept and "passed" in kept


# -- a dataset that forgets ----------------------------------------------------------------


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


def _tree(root: Path) -> dict:
    return {
        p.relative_to(root): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


def test_forget_removes_every_trace_and_updates_models(lab, tmp_path):
    from eeg4students.modelstore import export_model

    copy = export_model(
        load_model(lab.root / "derivatives/eeg4students/models/plain"), tmp_path / "c"
    )
    chunk = _fingerprint(lab.root, "sim03")
    # What a killed recording, notes and another tool leave behind.
    partial = lab.root / "sourcedata/eeg4students-partial"
    partial.mkdir(parents=True)
    (partial / "sub-sim03_ses-2_20260101T000000.csv").write_bytes(chunk)
    (partial / "sub-sim03_ses-2_20260101T000000.json").write_text('{"participant": "sim03"}')
    (lab.root / "sourcedata/sub-sim03").mkdir()
    (lab.root / "sourcedata/sub-sim03/consent.txt").write_text("sim03 consent form")
    (lab.root / "derivatives/othertool/sub-sim03").mkdir(parents=True)
    (lab.root / "derivatives/othertool/sub-sim03/x.bin").write_bytes(chunk)
    result = forget_participant(lab, "sim03", "sharded", evaluate=True, n_shadows=8)
    assert result.exports == [str(copy.resolve())]
    assert audit.read_log(lab.root)[-1]["exports_to_replace"] == [str(copy.resolve())]
    assert _scan(lab.root, "sim03", chunk) == []
    assert "sim03" not in lab.participants()
    by_name = {m["name"]: m for m in result.models}
    assert by_name["fast"]["strategy"] == "sharded" and by_name["fast"]["exact"]
    assert by_name["plain"]["strategy"] == "retrain" and "sharded form" in by_name["plain"]["note"]
    assert result.untouched == ["other"]
    for saved in list_models(lab):
        assert "sim03" not in saved.card["trained_on"]["participants"]
    assert load_model(lab.root / "derivatives/eeg4students/models/other").card["trained_on"][
        "participants"
    ] == ["sim01", "sim02"]
    entry = audit.read_log(lab.root)[-1]
    assert entry["participant"] == "sim03" and entry["models_untouched"] == ["other"]
    removed = {f["path"] for f in entry["files_removed"]}
    assert "sourcedata/sub-sim03/consent.txt" in removed
    assert "derivatives/othertool/sub-sim03/x.bin" in removed
    assert any(p.startswith("sourcedata/eeg4students-partial/sub-sim03_") for p in removed)
    assert all(len(f["sha256"]) == 64 for f in entry["files_removed"])
    metrics = by_name["fast"]["metrics"]
    # Exact: proved identical to a retrain without P by digest, no probabilistic verdict.
    assert metrics["identical"] and metrics["model"]["privacy"] is None
    assert metrics["model"]["digest"] == metrics["gold"]["digest"] == by_name["fast"]["digest"]
    assert (
        entry["models_updated"][0]["digest"]
        == by_name[entry["models_updated"][0]["name"]]["digest"]
    )
    assert any("never-seen" in note for note in metrics["notes"])
    # Nothing computed from P's windows is kept.
    for text in (json.dumps(entry), json.dumps(result.models)):
        for word in ("forget_accuracy", "strangers", "private", "agreement_on_participant"):
            assert f'"{word}"' not in text
    card = load_model(lab.root / "derivatives/eeg4students/models/fast").card
    assert card["unlearning"][-1]["audit_seq"] == 1
    assert card["unlearning"][-1]["audit_hash"] == entry["hash"]
    assert audit.verify(lab.root) == 1


def test_exact_strategies_use_the_card_not_data_added_since(lab):
    # A session recorded after training must not enter the forgetting silently.
    lab.add_recording(
        simulate_recording(0, 2, seed=11, task_seconds=15), "sim01", "2", "eeg4students"
    )
    old = {m.card["name"]: m for m in list_models(lab)}
    expected, columns = card_training_table(lab, old["fast"].card, without="sim04")
    fresh = fit_estimator(
        build_estimator("rf", {"n_estimators": 40}, {"kind": "sharded", "q": 0.3}),
        expected,
        columns,
    )
    plain = fit_estimator(build_estimator("rf", {"n_estimators": 40}), expected, columns)
    forget_participant(lab, "sim04", "sharded")
    X = expected[columns].to_numpy(dtype=float)
    fast = load_model(old["fast"].path)
    np.testing.assert_array_equal(fast.estimator.predict_proba(X), fresh.predict_proba(X))
    np.testing.assert_array_equal(
        load_model(old["plain"].path).estimator.predict_proba(X), plain.predict_proba(X)
    )
    assert ("sim01", "2") not in {tuple(s) for s in fast.card["trained_on"]["sessions"]}
    with_new = fit_estimator(
        build_estimator("rf", {"n_estimators": 40}, {"kind": "sharded", "q": 0.3}),
        pd.concat([expected, _features_of(lab, "sim01", "2", columns)]),
        columns,
    )
    assert not np.array_equal(with_new.predict_proba(X), fresh.predict_proba(X))


def _features_of(dataset, participant, session, columns):
    from eeg4students.featureset import compute_features

    table = compute_features(dataset, participants=[participant], progress=False).table
    return table[table["session"] == session]


def test_a_changed_recording_stops_exact_forgetting_until_refresh(lab):
    eeg = next((lab.root / "sub-sim02").rglob("*_eeg.eeg"))
    data = bytearray(eeg.read_bytes())
    data[1000] ^= 0xFF
    eeg.write_bytes(bytes(data))
    before = _tree(lab.root)
    with pytest.raises(ModelError, match=r"cannot be retrained exactly.*changed"):
        forget_participant(lab, "sim03")
    assert _tree(lab.root) == before
    result = forget_participant(lab, "sim03", refresh=True)
    assert all(m["strategy"] == "retrain" and m["refresh"] for m in result.models)
    assert audit.read_log(lab.root)[-1]["refresh"] is True


def test_unknown_participant_changes_nothing(lab):
    before = _tree(lab.root)
    with pytest.raises(DatasetError, match=r"no participant 'sim99'.*nothing was changed"):
        forget_participant(lab, "sim99")
    assert _tree(lab.root) == before


def test_participant_in_no_model(lab):
    result = forget_participant(lab, "sim05")
    assert result.models == [] and sorted(result.untouched) == ["fast", "other", "plain"]
    assert "sim05" not in lab.participants()
    assert audit.read_log(lab.root)[-1]["models_updated"] == []


def test_dry_run_and_confirmation_change_nothing(lab, capsys, monkeypatch):
    before = _tree(lab.root)
    assert main(["forget", str(lab.root), "--participant", "sim03", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "would delete" in out and "Dry run: nothing was changed." in out
    assert "model plain: retrain (exact)" in out and "model other: untouched" in out
    assert "delete sub-sim03/ses-1/eeg/" in out
    plan = plan_forget(lab, "sim03", "conmu")
    assert {m["name"]: m["exact"] for m in plan.models} == {"fast": False, "plain": False}
    # Not at a terminal and no --yes: refused.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: False)
    assert main(["forget", str(lab.root), "--participant", "sim03"]) == 1
    assert "add --yes" in capsys.readouterr().err
    # At a terminal, a wrong answer stops.
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr("builtins.input", lambda _: "no")
    assert main(["forget", str(lab.root), "--participant", "sim03"]) == 1
    assert _tree(lab.root) == before


def test_forgotten_participants_cannot_come_back(lab, tmp_path):
    from eeg4students.remote import ingest, package_participant

    package = package_participant(lab, "sim03", tmp_path / "sim03.zip")
    forget_participant(lab, "sim03")
    with pytest.raises(DatasetError, match="withdrew and was forgotten"):
        lab.add_recording(simulate_recording(2, 2, seed=1, task_seconds=5), "sim03", "2", "x")
    before = _tree(lab.root)
    with pytest.raises(Exception, match="withdrew and was forgotten"):
        ingest(package, lab.root)
    assert _tree(lab.root) == before


# -- the audit log ---------------------------------------------------------------------


def test_audit_detects_edits_truncation_and_rewrites(lab, tmp_path, capsys):
    forget_participant(lab, "sim05")
    first = forget_participant(lab, "sim04")
    head = first.audit_entry["hash"]
    assert main(["audit", "verify", str(lab.root), "--head", head]) == 0
    assert "2 entries" in capsys.readouterr().out
    log = audit.audit_path(lab.root)
    lines = log.read_text().splitlines()
    entry = json.loads(lines[0])
    entry["participant"] = "someone"
    log.write_text("\n".join([json.dumps(entry, sort_keys=True), *lines[1:]]) + "\n")
    assert main(["audit", "verify", str(lab.root)]) == 1
    assert "line 1: the entry does not match its hash" in capsys.readouterr().err
    # The last entry removed: the chain is fine, the head and the cards are not.
    log.write_text(lines[0] + "\n")
    with pytest.raises(audit.AuditError, match="not at the head"):
        audit.verify(lab.root, head_hash=head)
    with pytest.raises(audit.AuditError, match="was updated by forgetting entry 2"):
        audit.verify(lab.root)
    # Emptied or removed: the cards still remember.
    for damage in ("empty", "removed"):
        log.write_text("") if damage == "empty" else log.unlink()
        with pytest.raises(audit.AuditError, match="was updated by forgetting entry"):
            audit.verify(lab.root)
    # Rewritten with every hash recomputed: only the head (or a key) tells.
    rewritten, previous = [], audit.GENESIS
    for line in lines:
        entry = json.loads(line)
        entry["participant"] = "x" + entry["participant"]
        entry["prev"] = previous
        entry["hash"] = audit._digest(entry)
        previous = entry["hash"]
        rewritten.append(json.dumps(entry, sort_keys=True))
    log.write_text("\n".join(rewritten) + "\n")
    with pytest.raises(audit.AuditError):
        audit.verify(lab.root, head_hash=head)
    log.write_text("garbage\n")
    assert main(["audit", "show", str(lab.root)]) == 1
    assert "not valid JSON" in capsys.readouterr().err


def test_keyed_chain(lab, tmp_path, capsys):
    key_file = tmp_path / "audit.key"
    assert main(["audit", "key", str(key_file), "--dataset", str(lab.root)]) == 0
    assert oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert main(["audit", "key", str(lab.root / "k"), "--dataset", str(lab.root)]) == 1
    assert "inside the dataset" in capsys.readouterr().err
    argv = ["forget", str(lab.root), "--yes", "--key", str(key_file)]
    assert main([*argv, "--participant", "sim05"]) == 0
    assert main(["audit", "verify", str(lab.root), "--key", str(key_file)]) == 0
    assert "every HMAC valid" in capsys.readouterr().out
    # Someone without the key rewrites the entry and its hash: the HMAC gives it away.
    log = audit.audit_path(lab.root)
    entry = json.loads(log.read_text())
    entry["strategy"] = "sharded"
    entry["hash"] = audit._digest(entry)
    log.write_text(json.dumps(entry, sort_keys=True) + "\n")
    assert audit.verify(lab.root) == 1
    with pytest.raises(audit.AuditError, match="HMAC does not match"):
        audit.verify(lab.root, key=audit.read_key(key_file))


def _files(root: Path) -> dict:
    return {
        p.relative_to(root).as_posix(): p.read_bytes()
        for p in root.rglob("*")
        if p.is_file() and p.name != ".eeg4students.lock"
    }


def test_a_keyed_chain_refuses_an_unsigned_forgetting_before_any_change(lab, tmp_path, capsys):
    key_file = tmp_path / "audit.key"
    assert main(["audit", "key", str(key_file), "--dataset", str(lab.root)]) == 0
    argv = ["forget", str(lab.root), "--yes"]
    assert main([*argv, "--key", str(key_file), "--participant", "sim05"]) == 0
    before = _files(lab.root)
    capsys.readouterr()
    assert main([*argv, "--participant", "sim04"]) == 1  # without --key
    err = capsys.readouterr().err
    assert "is keyed" in err and "--key" in err and err.count("\n") == 1
    assert _files(lab.root) == before  # nothing deleted, no unsigned entry
    assert main(["audit", "verify", str(lab.root), "--key", str(key_file)]) == 0
    with pytest.raises(audit.AuditError, match="is keyed"):
        audit.append(lab.root, {"action": "note"})


def test_key_files_must_be_private_and_outside_every_dataset(lab, tmp_path, capsys):
    key_file = tmp_path / "audit.key"
    assert main(["audit", "key", str(key_file)]) == 0
    key_file.chmod(0o644)
    assert main(["audit", "verify", str(lab.root), "--key", str(key_file)]) == 1
    err = capsys.readouterr().err
    assert "chmod 600" in err and "other users" in err and err.count("\n") == 1
    key_file.chmod(0o600)
    assert main(["audit", "verify", str(lab.root), "--key", str(key_file)]) == 0
    # Without --dataset, a key is still never written inside a dataset.
    inside = lab.root / "derivatives" / "k.key"
    assert main(["audit", "key", str(inside)]) == 1
    assert "inside the dataset" in capsys.readouterr().err and not inside.exists()


# -- crashes and commands --------------------------------------------------------------


@pytest.mark.parametrize("point", ["staged", "model", "audited"])
def test_crash_and_resume(lab, point, tmp_path):
    chunk = _fingerprint(lab.root, "sim02")
    code = (
        "import sys; from eeg4students.cli import main; "
        f"sys.exit(main(['forget', {str(lab.root)!r}, '--participant', 'sim02', '--yes']))"
    )
    env = {**os.environ, CRASH_ENV: point}
    # Output to a file, not a pipe: worker processes a crash leaves behind keep a pipe open.
    with (tmp_path / "crash.log").open("w") as log:
        crashed = subprocess.run(
            [sys.executable, "-c", code], env=env, stdout=log, stderr=log, timeout=300
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
    argv = ["forget", str(lab.root), "--participant", "sim01", "--strategy", "conmu", "--yes"]
    assert main([*argv, "--band", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "Forgot participant sim01" in out and "model fast: conmu approximate" in out
    assert "Audit head: " in out
    assert main(["audit", "show", str(lab.root)]) == 0
    assert "forget sim01 [conmu]" in capsys.readouterr().out
    assert main(["forget", str(lab.root), "--participant", "nobody", "--yes"]) == 1
    assert "no participant 'nobody'" in capsys.readouterr().err
    out = tmp_path / "sweep"
    argv = ["forget", str(lab.root), "--participant", "sim02", "--sweep", "--model", "lda"]
    assert main([*argv, "--out", str(out), "--shadows", "8"]) == 0
    printed = capsys.readouterr().out
    table = pd.read_csv(out / "tradeoff.csv")
    assert list(table["strategy"].unique()) == ["retrain", "sharded", "conmu"]  # lda: no twin
    assert len(table) == 2 + len(SWEEP_GRID) and (out / "tradeoff.png").is_file()
    assert bool(table.loc[table["strategy"] == "retrain", "forgotten"].iloc[0])
    assert table.loc[table["strategy"] == "retrain", "speedup"].iloc[0] == 1.0  # over itself
    assert frontier(table) in printed
    assert "forgotten" in printed and " True " not in printed and " False " not in printed
    page = (out / "report.html").read_text()  # one self-contained file
    assert page.count("data:image/png;base64,") >= 1 and "tradeoff.png" not in page
    assert "Forgetting sim02" in page and "<th>shadow models</th><td>8</td>" in page
    assert "sim02" in lab.participants()  # the sweep works on a copy


def test_evaluate_warns_when_no_one_is_a_stranger(tmp_path, capsys):
    root = tmp_path / "all"
    simulate_to_dataset(root, 4, 1, seed=2, task_seconds=15, progress=False)
    train_model(root, "rf", "m", model_params={"n_estimators": 30}, progress=False)
    argv = ["forget", str(root), "--participant", "sim02", "--yes", "--evaluate"]
    assert main([*argv, "--strategy", "conmu", "--shadows", "8"]) == 0
    out = capsys.readouterr().out
    assert out.index("warning: a model was trained on every participant") < out.index("Forgot")
    assert "shadow models could only vary their seeds" in out
    assert "U-LiRA" in out and "acc P" not in out  # P's own figures are not printed


@pytest.fixture(autouse=True)
def _no_stray_env(monkeypatch):
    monkeypatch.delenv(CRASH_ENV, raising=False)
    yield
    os.environ.pop(CRASH_ENV, None)


def test_dry_run_evaluate_computes_everything_and_changes_nothing(lab, capsys):
    before = _tree(lab.root)
    argv = ["forget", str(lab.root), "--participant", "sim02", "--dry-run", "--evaluate"]
    assert main([*argv, "--strategy", "conmu", "--shadows", "8"]) == 0
    out = capsys.readouterr().out
    assert _tree(lab.root) == before  # feature caches written on the way are undone too
    assert "model fast would be: conmu approximate" in out
    assert "U-LiRA" in out and "acc P" in out and "agreement with gold on P's windows" in out
    assert "Dry run: nothing was changed" in out
    assert "sim02" in lab.participants() and audit.read_log(lab.root) == []


def test_exact_identity_is_a_digest_that_sees_one_changed_tree(lab):
    from eeg4students.unlearning.digest import state_digest

    result = forget_participant(lab, "sim04", "sharded", evaluate=True, n_shadows=8)
    entry = next(m for m in result.models if m["name"] == "fast")
    saved = load_model(lab.root / "derivatives/eeg4students/models/fast")
    remain, columns = card_training_table(lab, saved.card)
    retrain = fit_estimator(
        build_estimator("rf", {"n_estimators": 40}, {"kind": "sharded", "q": 0.3}),
        remain,
        columns,
    )
    assert entry["metrics"]["identical"] and entry["digest"] == state_digest(retrain)
    # One threshold of one tree changed: the models differ, and so do their digests.
    tree = next(t for t in retrain.estimators_ if t is not None)
    tree.tree_.threshold[0] += 1e-9
    assert state_digest(retrain) != entry["digest"]
