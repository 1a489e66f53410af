"""Forget a participant in a dataset: their files, their cached features, their influence.

The steps, each safe to interrupt and repeat, all under the dataset's lock
(so a ``train``, ``features``, ``ingest`` or recording cannot interleave):

1. **plan** (:func:`plan_forget`, nothing written): check the participant,
   every model file that saw them (refused unread if unsafe), that each such
   model's training data is still as its card lists it (else only an
   explicit ``refresh`` may retrain it), make sure their features are
   cached, and list every file holding their data: their BIDS folder, any
   file or folder named ``sub-P`` or ``sub-P_...`` elsewhere in the dataset
   (partial recordings in ``sourcedata/``, other tools' derivatives, cached
   features). The plan is written as a journal
   (``derivatives/eeg4students/audit/pending.json``);
2. **stage**: move those files into a staging folder, and rewrite
   ``participants.tsv`` and the quality tables without them (each atomic);
3. **models**: update every saved model whose card lists them with the
   chosen strategy, on exactly the windows its card lists minus theirs
   (:func:`~eeg4students.training.card_training_table`; data added after
   training never enters), their own windows read from the staging folder;
4. **audit**: append the hash-chained record (files removed with digests,
   models updated with strategy, exactness and measured privacy, models
   untouched, exports to replace) and note its hash on every updated card;
5. **clean**: delete the staging folder and the journal.

If the process dies, running ``forget`` again reads the journal and finishes
the job from where it stopped; after step 5 no file under the dataset but
the audit log names the participant.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

from eeg4students import _json as limited_json
from eeg4students._files import (
    atomic_write_json,
    atomic_write_text,
    checkpoint,
    sha256,
)
from eeg4students.errors import DatasetError
from eeg4students.featureset import DERIVATIVE, cache_paths, compute_features
from eeg4students.modelstore import (
    CARD_FILE,
    SavedModel,
    list_models,
    load_model,
    read_card,
)
from eeg4students.store import Dataset, read_tsv, undone_on_failure
from eeg4students.store.transaction import UNDO_DIR, move_out
from eeg4students.training import card_training_table
from eeg4students.unlearning import audit
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.privacy import N_SHADOWS
from eeg4students.unlearning.strategies import STRATEGIES
from eeg4students.unlearning.updates import Update, UpdateSettings, compute_update

AUDIT_DIR = DERIVATIVE / "audit"
JOURNAL = AUDIT_DIR / "pending.json"
STAGING = AUDIT_DIR / "staging"


@dataclass
class ForgetPlan:
    """What forgetting a participant will do (see :func:`plan_forget`).

    Attributes
    ----------
    participant : str
    strategy : str
        The strategy asked for.
    files : list of dict
        ``path`` (relative to the dataset), ``sha256`` and ``bytes`` of every
        file that holds the participant's data.
    models : list of dict
        Per model that saw them: ``name``, ``strategy`` (what will run) and
        ``exact``.
    untouched : list of str
        Models that never saw them.
    exports : list of str
        Exported copies of those models that this command cannot reach.
    refresh : bool
        Whether models are retrained on the dataset as it is now.
    loaded : list of SavedModel
        The models of ``models``, loaded and checked.
    """

    participant: str
    strategy: str
    files: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    refresh: bool = False
    loaded: list[SavedModel] = field(default_factory=list, repr=False)


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
        Per updated model: ``name``, ``strategy`` (as run), ``exact``,
        ``note``, ``seconds``, ConMU's ``calibration`` verdict, and
        ``metrics`` (with ``evaluate``).
    untouched : list of str
        Models that never saw the participant.
    exports : list of str
        Exported copies that still hold the participant's influence.
    audit_entry : dict
        The audit record appended; its ``hash`` is the chain's new head (empty
        for a dry run).
    dry_run : bool
        Nothing was changed: the forgetting was computed and undone.
    reports : dict of str to dict
        A dry run's full reports per model, P's own figures included
        (:func:`~eeg4students.unlearning.metrics.forgetting_report`); empty
        otherwise, since nothing computed from P's data is kept.
    """

    participant: str
    strategy: str
    files_removed: list[dict] = field(default_factory=list)
    models: list[dict] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    exports: list[str] = field(default_factory=list)
    audit_entry: dict = field(default_factory=dict)
    dry_run: bool = False
    reports: dict = field(default_factory=dict, repr=False)


