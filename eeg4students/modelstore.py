"""Trained models inside the dataset, saved with skops, each with a model card.

Layout::

    derivatives/eeg4students/models/NAME/model.skops   the fitted estimator
    derivatives/eeg4students/models/NAME/card.json     what it was trained on

The card lists the exact participants, sessions and recordings (with the
SHA-256 of each of their files) the model saw, the preprocessing and
feature settings, channels and sampling rate, the classes, and the toolkit
and scikit-learn versions. Forgetting a participant (``unlearning``) relies
on it to find every model that saw them. Files are written atomically.

Model files are untrusted input: :mod:`eeg4students.modelfile` reads one
only if every object in it is of a type the toolkit's own models contain,
and a card is checked field by field before it is used.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from eeg4students import __version__
from eeg4students._files import (
    atomic_path,
    atomic_write_json,
    sha256,
)
from eeg4students.adaptation import adapt_table
from eeg4students.errors import ModelError
from eeg4students.features import FeatureParams
from eeg4students.featureset import DERIVATIVE
from eeg4students.modelcard import card_features, card_preprocess, read_card
from eeg4students.modelfile import (
    check_model_file,
    load_model_file,
    read_model_bytes,
    save_model_file,
)
from eeg4students.models.certified import certificate_card
from eeg4students.preprocess import PreprocessParams
from eeg4students.store import Dataset, read_meta

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"


@dataclass
class SavedModel:
    """A fitted model with its card.

    Attributes
    ----------
    estimator : sklearn estimator
        The fitted model.
    card : dict
        The model card (see the module docstring).
    path : Path
        Folder holding ``model.skops`` and ``card.json``.
    """

    estimator: object
    card: dict
    path: Path

    @property
    def preprocess(self) -> PreprocessParams:
        """Preprocessing settings the model was trained with."""
        return card_preprocess(self.card, self.path / CARD_FILE)

    @property
    def features(self) -> FeatureParams:
        """Feature settings the model was trained with."""
        return card_features(self.card, self.path / CARD_FILE)

    @property
    def adapt(self) -> str | None:
        """The session adaptation its features had (:mod:`eeg4students.adaptation`), or None."""
        return self.card.get("adapt")


def models_dir(dataset: Dataset) -> Path:
    """The folder of a dataset's saved models."""
    return dataset.root / DERIVATIVE / "models"


def save_model(estimator, card: dict, folder: Path) -> SavedModel:
    """Write ``model.skops`` and ``card.json`` into ``folder`` (atomically, model first)."""
    with atomic_path(folder / MODEL_FILE) as tmp:
        save_model_file(estimator, tmp)
    atomic_write_json(folder / CARD_FILE, card)
    return SavedModel(estimator, card, folder)


