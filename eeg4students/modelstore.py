"""Trained models inside the dataset, saved with skops, each with a model card.

Layout::

    derivatives/eeg4students/models/NAME/model.skops   the fitted estimator
    derivatives/eeg4students/models/NAME/card.json     what it was trained on

The card lists the exact participants, sessions and recordings (with the
SHA-256 of each of their files) the model saw, the preprocessing and
feature settings, channels and sampling rate, the classes, and the toolkit
and scikit-learn versions. Forgetting a participant (``unlearning``) relies
on it to find every model that saw them. Files are written atomically.

Models are loaded with skops, which refuses to run code from a file:
only types from this toolkit, scikit-learn and NumPy are accepted.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn
import skops.io as sio

from eeg4students import __version__
from eeg4students._files import atomic_write_json, sha256
from eeg4students.errors import EEG4StudentsError
from eeg4students.features import FeatureParams
from eeg4students.featureset import DERIVATIVE, compute_features
from eeg4students.models import fit_model, make_model
from eeg4students.preprocess import PreprocessParams
from eeg4students.store import Dataset, check_label

MODEL_FILE = "model.skops"
CARD_FILE = "card.json"
_TRUSTED_PREFIXES = ("eeg4students.", "sklearn.", "numpy.", "builtins.", "scipy.")


class ModelError(EEG4StudentsError, ValueError):
    """A model that cannot be saved, found, loaded or applied."""


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
        values = dict(self.card["preprocess"])
        if values.get("channels") is not None:
            values["channels"] = tuple(values["channels"])
        return PreprocessParams(**values)

    @property
    def features(self) -> FeatureParams:
        """Feature settings the model was trained with."""
        values = self.card["features"]
        return FeatureParams(
            bands=tuple(tuple(b) for b in values["bands"]),
            relative=values["relative"],
            ratios=tuple(tuple(r) for r in values["ratios"]),
            segment=values["segment"],
        )


def models_dir(dataset: Dataset) -> Path:
    """The folder of a dataset's saved models."""
    return dataset.root / DERIVATIVE / "models"


