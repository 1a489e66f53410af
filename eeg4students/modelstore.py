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

from dataclasses import dataclass, replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pandas as pd
import sklearn

from eeg4students import __version__
from eeg4students._files import (
    atomic_path,
    atomic_write_json,
    checkpoint,
    sha256,
    undone_on_failure,
)
from eeg4students.adaptation import ADAPTATIONS, adapt_table
from eeg4students.errors import ModelError
from eeg4students.features import FeatureParams
from eeg4students.featureset import DERIVATIVE, cache_paths, compute_features
from eeg4students.modelcard import card_features, card_preprocess, read_card
from eeg4students.modelcheck import applying
from eeg4students.modelfile import (
    check_model_file,
    load_model_file,
    read_model_bytes,
    save_model_file,
)
from eeg4students.models import (
    fit_model,
    make_model,
    model_columns,
)
from eeg4students.names import COVARIANCE_MODELS
from eeg4students.preprocess import PreprocessParams
from eeg4students.store import Dataset, check_label, read_meta

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


def card_training_table(
    dataset: Dataset, card: dict, *, without: str | None = None, progress: bool = False
) -> tuple[pd.DataFrame, list[str]]:
    """The exact windows a model was trained on, from its card, optionally without a participant.

    The card's recordings must still be in the dataset with the same file
    content (SHA-256); their features are computed with the card's settings
    and only the task blocks the model was trained on are kept, so data added
    to the dataset after training never enters.

    Parameters
    ----------
    dataset : Dataset
        The dataset the model was trained in.
    card : dict
        The model card.
    without : str | None
        A participant to leave out (the one being forgotten).
    progress : bool
        Show a progress bar while features are computed.

    Returns
    -------
    table : pandas.DataFrame
        The training windows (rows in :data:`TRAIN_ORDER`).
    feature_columns : list of str

    Raises
    ------
    ModelError
        If a recording of the card is gone or changed, or the windows no
        longer match the card's counts (exact retraining is then impossible).
    """
    files_now = {}
    for ref in dataset.references():
        files_now[ref.path.name[: -len("_eeg.vhdr")]] = ref
    wanted = [r for r in card["trained_on"]["recordings"] if r["participant"] != without]
    changed = []
    for rec in wanted:
        ref = files_now.get(rec["recording"])
        if ref is None:
            changed.append(f"{rec['recording']} (gone)")
            continue
        digests = {f.name: sha256(f) for f in Dataset.files_of(ref)}
        if digests != rec["files"]:
            changed.append(f"{rec['recording']} (changed)")
    if changed:
        raise ModelError(
            f"Model {card['name']!r} cannot be retrained exactly: recordings it was trained on "
            f"are gone or changed since ({', '.join(changed[:3])}); restore them, or refresh the "
            "model on the dataset as it is now (forget --refresh, or train --overwrite)."
        )
    people = sorted({r["participant"] for r in wanted})
    if not people:
        raise ModelError(f"Model {card['name']!r} has no training data left without {without}.")
    pre = replace(card_preprocess(card, Path(card["name"])), min_kept=0.0)
    features = compute_features(
        dataset,
        pre,
        card_features(card, Path(card["name"])),
        participants=people,
        progress=progress,
    )
    table = features.table
    # Cards written before blocks were recorded: every block of their recordings.
    whole = [r["recording"] for r in wanted if "blocks" not in r]
    pairs = pd.MultiIndex.from_arrays([table["recording"], table["block"]])
    listed = [(r["recording"], b) for r in wanted for b in r.get("blocks", [])]
    rows = table[pairs.isin(listed) | table["recording"].isin(whole)]
    counts = card["trained_on"]["windows_per_participant"]
    expected = {p: n for p, n in counts.items() if p != without}
    got = rows["participant"].value_counts().to_dict()
    if got != expected:
        raise ModelError(
            f"Model {card['name']!r}: the windows recomputed from its card ({sum(got.values())}) "
            f"differ from those it was trained on ({sum(expected.values())}); the feature "
            "settings or the toolkit changed since. Refresh the model instead."
        )
    columns = [str(c) for c in card["feature_columns"]]
    if not set(columns) <= set(features.feature_columns):
        raise ModelError(
            f"Model {card['name']!r}: its feature columns are not among those its settings "
            "give now; refresh the model instead."
        )
    return rows.sort_values(TRAIN_ORDER).reset_index(drop=True), columns


#: Row order of training tables: sharded models refit parts in this order.
TRAIN_ORDER = ["participant", "session", "recording", "block", "start"]


def build_estimator(
    model: str,
    model_params: dict | None = None,
    unlearnable: dict | None = None,
    *,
    feature_columns: list[str] | None = None,
):
    """An unfitted model by name, optionally in its unlearnable (sharded) form.

    Parameters
    ----------
    model : str
        Model name (see :data:`eeg4students.models.MODEL_NAMES`).
    model_params : dict | None
        Settings of the model.
    unlearnable : dict | None
        ``{"kind": "sharded", "q": Q, "shards": S}``: Random Forest as a
        :class:`~eeg4students.models.ShardedForest` whose trees
        each see a fraction ``q`` of the participants, other models as a SISA
        ensemble of ``S`` participant-disjoint shards, TMV over both.
    feature_columns : list of str | None
        Names of the columns the model is given (:func:`model_columns`);
        ``tmvts`` routes them to its bases.

    Returns
    -------
    estimator
    """
    params = dict(model_params or {})
    if feature_columns is not None and model.strip().lower() == "tmvts":
        params["feature_columns"] = list(feature_columns)
    return make_model(model, unlearnable=unlearnable or None, **params)


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
    adapt: str | None = None,
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
    adapt : str | None
        Train on features adapted per session (``"session"``) or
        participant (``"participant"``), labels unused
        (:mod:`eeg4students.adaptation`); ``predict`` then adapts a
        recording from its own windows and ``live`` from the session's
        windows so far. None: as the features are.
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
    if adapt is not None and adapt not in ADAPTATIONS:
        raise ModelError(f"Unknown adaptation {adapt!r}: use one of {', '.join(ADAPTATIONS)}.")
    pre, feat = pre or PreprocessParams(), feat or FeatureParams()
    if model.strip().lower() in COVARIANCE_MODELS and not feat.covariance:
        feat = replace(feat, covariance=True)  # what these models classify
    # Built once with stand-in column names, so that an unknown model or setting is
    # refused before the features are computed.
    build_estimator(model, model_params, unlearnable, feature_columns=["band", "cov_a_a"])
    # Under the dataset's lock from reading the features to saving the card: a
    # forgetting cannot run in between and leave its participant in this model.
    # A refusal on the way (a setting the model's code cannot take, too few tasks) leaves
    # the dataset as it was, the feature caches computed for it included.
    with dataset.lock(), undone_on_failure(dataset.root, *cache_paths(dataset.root)):
        features = compute_features(
            dataset, pre, feat, participants=participants, progress=progress
        )
        checkpoint("train")
        columns = model_columns(model, features.feature_columns)
        table = adapt_for({"adapt": adapt}, features.table, columns)
        estimator = build_estimator(model, model_params, unlearnable, feature_columns=columns)
        with applying(model, "trained"):
            estimator = fit_estimator(estimator, table, columns)
        card = make_card(
            dataset,
            name,
            model,
            estimator,
            table,
            columns,
            features.preprocess or pre,
            feat,
            model_params=model_params,
            unlearnable=unlearnable,
            adapt=adapt,
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
