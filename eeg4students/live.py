"""Live classification from a BrainFlow headset with causal Time Majority Voting.

Every ``hop`` seconds the newest ``window`` seconds of EEG (with a few
seconds before it, for the filters) go through the same preprocessing,
rejection and features as in training; the model labels the window and a
:class:`~eeg4students.models.tmv.CausalVoter` votes over the last ``k``
windows. Rejected windows (lost contact, clipping, large amplitude) are
reported and do not vote. Zero-phase filters need signal after a window
too; live, the window is the newest data, so its last fraction of a second
is filtered with padding instead: fine for feedback, and why offline
evaluation is the reference for accuracy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace

import mne
import numpy as np
from brainflow.board_shim import BoardShim
from brainflow.exit_codes import BrainFlowError

from eeg4students.boards import BOARD_IDS, get_board, input_params
from eeg4students.errors import BoardError, ModelError
from eeg4students.events import task_description
from eeg4students.features import blocks_to_frames
from eeg4students.models import TimeMajorityVoting
from eeg4students.models.tmv import CausalVoter
from eeg4students.modelstore import SavedModel
from eeg4students.preprocess import PAD_SECONDS, REASONS, iter_blocks


def _window_raw(data_uv: np.ndarray, names: list[str], sfreq: float, window: float):
    """A small Raw of the newest samples whose last ``window`` seconds are one block."""
    info = mne.create_info(names, sfreq, "eeg")
    raw = mne.io.RawArray(data_uv * 1e-6, info, verbose="error")
    onset = raw.times[-1] + 1 / sfreq - window
    raw.set_annotations(mne.Annotations([onset], [window], [task_description("live")]))
    return raw


def classify_window(saved: SavedModel, data_uv: np.ndarray, sfreq: float) -> tuple:
    """Features of the newest window of a buffer, or the reason it was rejected.

    Parameters
    ----------
    saved : SavedModel
        The model.
    data_uv : ndarray, shape (n_channels, n_samples)
        The newest samples of the model's channels, in uV, at least one window long.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    features : ndarray, shape (n_features,) | None
        None when the window was rejected.
    reason : str | None
        Why it was rejected.
    """
    pre = replace(
        saved.preprocess,
        channels=tuple(saved.card["channels"]),
        transition_share=0.0,
        hop=saved.preprocess.window,
    )
    raw = _window_raw(data_uv, list(saved.card["channels"]), sfreq, pre.window)
    window = round(pre.window * sfreq)
    meta = {"participant": "", "session": "", "run": 1}
    frame, counts = blocks_to_frames(iter_blocks(raw, pre), saved.features, meta, "live", window)
    if len(frame):
        return frame[saved.card["feature_columns"]].to_numpy(dtype=float)[-1], None
    rejected = [r for r in REASONS if counts[r].sum()]
    return None, rejected[0] if rejected else "too short"


def run_live(
    saved: SavedModel,
    board: str,
    *,
    seconds: float | None = None,
    on_update: Callable[[dict], None] | None = None,
    **connection,
) -> list[dict]:
    """Stream from a headset and classify each new window.

    Parameters
    ----------
    saved : SavedModel
        A model trained on this headset's channels and sampling rate.
    board : str
        Friendly board name (``synthetic``, ``muse_2``, ``playback``...).
    seconds : float | None
        Stop after this long; None runs until Ctrl-C.
    on_update : callable | None
        Called with each update: ``time`` (s since start), ``label``, ``top``,
        ``second`` (the bases' labels; None unless TMV) and ``rejected`` (the
        reason, or None).
    **connection
        Passed to :func:`eeg4students.boards.input_params` (``mac_address``,
        ``serial_port``, ``serial_number``, ``timeout``, ``file``,
        ``master_board``).

    Returns
    -------
    updates : list of dict
        Every update, in order.
    """
    spec = get_board(board, master=connection.get("master_board"))
    sfreq = spec.sfreq
    names = list(spec.eeg_names)
    missing = [ch for ch in saved.card["channels"] if ch not in names]
    if missing or not np.isclose(sfreq, saved.card["sfreq"]):
        raise ModelError(
            f"Model {saved.card['name']!r} was trained on {', '.join(saved.card['channels'])} at "
            f"{saved.card['sfreq']:g} Hz; {spec.name} gives {', '.join(names)} at {sfreq:g} Hz. "
            "Train a model on recordings from this headset."
        )
    rows = [spec.eeg_rows[names.index(ch)] for ch in saved.card["channels"]]
    model = saved.estimator
    voter = CausalVoter(model) if isinstance(model, TimeMajorityVoting) else None
    pre = saved.preprocess
    needed = round((pre.window + PAD_SECONDS) * sfreq)
    BoardShim.disable_board_logger()
    playback = board.strip().lower() == "playback"
    board_id = int(BOARD_IDS["playback"]) if playback else spec.board_id
    shim = BoardShim(board_id, input_params(**connection))
    updates: list[dict] = []
    try:
        shim.prepare_session()
        shim.start_stream()
        start = time.monotonic()
        next_at = start + pre.window
        while seconds is None or time.monotonic() - start < seconds:
            time.sleep(max(0.0, next_at - time.monotonic()))
            next_at += pre.hop
            data = shim.get_current_board_data(needed)
            if data.shape[1] < round(pre.window * sfreq):
                continue
            features, reason = classify_window(saved, data[rows], sfreq)
            update = {
                "time": round(time.monotonic() - start, 2),
                "label": None,
                "top": None,
                "second": None,
                "rejected": reason,
            }
            if features is not None:
                if voter is not None:
                    labels = voter.update(features)
                else:
                    labels = (model.predict(features[None, :])[0], None, None)
                for key, value in zip(("label", "top", "second"), labels, strict=True):
                    update[key] = value.item() if isinstance(value, np.generic) else value
            updates.append(update)
            if on_update is not None:
                on_update(update)
    except BrainFlowError as exc:
        raise BoardError(
            f"The {board} headset stopped or could not connect ({exc}); check that it is on, "
            "paired and charged, then try again."
        ) from exc
    finally:
        if shim.is_prepared():
            shim.release_session()
    return updates
