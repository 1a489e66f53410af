"""Forget a participant in a dataset: their files, their cached features, their influence.

The steps, each safe to interrupt and repeat:

1. **plan**: check the participant, make sure their features are cached for
   every model that saw them, list their files with SHA-256 digests, and
   write a journal (``derivatives/eeg4students/audit/pending.json``);
2. **stage**: move their BIDS folder and cached features into a staging
   folder, and rewrite ``participants.tsv`` and the quality tables without
   them (each rewrite atomic);
3. **models**: update every saved model whose card lists them with the
   chosen strategy (model and card written atomically), from the remaining
   windows; their own windows are read from the staging folder;
4. **audit**: append the hash-chained record (files removed with digests,
   models updated or untouched, exports to replace, strategy, settings,
   metrics);
5. **clean**: delete the staging folder and the journal.

If the process dies, running ``forget`` again reads the journal and finishes
the job from where it stopped; after step 5 no file under the dataset but
the audit log names the participant.
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from eeg4students._files import atomic_write_json, atomic_write_text, sha256
from eeg4students.errors import DatasetError
from eeg4students.featureset import DERIVATIVE, compute_features, settings_key
from eeg4students.modelstore import (
    CARD_FILE,
    SavedModel,
    build_estimator,
    fit_estimator,
    list_models,
    load_model,
    make_card,
    save_model,
    verify_model,
)
from eeg4students.store import Dataset
from eeg4students.unlearning import audit
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.metrics import forgetting_report
from eeg4students.unlearning.strategies import STRATEGIES, apply_strategy, table_arrays

JOURNAL = DERIVATIVE / "audit" / "pending.json"
STAGING = DERIVATIVE / "audit" / "staging"
#: Test hook: the process exits at the named step (crash-resume tests).
CRASH_ENV = "EEG4STUDENTS_CRASH_AT"


def _checkpoint(name: str) -> None:
    if os.environ.get(CRASH_ENV) == name:
        os._exit(75)


@dataclass
class ForgetResult:
    """What forgetting did.

    Attributes
    ----------
    participant : str
    strategy : str
        The strategy asked for.
    files_removed : list of dict
        ``path`` (relative to the dataset) and ``sha256`` of every file removed.
    models : list of dict
        Per updated model: ``name``, ``strategy`` (as run), ``note``,
        ``seconds`` and ``metrics`` (with ``--evaluate``).
    untouched : list of str
        Models that never saw the participant.
    exports : list of str
        Exported copies that still hold the participant's influence.
    audit_entry : dict
        The audit record appended.
    """

    participant: str
    strategy: str
    files_removed: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    audit_entry: dict = field(default_factory=dict)


def _participant_files(root: Path, participant: str) -> list[Path]:
    files = sorted((root / f"sub-{participant}").rglob("*"))
    files += sorted((root / DERIVATIVE / "features").glob(f"*/sub-{participant}/*"))
    return [f for f in files if f.is_file()]


def _without_participant(path: Path, participant: str) -> None:
    """Rewrite a TSV without the participant's rows (atomically), if it has any."""
    if not path.is_file():
        return
    table = pd.read_csv(path, sep="\t", dtype=str, keep_default_na=False)
    column = "participant_id" if "participant_id" in table.columns else "participant"
    if column not in table.columns:
        return
    value = f"sub-{participant}" if column == "participant_id" else participant
    if (table[column] == value).any():
        kept = table[table[column] != value]
        atomic_write_text(path, kept.to_csv(sep="\t", index=False))


def _stage(root: Path, participant: str) -> None:
    """Move the participant's folders into staging; rewrite shared tables without them."""
    staging = root / STAGING
    moves = [(root / f"sub-{participant}", staging / f"sub-{participant}")]
    for folder in (root / DERIVATIVE / "features").glob(f"*/sub-{participant}"):
        moves.append((folder, staging / "features" / folder.parent.name / folder.name))
    for source, target in moves:
        if source.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(source, target)
    _without_participant(root / "participants.tsv", participant)
    for table in (root / DERIVATIVE / "features").glob("*/*.tsv"):
        _without_participant(table, participant)


