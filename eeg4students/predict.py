"""Applying a saved model to a recording, block by block."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import mne
import numpy as np
import pandas as pd

from eeg4students._files import sha256
from eeg4students.errors import ModelError
from eeg4students.events import TASK_PREFIX, task_description
from eeg4students.features import blocks_to_frames
from eeg4students.modelcheck import applying
from eeg4students.models import TimeMajorityVoting, vote
from eeg4students.modelstore import SavedModel, adapt_for, check_compatible
from eeg4students.preprocess import iter_blocks

UNLABELLED = "unlabelled"


def predict_recording(saved: SavedModel, raw: mne.io.BaseRaw) -> pd.DataFrame:
    """Predict the task of every block of a recording.

    Parameters
    ----------
    saved : SavedModel
        A model from :func:`eeg4students.modelstore.load_model`.
    raw : mne.io.BaseRaw
        The recording. Its ``task/<Name>`` annotations give the blocks (and
        the true task, shown beside the prediction); a recording without them
        is one block labelled ``unlabelled``.

    Returns
    -------
    blocks : pandas.DataFrame
        One row per block: ``block`` (1-based), ``onset`` and ``duration``
        (s), ``task`` (annotated), ``windows`` (kept), ``predicted`` (the
        block's label: TMV's block vote for TMV models, else the majority of
        window labels) and ``agreement`` (share of kept windows whose own
        label is ``predicted``).

    Raises
    ------
    ModelError
        If the recording's channels or sampling rate do not match the model.

    Notes
    -----
    A model trained with session adaptation (``train --adapt``) meets the
    recording adapted from its own windows (one session), labels unused.
    """
    check_compatible(saved, raw)
    if not any(d.startswith(TASK_PREFIX) for d in raw.annotations.description):
        raw = raw.copy()
        raw.annotations.append(raw.first_time, raw.times[-1], task_description(UNLABELLED))
    pre = replace(saved.preprocess, channels=tuple(saved.card["channels"]))
    window = round(pre.window * raw.info["sfreq"])
    meta = {"participant": "", "session": "", "run": 1}
    frame, counts = blocks_to_frames(iter_blocks(raw, pre), saved.features, meta, "rec", window)
    columns = saved.card["feature_columns"]
    if not set(columns) <= set(frame.columns):
        raise ModelError("The recording's features do not match the model's feature columns.")
    # A recording is one session: an adapted model meets it adapted from its own windows.
    frame = adapt_for(saved.card, frame, columns)
    X = frame[columns].to_numpy(dtype=float)
    model = saved.estimator
    blocks = frame["block"].to_numpy()
    with applying(saved.card["name"]):
        if len(X) == 0:
            window_labels = block_labels = np.array([], dtype=object)
        elif isinstance(model, TimeMajorityVoting):
            top, second = model.predict_bases(X)
            window_labels = vote(top, second, mode="causal", blocks=blocks, k=model.k)
            block_labels = vote(top, second, mode="block", blocks=blocks)
        else:
            window_labels = block_labels = model.predict(X)
    rows = []
    for i, block in enumerate(counts.itertuples()):
        mine = blocks == block.block
        labels, votes = window_labels[mine], block_labels[mine]
        if len(votes):
            values, number = np.unique(votes, return_counts=True)
            predicted = values[np.argmax(number)]
            agreement = float(np.mean(labels == predicted))
        else:
            predicted, agreement = "(no usable window)", float("nan")
        rows.append(
            {
                "block": i + 1,
                "onset": round(block.onset, 2),
                "duration": round(block.duration, 2),
                "task": block.task,
                "windows": int(mine.sum()),
                "predicted": predicted,
                "agreement": agreement,
            }
        )
    return pd.DataFrame(rows)


def seen_in_training(saved: SavedModel, path: str | Path) -> dict | None:
    """The card's entry of a recording file the model was trained on (by SHA-256), or None.

    A file matches when its digest is one of a training recording's stored
    files (``*_eeg.vhdr``, ``*_eeg.eeg``...) or the file it was imported from.

    Parameters
    ----------
    saved : SavedModel
        The model.
    path : str | Path
        The recording file given to ``predict``.

    Returns
    -------
    recording : dict | None
        ``participant``, ``session``, ``task``, ``run`` of the training recording.
    """
    digest = sha256(Path(path))
    for rec in saved.card["trained_on"]["recordings"]:
        if digest in rec["files"].values() or digest == rec.get("source_sha256"):
            return rec
    return None
