"""One model's update without a participant, computed in memory (nothing is written).

:func:`compute_update` refits or unlearns a saved model on the windows its
card lists minus the participant's, with the chosen strategy, builds its new
card and, when asked, measures it (:func:`measure`): against the gold model
refitted without them with the same seeds (exact strategies compared by
digest), and the participant-level privacy check with shadow models
unlearned the same way (U-LiRA). :mod:`eeg4students.unlearning.forget` saves
the updates once every one of them is computed.
"""

from __future__ import annotations

import contextlib
import copy
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from eeg4students.errors import DatasetError, EEG4StudentsError, ModelError, first_line
from eeg4students.featureset import DERIVATIVE, compute_features, settings_key
from eeg4students.modelcheck import MODEL_CODE_ERRORS
from eeg4students.models import model_columns
from eeg4students.modelstore import SavedModel, adapt_for, make_card, save_model
from eeg4students.store import Dataset
from eeg4students.training import build_estimator, card_training_table, fit_estimator
from eeg4students.unlearning.conmu import ConMUSettings
from eeg4students.unlearning.digest import state_digest
from eeg4students.unlearning.metrics import forgetting_report, public_report
from eeg4students.unlearning.privacy import N_SHADOWS, fit_shadows, split_strangers
from eeg4students.unlearning.strategies import unlearner


def _cached_features(base: Path, participant: str, key: str) -> pd.DataFrame:
    """The participant's cached windows under ``base`` (the dataset, or its staging folder)."""
    folder = base / DERIVATIVE / "features" / key / f"sub-{participant}"
    files = sorted(folder.glob("*_features.parquet"))
    if not files:
        raise DatasetError(
            f"The cached features of the forgotten participant are missing from {folder}; "
            "the forget step cannot finish (restore the dataset from a backup)."
        )
    return pd.concat([pd.read_parquet(f) for f in files], ignore_index=True)


def _card_rows(table: pd.DataFrame, card: dict, participant: str) -> pd.DataFrame:
    """The participant's windows the model was trained on (by recording and block)."""
    listed = [
        (r["recording"], b)
        for r in card["trained_on"]["recordings"]
        if r["participant"] == participant
        for b in r.get("blocks", [])
    ]
    pairs = pd.MultiIndex.from_arrays([table["recording"], table["block"]])
    return table[pairs.isin(listed)] if listed else table


def _strangers(dataset: Dataset, card: dict, participant: str, pre, feat) -> pd.DataFrame:
    """Windows of participants the model never saw (empty if there are none)."""
    trained = set(card["trained_on"]["participants"])
    people = [p for p in dataset.participants() if p not in trained and p != participant]
    if not people:
        return pd.DataFrame()
    return compute_features(dataset, pre, feat, participants=people, progress=False).table


@dataclass
class Update:
    """A model's update computed in memory: what to save and what to record."""

    entry: dict
    estimator: object
    card: dict
    path: Path
    report: dict | None = None

    def save(self) -> None:
        save_model(self.estimator, self.card, self.path)


@dataclass(frozen=True)
class UpdateSettings:
    """How every model of one forgetting is updated.

    Attributes
    ----------
    strategy : str
        ``retrain``, ``sharded`` or ``conmu`` (a model not trained in the
        sharded form is retrained; ``refresh`` retrains every model).
    conmu : ConMUSettings | None
        ConMU's knobs.
    evaluate : bool
        Measure each update (:func:`measure`).
    refresh : bool
        Retrain on the dataset as it is now instead of the card's windows.
    n_shadows : int
        Shadow models of the privacy check.
    """

    strategy: str
    conmu: ConMUSettings | None = None
    evaluate: bool = False
    refresh: bool = False
    n_shadows: int = N_SHADOWS


def compute_update(
    dataset: Dataset,
    saved: SavedModel,
    participant: str,
    settings: UpdateSettings,
    features_from: Path,
) -> Update:
    """Update one model without the participant, in memory (nothing is written).

    ``features_from`` is where the participant's cached windows are read: the
    dataset itself before anything is moved, its staging folder when an
    interrupted forgetting is finished.
    """
    with _updating(saved.card["name"], participant):
        return _compute(dataset, saved, participant, settings, features_from)


@contextlib.contextmanager
def _updating(name: str, participant: str) -> Iterator[None]:
    """A failure of the model's own code while it is updated, as one sentence."""
    try:
        yield
    except EEG4StudentsError:
        raise
    except MODEL_CODE_ERRORS as exc:
        raise ModelError(
            f"Model {name!r} could not be updated without {participant} ({first_line(exc)}); "
            "check the forgetting's settings."
        ) from exc