class _DryRun(Exception):
    """Raised at the end of a dry run's block so that everything it wrote is undone."""

    def __init__(self, plan: ForgetPlan, updates: dict) -> None:
        super().__init__("dry run")
        self.plan, self.updates = plan, updates


def _holds_participant(name: str, participant: str) -> bool:
    return name == f"sub-{participant}" or name.startswith(f"sub-{participant}_")


def _participant_paths(root: Path, participant: str) -> list[Path]:
    """The top-most files and folders of the dataset named for the participant."""
    found = []
    # The audit log names them by design; an undo snapshot only links files listed anyway.
    skip = {root / AUDIT_DIR, root / UNDO_DIR}
    for folder, dirs, files in os.walk(root):
        here = Path(folder)
        for name in sorted(dirs):
            if here / name in skip:
                dirs.remove(name)
            elif _holds_participant(name, participant):
                found.append(here / name)
                dirs.remove(name)
        found += [here / name for name in sorted(files) if _holds_participant(name, participant)]
    return sorted(found)


def _participant_files(root: Path, participant: str) -> list[Path]:
    files = []
    for path in _participant_paths(root, participant):
        files += [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    return files


def _without_participant(path: Path, participant: str) -> None:
    """Rewrite a TSV without the participant's rows (atomically), if it has any."""
    if not path.is_file():
        return
    table = read_tsv(path)
    column = "participant_id" if "participant_id" in table.columns else "participant"
    if column not in table.columns:
        return
    value = f"sub-{participant}" if column == "participant_id" else participant
    if (table[column] == value).any():
        kept = table[table[column] != value]
        atomic_write_text(path, kept.to_csv(sep="\t", index=False))


def _stage(root: Path, participant: str) -> None:
    """Move the participant's files into staging; rewrite shared tables without them."""
    move_out(root, _participant_paths(root, participant), root / STAGING)
    _without_participant(root / "participants.tsv", participant)
    for table in (root / DERIVATIVE / "features").glob("*/*.tsv"):
        _without_participant(table, participant)


_JOURNAL_FIELDS = ("participant", "strategy", "files", "models", "done", "results", "stage")


def _read_journal(path: Path) -> dict:
    """The journal of an interrupted forgetting, checked."""
    journal = limited_json.read_object(
        path,
        error=DatasetError,
        message="{path}: the journal of an interrupted forgetting is damaged ({why}); restore "
        "the dataset from a backup, or remove the journal and the staging folder beside it "
        "only if the forgetting never started.",
    )
    if any(k not in journal for k in _JOURNAL_FIELDS):
        raise DatasetError(f"{path}: the journal of an interrupted forgetting is incomplete.")
    return journal


def interrupted(dataset: Dataset) -> dict | None:
    """The journal of an interrupted forgetting in ``dataset``, or None.

    Raises
    ------
    DatasetError
        If the journal is damaged.
    """
    path = dataset.root / JOURNAL
    return _read_journal(path) if path.is_file() else None


def plan_forget(
    dataset: Dataset | str | Path,
    participant: str,
    strategy: str = "retrain",
    *,
    refresh: bool = False,
) -> ForgetPlan:
    """What forgetting a participant would change; nothing is written but feature caches.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset.
    participant : str
        The participant's label (without ``sub-``).
    strategy : {"retrain", "sharded", "conmu"}
    refresh : bool
        Retrain models on the dataset as it is now (data added after training
        enters), instead of exactly on what their cards list.

    Returns
    -------
    plan : ForgetPlan

    Raises
    ------
    DatasetError
        If the participant is unknown.
    ModelError
        If a model file that saw them is unsafe or damaged, or (without
        ``refresh``) its training data is no longer as its card lists it.
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    root = dataset.root
    if strategy not in STRATEGIES:
        raise DatasetError(f"Unknown strategy {strategy!r}: use one of {', '.join(STRATEGIES)}.")
    if participant not in dataset.participants():
        raise DatasetError(
            f"{root} has no participant {participant!r} (it has: "
            f"{', '.join(dataset.participants()) or 'none'}); nothing was changed."
        )
    saved_models = list_models(dataset)
    models = [m for m in saved_models if participant in m.card["trained_on"]["participants"]]
    # Every model that saw them is loaded and checked before anything else: one that
    # would be refused stops the forgetting before a single file is written.
    loaded = [load_model(saved.path) for saved in models]
    planned = []
    for saved in models:
        # One that could not be retrained exactly stops it too.
        compute_features(
            dataset, saved.preprocess, saved.features, participants=[participant], progress=False
        )
        if not refresh:
            card_training_table(dataset, saved.card, without=participant)
        form = (saved.card.get("unlearnable") or {}).get("kind")
        needs_form = strategy in ("sharded", "certified") and form != strategy
        runs = "retrain" if refresh or needs_form else strategy
        exact = runs in ("retrain", "sharded")
        planned.append({"name": saved.card["name"], "strategy": runs, "exact": exact})
    files = [
        {"path": str(f.relative_to(root)), "sha256": sha256(f), "bytes": f.stat().st_size}
        for f in _participant_files(root, participant)
    ]
    return ForgetPlan(
        participant=participant,
        strategy=strategy,
        files=files,
        models=planned,
        untouched=sorted(m.card["name"] for m in saved_models if m not in models),
        exports=sorted({e for m in models for e in m.card.get("exports", [])}),
        refresh=refresh,
        loaded=loaded,
    )


def forget_participant(
    dataset: Dataset | str | Path,
    participant: str,
    strategy: str = "retrain",
    *,
    conmu: ConMUSettings | None = None,
    evaluate: bool = False,
    refresh: bool = False,
    n_shadows: int = N_SHADOWS,
    key: bytes | None = None,
    dry_run: bool = False,
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
        Also measure every updated model against the gold retrained one and
        check the participant's privacy with ``n_shadows`` shadow models.
    refresh : bool
        Retrain every model on the dataset as it is now, without the
        participant (data added after training enters), instead of exactly on
        what its card lists.
    n_shadows : int
        Shadow models per updated model for ``evaluate``.
    key : bytes | None
        Key of a keyed audit chain (see :mod:`eeg4students.unlearning.audit`).
    dry_run : bool
        Compute everything (every model's update and, with ``evaluate``, its
        checks) and change nothing: feature caches written on the way are
        undone too. The result's ``reports`` hold P's figures.

    Returns
    -------
    result : ForgetResult

    Raises
    ------
    DatasetError
        If the participant is unknown (nothing is changed), or another
        participant's forgetting was interrupted (finish that one first).
    ModelError
        If a model that saw them is unsafe, damaged or cannot be retrained
        exactly (nothing is changed).
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    root = dataset.root
    with dataset.lock():
        journal = interrupted(dataset)
        if journal is not None:
            if journal["participant"] != participant:
                raise DatasetError(
                    f"Forgetting participant {journal['participant']!r} was interrupted; run "
                    f"`eeg4students forget {root} --participant {journal['participant']}` first."
                )
            if dry_run:
                raise DatasetError(
                    f"Forgetting {participant} was interrupted; a dry run cannot be made until "
                    "it is finished (run the command without --dry-run)."
                )
            return _run(dataset, journal, conmu, evaluate, n_shadows, key)
        # Everything is checked, and every model's update computed, before the first
        # change: a refusal here leaves the dataset as it was (feature caches included).
        try:
            with undone_on_failure(root, *cache_paths(root)):
                audit.check_key(root, key)
                plan = plan_forget(dataset, participant, strategy, refresh=refresh)
                settings = UpdateSettings(strategy, conmu, evaluate, refresh, n_shadows)
                updates = {
                    saved.card["name"]: compute_update(dataset, saved, participant, settings, root)
                    for saved in plan.loaded
                }
                checkpoint("prepared")
                if dry_run:
                    raise _DryRun(plan, updates)
        except _DryRun as done:
            return ForgetResult(
                participant=participant,
                strategy=strategy,
                files_removed=[
                    {"path": f["path"], "sha256": f["sha256"]} for f in done.plan.files
                ],
                models=[u.entry for u in done.updates.values()],
                untouched=done.plan.untouched,
                exports=done.plan.exports,
                dry_run=True,
                reports={n: u.report for n, u in done.updates.items() if u.report is not None},
            )
        journal = {
            "participant": participant,
            "strategy": strategy,
            "settings": conmu.as_dict() if (conmu and strategy == "conmu") else {},
            "files": [{"path": f["path"], "sha256": f["sha256"]} for f in plan.files],
            "models": [m["name"] for m in plan.models],
            "untouched": plan.untouched,
            "refresh": refresh,
            "done": [],
            "results": [],
            "stage": "planned",
        }
        atomic_write_json(root / JOURNAL, journal)
        return _run(dataset, journal, conmu, evaluate, n_shadows, key, updates)


def _run(
    dataset: Dataset,
    journal: dict,
    conmu,
    evaluate,
    n_shadows,
    key,
    updates: dict[str, Update] | None = None,
) -> ForgetResult:
    """Carry out a journaled forgetting from its stage on; ``updates`` were computed before."""
    updates = updates or {}
    root = dataset.root
    participant = journal["participant"]
    refresh = bool(journal.get("refresh"))
    if journal["stage"] == "planned":
        _stage(root, participant)
        journal["stage"] = "staged"
        atomic_write_json(root / JOURNAL, journal)
    checkpoint("staged")
    if journal["stage"] == "staged":
        for name in journal["models"]:
            if name in journal["done"]:
                continue
            update = updates.get(name)
            saved = None if update else load_model(root / DERIVATIVE / "models" / name)
            if saved is not None and participant not in saved.card["trained_on"]["participants"]:
                # Saved just before an interruption: do not forget twice.
                entry = {
                    "name": name,
                    "strategy": journal["strategy"],
                    "note": "updated before an interruption",
                }
            else:
                if update is None:  # finishing an interrupted run: their windows are staged
                    settings = UpdateSettings(
                        journal["strategy"], conmu, evaluate, refresh, n_shadows
                    )
                    update = compute_update(dataset, saved, participant, settings, root / STAGING)
                update.save()
                entry = update.entry
            journal["done"].append(name)
            journal["results"].append(entry)
            atomic_write_json(root / JOURNAL, journal)
            checkpoint("model")
        exports = []
        for name in journal["models"]:
            exports += read_card(root / DERIVATIVE / "models" / name / CARD_FILE).get(
                "exports", []
            )
        record = {
            "action": "forget",
            "participant": participant,
            "strategy": journal["strategy"],
            "settings": journal["settings"],
            "refresh": refresh,
            "files_removed": journal["files"],
            "models_updated": journal["results"],
            "models_untouched": journal["untouched"],
            "exports_to_replace": sorted(set(exports)),
        }
        entry = audit.append(root, record, key=key)
        journal["stage"] = "audited"
        journal["audit_seq"] = entry["seq"]
        atomic_write_json(root / JOURNAL, journal)
    checkpoint("audited")
    entry = next(e for e in audit.read_log(root) if e["seq"] == journal["audit_seq"])
    for name in journal["models"]:
        _note_audit(root / DERIVATIVE / "models" / name, entry)
    shutil.rmtree(root / STAGING, ignore_errors=True)
    (root / JOURNAL).unlink(missing_ok=True)
    return ForgetResult(
        participant=participant,
        strategy=journal["strategy"],
        files_removed=journal["files"],
        models=journal["results"],
        untouched=journal["untouched"],
        exports=entry["exports_to_replace"],
        audit_entry=entry,
    )


def _note_audit(folder: Path, entry: dict) -> None:
    """Record the audit entry on the card's last unlearning record (idempotent)."""
    card = read_card(folder / CARD_FILE)
    records = card.get("unlearning") or []
    if records and records[-1].get("audit_seq") is None:
        records[-1] = {**records[-1], "audit_seq": entry["seq"], "audit_hash": entry["hash"]}
        atomic_write_json(folder / CARD_FILE, card)