def _dump_atomic(estimator, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        sio.dump(estimator, tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_model(estimator, card: dict, folder: Path) -> SavedModel:
    """Write ``model.skops`` and ``card.json`` into ``folder`` (atomically, model first)."""
    _dump_atomic(estimator, folder / MODEL_FILE)
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
        If the folder lacks the model or its card, or the file holds types
        outside this toolkit, scikit-learn and NumPy.
    """
    path = Path(path)
    folder = path.parent if path.suffix == ".skops" else path
    model_file, card_file = folder / MODEL_FILE, folder / CARD_FILE
    if not model_file.is_file() or not card_file.is_file():
        raise ModelError(
            f"{folder} is not a saved model (it needs {MODEL_FILE} and {CARD_FILE}); "
            "give the folder that `eeg4students train` wrote."
        )
    try:
        untrusted = sio.get_untrusted_types(file=model_file)
        foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
        if foreign:
            raise ModelError(
                f"{model_file} holds types this toolkit does not trust ({', '.join(foreign)}); "
                "only load models made by eeg4students."
            )
        estimator = sio.load(model_file, trusted=untrusted)
    except ModelError:
        raise
    except Exception as exc:
        raise ModelError(f"{model_file} cannot be read as a skops model: {exc}") from exc
    card = json.loads(card_file.read_text(encoding="utf-8"))
    return SavedModel(estimator, card, folder)


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
    out = []
    for card_file in sorted(models_dir(dataset).glob(f"*/{CARD_FILE}")):
        card = json.loads(card_file.read_text(encoding="utf-8"))
        out.append(SavedModel(None, card, card_file.parent))
    return out


def _trained_on(dataset: Dataset, table: pd.DataFrame) -> dict:
    used = set(table["recording"])
    recordings = []
    for ref in dataset.references():
        rec_id = ref.path.name[: -len("_eeg.vhdr")]
        if rec_id not in used:
            continue
        recordings.append(
            {
                "participant": ref.participant,
                "session": ref.session,
                "task": ref.task,
                "run": ref.run,
                "recording": rec_id,
                "files": {f.name: sha256(f) for f in Dataset.files_of(ref)},
            }
        )
    sessions = sorted({(r["participant"], r["session"]) for r in recordings})
    return {
        "participants": sorted({r["participant"] for r in recordings}),
        "sessions": [list(s) for s in sessions],
        "recordings": recordings,
        "n_windows": len(table),
        "windows_per_participant": table["participant"].value_counts().sort_index().to_dict(),
    }


#: Row order of training tables: sharded models refit parts in this order.
TRAIN_ORDER = ["participant", "session", "recording", "block", "start"]
UNLEARNABLE = ("sharded",)


def build_estimator(model: str, model_params: dict | None = None, unlearnable: dict | None = None):
    """An unfitted model by name, optionally in its unlearnable (sharded) form.

    Parameters
    ----------
    model : str
        Model name (see :data:`eeg4students.models.MODEL_NAMES`).
    model_params : dict | None
        Settings of the model.
    unlearnable : dict | None
        ``{"kind": "sharded", "q": Q, "shards": S}``: Random Forest as a
        :class:`~eeg4students.unlearning.sharded.ShardedForest` whose trees
        each see a fraction ``q`` of the participants, other models as a SISA
        ensemble of ``S`` participant-disjoint shards, TMV over both.

    Returns
    -------
    estimator
    """
    params = dict(model_params or {})
    if not unlearnable:
        return make_model(model, **params)
    from eeg4students.unlearning.sharded import ShardedForest, SISAEnsemble, UnlearnableTMV

    if unlearnable.get("kind") not in UNLEARNABLE:
        raise ModelError(f"Unknown unlearnable form {unlearnable.get('kind')!r}; use 'sharded'.")
    q, shards = float(unlearnable.get("q", 0.25)), int(unlearnable.get("shards", 4))
    if not 0 < q <= 1 or shards < 1:
        raise ModelError(
            f"Sharded models need 0 < q <= 1 and at least one shard, not {q}, {shards}."
        )
    forest_params = (
        {"n_estimators": 300, "max_features": "sqrt", **params} if model == "rf" else {}
    )

    def forest():
        return ShardedForest(q=q, **forest_params)

    if model == "rf":
        return forest()
    if model == "tmv":
        return UnlearnableTMV([("rf", forest()), ("svm", SISAEnsemble(make_model("svm"), shards))])
    return SISAEnsemble(make_model(model, **params), shards)


def fit_estimator(estimator, table: pd.DataFrame, feature_columns: list[str]):
    """Fit a model on a feature table (rows in :data:`TRAIN_ORDER`)."""
    table = table.sort_values(TRAIN_ORDER)
    if table["task"].nunique() < 2:
        raise ModelError(
            f"The training data has {table['task'].nunique()} task(s); a classifier needs two "
            "or more (check the excluded blocks in the quality table)."
        )
    return fit_model(
        estimator,
        table[feature_columns].to_numpy(dtype=float),
        table["task"].to_numpy(),
        table["block"].to_numpy(),
        table["participant"].to_numpy(),
    )


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
        "tmv_ranking": getattr(estimator, "ranking_", None),
        "tmv_scores": getattr(estimator, "scores_", None),
        "exports": [],
    }


def train_model(
    dataset: Dataset | str | Path,
    model: str,
    name: str,
    *,
    pre: PreprocessParams | None = None,
    feat: FeatureParams | None = None,
    participants: list[str] | None = None,
    model_params: dict | None = None,
    unlearnable: dict | None = None,
    overwrite: bool = False,
    progress: bool = True,
) -> SavedModel:
    """Train a model on a dataset's features and save it inside the dataset.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset.
    model : str
        Model name (see :data:`eeg4students.models.MODEL_NAMES`).
    name : str
        Name of the saved model (letters and digits).
    pre, feat : PreprocessParams, FeatureParams | None
        Feature settings (defaults if None).
    participants : list of str | None
        Train on these participants only; None for all.
    model_params : dict | None
        Settings of the model, e.g. ``{"n_estimators": 100}``.
    unlearnable : dict | None
        Train the sharded form (see :func:`build_estimator`).
    overwrite : bool
        Replace a saved model of the same name.
    progress : bool
        Show progress bars.

    Returns
    -------
    model : SavedModel
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    check_label("model", name)
    folder = models_dir(dataset) / name
    if folder.exists() and not overwrite:
        raise ModelError(
            f"{dataset.root} already has a model {name!r}; choose another --name or --overwrite."
        )
    pre, feat = pre or PreprocessParams(), feat or FeatureParams()
    estimator = build_estimator(model, model_params, unlearnable)
    features = compute_features(dataset, pre, feat, participants=participants, progress=progress)
    estimator = fit_estimator(estimator, features.table, features.feature_columns)
    card = make_card(
        dataset,
        name,
        model,
        estimator,
        features.table,
        features.feature_columns,
        pre,
        feat,
        model_params=model_params,
        unlearnable=unlearnable,
    )
    return save_model(estimator, card, folder)


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