def _compute(dataset, saved, participant, settings: UpdateSettings, features_from) -> Update:
    card = saved.card
    strategy, conmu, refresh = settings.strategy, settings.conmu, settings.refresh
    pre, feat = saved.preprocess, saved.features
    key, _ = settings_key(pre, feat)
    if refresh:
        people = [p for p in card["trained_on"]["participants"] if p != participant]
        people = [p for p in people if p in dataset.participants()]
        features = compute_features(dataset, pre, feat, participants=people, progress=False)
        remain, columns = features.table, model_columns(card["model"], features.feature_columns)
        strategy = "retrain"
    else:
        remain, columns = card_training_table(dataset, card, without=participant)
    forget = _card_rows(_cached_features(features_from, participant, key), card, participant)
    strangers = _strangers(dataset, card, participant, pre, feat)
    # A model trained on adapted features meets every table adapted the same way.
    remain, forget, strangers = (adapt_for(card, t, columns) for t in (remain, forget, strangers))
    calibrators, evaluation = split_strangers(
        sorted(strangers["participant"].unique()) if len(strangers) else []
    )

    def template():
        return build_estimator(
            card["model"],
            card.get("model_params"),
            card.get("unlearnable"),
            feature_columns=columns,
        )

    calibration = strangers[strangers["participant"].isin(calibrators)] if calibrators else None
    original = copy.deepcopy(saved.estimator) if settings.evaluate else None
    strategy_of = unlearner(
        strategy, template, participant, columns, calibration=calibration, conmu=conmu
    )
    outcome = strategy_of.outcome(saved.estimator, remain, forget)
    entry = {
        "name": card["name"],
        "strategy": outcome.strategy,
        "exact": outcome.exact,
        "note": outcome.note,
        "refresh": refresh,
        "seconds": round(outcome.seconds, 4),
        "times": {k: round(v, 4) for k, v in outcome.times.items()},
        # ConMU's stopping rule: whether P stood out, without P's own score.
        "calibration": public_report(outcome.info.get("calibration")),
    }
    if "certificate" in outcome.info:
        # The budget accounting the guarantee rests on (epsilon, delta, bound used, left).
        entry["certificate"] = outcome.info["certificate"]
    report = None
    if settings.evaluate:
        test = strangers[strangers["participant"].isin(evaluation)] if evaluation else strangers
        report = measure(
            outcome,
            original,
            template,
            remain,
            forget,
            test,
            calibration,
            columns,
            settings.n_shadows,
            conmu,
        )
        entry["metrics"] = public_report(report)
    entry["digest"] = report["model"]["digest"] if report else state_digest(outcome.estimator)
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
        adapt=card.get("adapt"),
    )
    new_card["created"] = card["created"]
    new_card["exports"] = card.get("exports", [])
    new_card["unlearning"] = [
        *card.get("unlearning", []),
        {
            "strategy": outcome.strategy,
            "exact": outcome.exact,
            "refresh": refresh,
            "forgotten_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        },
    ]
    return Update(entry, outcome.estimator, new_card, saved.path, report)


def measure(
    outcome, original, template, remain, forget, test, calibration, columns, n_shadows, conmu
) -> dict:
    """The original, updated and gold models measured (the report keeps P's figures).

    The gold model is refitted from the card's rows without P with the same
    seeds, for every strategy: an exact strategy's update is then compared
    with it by digest. An approximate one is tested against shadow models
    unlearned by the same strategy and settings (U-LiRA).
    """
    start = time.perf_counter()
    gold = fit_estimator(template(), remain, columns)
    retrain_seconds = time.perf_counter() - start
    participant = str(forget["participant"].iloc[0])
    shadows = None
    if not outcome.exact:
        members = sorted({*remain["participant"].unique(), participant})
        evaluation = sorted(test["participant"].unique()) if len(test) else []
        shadows = fit_shadows(
            pd.concat([remain, forget, test], ignore_index=True),
            columns,
            participant,
            members + evaluation,
            len(members),
            template,
            n_shadows=n_shadows,
            unlearn=unlearner(
                outcome.strategy,
                template,
                participant,
                columns,
                calibration=calibration,
                conmu=conmu,
            ),
            strategy=outcome.strategy,
        )
    report = forgetting_report(
        {"original": original, "model": outcome.estimator, "gold": gold},
        forget=forget,
        remain=remain,
        test=test,
        columns=columns,
        shadows=shadows,
        exact=outcome.exact,
    )
    if outcome.exact and not report["identical"]:
        report["notes"].append(
            "the updated model differs from a retrain without P with the same seeds: the "
            "strategy did not run exactly (report this as a bug)"
        )
    return {
        "retrain_seconds": round(retrain_seconds, 4),
        "speedup": round(retrain_seconds / max(outcome.seconds, 1e-9), 2),
        **report,
    }