def _staged_features(root: Path, participant: str, key: str) -> pd.DataFrame:
    folder = root / STAGING / "features" / key / f"sub-{participant}"
    files = sorted(folder.glob("*_features.parquet"))
    if not files:
        raise DatasetError(
            f"The staged features of the forgotten participant are missing from {folder}; "
            "the forget step cannot finish (restore the dataset from a backup)."
        )
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _update_model(
    dataset: Dataset,
    saved: SavedModel,
    participant: str,
    strategy: str,
    conmu: ConMUSettings | None,
    evaluate: bool,
) -> dict:
    card = saved.card
    pre, feat = saved.preprocess, saved.features
    trained = card["trained_on"]["participants"]
    remaining = [p for p in trained if p != participant and p in dataset.participants()]
    key, _ = settings_key(pre, feat)
    forget = _staged_features(dataset.root, participant, key)
    features = compute_features(dataset, pre, feat, progress=False)
    columns = features.feature_columns
    remain = features.table[features.table["participant"].isin(remaining)]
    nonmember = features.table[~features.table["participant"].isin(trained)]

    def template():
        return build_estimator(card["model"], card.get("model_params"), card.get("unlearnable"))

    outcome = apply_strategy(
        strategy,
        saved.estimator,
        template,
        participant,
        remain,
        forget,
        columns,
        nonmember=nonmember,
        conmu=conmu,
    )
    entry = {
        "name": card["name"],
        "strategy": outcome.strategy,
        "note": outcome.note,
        "seconds": round(outcome.seconds, 4),
        "times": {k: round(v, 4) for k, v in outcome.times.items()},
    }
    if evaluate:
        entry["metrics"] = _measure(outcome, template, remain, forget, nonmember, columns)
    new_card = make_card(
        dataset,
        card["name"],
        card["model"],
        outcome.estimator,
        remain,
        columns,
        pre,
        feat,
        model_params=card.get("model_params"),
        unlearnable=card.get("unlearnable"),
    )
    new_card["created"] = card["created"]
    new_card["exports"] = card.get("exports", [])
    new_card["unlearning"] = [
        *card.get("unlearning", []),
        {"strategy": outcome.strategy, "forgotten_at": time.strftime("%Y-%m-%dT%H:%M:%S")},
    ]
    save_model(outcome.estimator, new_card, saved.path)
    return entry


def _measure(outcome, template, remain, forget, nonmember, columns) -> dict:
    """Metrics against the gold model retrained without the participant."""
    start = time.perf_counter()
    gold = (
        outcome.estimator
        if outcome.strategy == "retrain"
        else fit_estimator(template(), remain, columns)
    )
    retrain_seconds = (
        outcome.seconds if outcome.strategy == "retrain" else time.perf_counter() - start
    )
    metrics = {"retrain_seconds": round(retrain_seconds, 4)}
    metrics["speedup"] = round(retrain_seconds / max(outcome.seconds, 1e-9), 2)
    X_f, y_f, _ = table_arrays(forget, columns)
    if nonmember.empty:
        metrics["note"] = (
            "no participant in the dataset was left out of this model, so membership "
            "attacks and test accuracy could not be measured"
        )
        metrics["forget_accuracy"] = float((outcome.estimator.predict(X_f) == y_f).mean())
        return metrics
    report = forgetting_report(
        outcome.estimator,
        gold,
        forget=(X_f, y_f),
        remain=table_arrays(remain, columns),
        test=table_arrays(nonmember, columns),
    )
    metrics.update(report)
    return metrics