def load_model(path: str | Path) -> SavedModel:
    """Load a saved model from its folder (or its ``model.skops`` file).

    Parameters
    ----------
    path : str | Path
        The model folder, e.g. ``DATASET/derivatives/eeg4students/models/NAME``.

    Returns
    -------
    model : SavedModel

    Raises
    ------
    ModelError
        If the folder lacks the model or its card, the card is damaged, or
        the model file holds anything a toolkit model never holds (it is then
        refused unread: see :mod:`eeg4students.modelfile`).
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".skops" else path
    model_file, card_file = folder / MODEL_FILE, folder / CARD_FILE
    if not model_file.is_file() or not card_file.is_file():
        raise ModelError(
            f"{folder} is not a saved model (it needs {MODEL_FILE} and {CARD_FILE}); "
            "give the folder that `eeg4students train` wrote."
        )
    # Refused unread if it holds a foreign type; every object checked once rebuilt.
    data = read_model_bytes(model_file)
    trusted = check_model_file(model_file, data)
    card = read_card(card_file)
    estimator = load_model_file(
        model_file, n_features=len(card["feature_columns"]), data=data, trusted=trusted
    )
    classes = [str(c) for c in getattr(estimator, "classes_", [])]
    if classes != card["classes"]:
        raise ModelError(
            f"{card_file} lists classes {card['classes']} but the model predicts {classes}; "
            "the card and the model do not belong together."
        )
    return SavedModel(estimator, card, folder)


def adapt_for(card: dict, table: pd.DataFrame, feature_columns: list[str]) -> pd.DataFrame:
    """A feature table adapted as the card's model was trained (unchanged when it was not).

    Adaptation works within each participant's session (or participant), so
    any subset of whole sessions is adapted as it was in training.

    Parameters
    ----------
    card : dict
        The model card (its ``adapt``).
    table : pandas.DataFrame
        Feature table with ``participant`` and ``session``.
    feature_columns : list of str
        The model's columns.

    Returns
    -------
    table : pandas.DataFrame
    """
    if not card.get("adapt") or not len(table):
        return table
    return adapt_table(table, feature_columns, card["adapt"])[0]


def find_model(dataset: Dataset, name: str) -> Path:
    """Return the folder of the model called ``name`` in a dataset."""
    folder = models_dir(dataset) / name
    if not folder.is_dir():
        known = sorted(p.name for p in models_dir(dataset).glob("*") if p.is_dir())
        raise ModelError(
            f"{dataset.root} has no model {name!r}; it has: {', '.join(known) or 'none'}."
        )
    return folder


def list_models(dataset: Dataset) -> list[SavedModel]:
    """Every model saved in a dataset (cards only are read; ``estimator`` is None)."""
    return [
        SavedModel(None, read_card(card_file), card_file.parent)
        for card_file in sorted(models_dir(dataset).glob(f"*/{CARD_FILE}"))
    ]


def _trained_on(dataset: Dataset, table: pd.DataFrame) -> dict:
    used = set(table["recording"])
    blocks = table.groupby("recording")["block"].unique()
    recordings = []
    for ref in dataset.references():
        rec_id = ref.path.name[: -len("_eeg.vhdr")]
        if rec_id not in used:
            continue
        entry = {
            "participant": ref.participant,
            "session": ref.session,
            "task": ref.task,
            "run": ref.run,
            "recording": rec_id,
            "files": {f.name: sha256(f) for f in Dataset.files_of(ref)},
            "blocks": sorted(str(b) for b in blocks[rec_id]),
        }
        source = read_meta(ref.path).get("source_sha256")
        if isinstance(source, str):  # the imported file, so predict can recognise it
            entry["source_sha256"] = source
        recordings.append(entry)
    sessions = sorted({(r["participant"], r["session"]) for r in recordings})
    return {
        "participants": sorted({r["participant"] for r in recordings}),
        "sessions": [list(s) for s in sessions],
        "recordings": recordings,
        "n_windows": len(table),
        "windows_per_participant": table["participant"].value_counts().sort_index().to_dict(),
    }


def make_card(
    dataset: Dataset,
    name: str,
    model: str,
    estimator,
    table: pd.DataFrame,
    feature_columns: list[str],
    pre: PreprocessParams,
    feat: FeatureParams,
    *,
    model_params: dict | None = None,
    unlearnable: dict | None = None,
    adapt: str | None = None,
) -> dict:
    """The model card of a model fitted on ``table`` (see the module docstring)."""
    # Channels and rate come from a recording the model was trained on.
    used = set(table["recording"])
    first = next(r for r in dataset.references() if r.path.name[: -len("_eeg.vhdr")] in used)
    raw = dataset.load(first.participant, first.session, first.task, first.run, preload=False)
    return {
        "name": name,
        "model": model,
        "model_params": model_params or {},
        "unlearnable": unlearnable,
        "adapt": adapt,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "toolkit_version": __version__,
        "sklearn_version": sklearn.__version__,
        "classes": [str(c) for c in estimator.classes_],
        "feature_columns": list(feature_columns),
        "channels": list(pre.channels) if pre.channels else _eeg_channels(raw),
        "sfreq": float(raw.info["sfreq"]),
        "preprocess": pre.as_dict(),
        "features": feat.as_dict(),
        "trained_on": _trained_on(dataset, table),
        "certificate": certificate_card(estimator),
        "tmv_ranking": getattr(estimator, "ranking_", None),
        "tmv_scores": getattr(estimator, "scores_", None),
        "exports": [],
    }


def _eeg_channels(raw) -> list[str]:
    import mne

    return [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True, exclude=[])]


def export_model(saved: SavedModel, out: str | Path) -> Path:
    """Copy a saved model to ``out`` (a folder) and record the export on its card."""
    out = Path(out)
    save_model(saved.estimator, {**saved.card, "exported_from": str(saved.path)}, out)
    card = dict(saved.card)
    card["exports"] = sorted({*card.get("exports", []), str(out.resolve())})
    atomic_write_json(saved.path / CARD_FILE, card)
    saved.card = card
    return out


def check_compatible(saved: SavedModel, raw) -> None:
    """Raise if a recording's channels or sampling rate differ from the model card's."""
    channels, sfreq = saved.card["channels"], saved.card["sfreq"]
    have = _eeg_channels(raw)
    missing = [ch for ch in channels if ch not in have]
    if missing:
        raise ModelError(
            f"The recording lacks channel(s) {', '.join(missing)} that model "
            f"{saved.card['name']!r} was trained on (it has {', '.join(have)}); use a "
            "recording from the same headset layout or train a model on these channels."
        )
    if not np.isclose(raw.info["sfreq"], sfreq):
        raise ModelError(
            f"The recording is sampled at {raw.info['sfreq']:g} Hz but model "
            f"{saved.card['name']!r} expects {sfreq:g} Hz; resample it or train a model "
            "on recordings at this rate."
        )
