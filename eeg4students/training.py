"""Training: models fitted on a dataset's features, and refitted exactly from their cards.

:func:`train_model` computes the features (under the dataset's lock), fits
the model and saves it with its card (:mod:`eeg4students.modelstore`);
:func:`card_training_table` recomputes exactly the windows a card lists, so
that forgetting a participant refits the model on what it saw minus them.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pandas as pd

from eeg4students._files import checkpoint, sha256
from eeg4students.adaptation import ADAPTATIONS
from eeg4students.errors import ModelError
from eeg4students.features import FeatureParams
from eeg4students.featureset import cache_paths, compute_features
from eeg4students.modelcard import card_features, card_preprocess
from eeg4students.modelcheck import applying
from eeg4students.models import fit_model, make_model, model_columns
from eeg4students.modelstore import SavedModel, adapt_for, make_card, models_dir, save_model
from eeg4students.names import COVARIANCE_MODELS
from eeg4students.preprocess import PreprocessParams
from eeg4students.store import Dataset, check_label, undone_on_failure

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
        Train on features adapted per session (``"session"``, the default of
        certified models) or
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
    if adapt is None and (unlearnable or {}).get("kind") == "certified":
        # Certified models scale rows by a fixed radius: per-session standardisation (of
        # each session's own windows) puts features on the scale it assumes.
        adapt = "session"
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