def forget_participant(
    dataset: Dataset | str | Path,
    participant: str,
    strategy: str = "retrain",
    *,
    conmu: ConMUSettings | None = None,
    evaluate: bool = False,
) -> ForgetResult:
    """Delete a participant's data and remove their influence from every saved model.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset.
    participant : str
        The participant's label (without ``sub-``).
    strategy : {"retrain", "sharded", "conmu"}
        How models are updated (see :mod:`eeg4students.unlearning.strategies`).
    conmu : ConMUSettings | None
        ConMU's knobs, for ``strategy="conmu"``.
    evaluate : bool
        Also measure every updated model against the gold retrained one.

    Returns
    -------
    result : ForgetResult

    Raises
    ------
    DatasetError
        If the participant is unknown (nothing is changed), or another
        participant's forgetting was interrupted (finish that one first).
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    root = dataset.root
    if strategy not in STRATEGIES:
        raise DatasetError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    journal_path = root / JOURNAL
    with dataset.lock():
        if journal_path.is_file():
            journal = _read_journal(journal_path)
            if journal["participant"] != participant:
                raise DatasetError(
                    f"Forgetting participant {journal['participant']!r} was interrupted; run "
                    f"`eeg4students forget {root} --participant {journal['participant']}` first."
                )
        else:
            journal = _plan(dataset, participant, strategy, conmu)
        return _run(dataset, journal, conmu, evaluate)


_JOURNAL_FIELDS = ("participant", "strategy", "files", "models", "done", "results", "stage")


def _read_journal(path: Path) -> dict:
    """The journal of an interrupted forgetting, checked."""
    try:
        journal = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DatasetError(
            f"{path}: the journal of an interrupted forgetting is damaged "
            f"({exc.__class__.__name__}); restore the dataset from a backup, or remove the "
            "journal and the staging folder beside it only if the forgetting never started."
        ) from exc
    if not isinstance(journal, dict) or any(k not in journal for k in _JOURNAL_FIELDS):
        raise DatasetError(f"{path}: the journal of an interrupted forgetting is incomplete.")
    return journal


def _plan(dataset: Dataset, participant: str, strategy: str, conmu) -> dict:
    root = dataset.root
    if participant not in dataset.participants():
        raise DatasetError(
            f"{root} has no participant {participant!r} (it has: "
            f"{', '.join(dataset.participants()) or 'none'}); nothing was changed."
        )
    saved_models = list_models(dataset)
    models = [m for m in saved_models if participant in m.card["trained_on"]["participants"]]
    for saved in models:
        # A model file that would be refused later must stop the forgetting before any change.
        verify_model(saved.path)
    for saved in models:
        compute_features(
            dataset, saved.preprocess, saved.features, participants=[participant], progress=False
        )
    files = [
        {"path": str(f.relative_to(root)), "sha256": sha256(f)}
        for f in _participant_files(root, participant)
    ]
    journal = {
        "participant": participant,
        "strategy": strategy,
        "settings": conmu.as_dict() if (conmu and strategy == "conmu") else {},
        "files": files,
        "models": [m.card["name"] for m in models],
        "untouched": sorted(m.card["name"] for m in saved_models if m not in models),
        "done": [],
        "results": [],
        "stage": "planned",
    }
    atomic_write_json(root / JOURNAL, journal)
    return journal


def _run(dataset: Dataset, journal: dict, conmu, evaluate: bool) -> ForgetResult:
    root = dataset.root
    participant = journal["participant"]
    if journal["stage"] == "planned":
        _stage(root, participant)
        journal["stage"] = "staged"
        atomic_write_json(root / JOURNAL, journal)
    _checkpoint("staged")
    if journal["stage"] == "staged":
        for name in journal["models"]:
            if name in journal["done"]:
                continue
            saved = load_model(root / DERIVATIVE / "models" / name)
            if participant not in saved.card["trained_on"]["participants"]:
                # Saved just before an interruption: do not forget twice.
                entry = {
                    "name": name,
                    "strategy": journal["strategy"],
                    "note": "updated before an interruption",
                }
            else:
                entry = _update_model(
                    dataset, saved, participant, journal["strategy"], conmu, evaluate
                )
            journal["done"].append(name)
            journal["results"].append(entry)
            atomic_write_json(root / JOURNAL, journal)
            _checkpoint("model")
        exports = []
        for name in journal["models"]:
            card = json.loads((root / DERIVATIVE / "models" / name / CARD_FILE).read_text())
            exports += card.get("exports", [])
        record = {
            "action": "forget",
            "participant": participant,
            "strategy": journal["strategy"],
            "settings": journal["settings"],
            "files_removed": journal["files"],
            "models_updated": journal["results"],
            "models_untouched": journal["untouched"],
            "exports_to_replace": sorted(set(exports)),
        }
        entry = audit.append(root, record)
        journal["stage"] = "audited"
        journal["audit_seq"] = entry["seq"]
        atomic_write_json(root / JOURNAL, journal)
    _checkpoint("audited")
    shutil.rmtree(root / STAGING, ignore_errors=True)
    (root / JOURNAL).unlink(missing_ok=True)
    entry = next(e for e in audit.read_log(root) if e["seq"] == journal["audit_seq"])
    return ForgetResult(
        participant=participant,
        strategy=journal["strategy"],
        files_removed=journal["files"],
        models=journal["results"],
        untouched=journal["untouched"],
        exports=entry["exports_to_replace"],
        audit_entry=entry,
    )
