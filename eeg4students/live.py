"""Live classification from a headset or LSL stream with causal Time Majority Voting.

Every ``hop`` seconds a window goes through the same preprocessing,
rejection and features as in training; the model labels it and a
:class:`~eeg4students.models.tmv.CausalVoter` votes over the last ``k``
windows. Rejected windows (lost contact, clipping, large amplitude) are
counted with their reason and do not vote.

A model trained with session adaptation (``train --adapt``) is given each
window adapted with the session's statistics so far
(:class:`~eeg4students.adaptation.RunningAdaptation`); the first
``ADAPT_WARMUP_SECONDS`` of windows only set those statistics and are
reported as ``adapting``.

The zero-phase filters need signal on both sides of a window, as they have
offline. So the window classified is not the newest ``window`` seconds but
the one ending ``lag`` seconds earlier, with ``LIVE_HISTORY_SECONDS`` of
signal before it; nothing is classified until that much has arrived.

Measured on BrainFlow's synthetic board with a model of its 16 channels
(``benchmarks/bench_live_parity.py``, 40 s): with no lag, 26 of 36 windows
were rejected live for amplitude (the filters' edge) where offline processing
of the same stream kept all of them; with a lag of 0.25 s or more, live and
offline rejected the same windows. The band powers need more: their 95th
percentile distance to the offline ones was 1.2 (log10 units) at 0.25 s, 0.11
at 1 s and 0.011 at 2 s (the default), against a spread of 0.076 across
windows; the delta band differs most.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace

import mne
import numpy as np
from brainflow.exit_codes import BrainFlowError

from eeg4students._signals import stop_on_signals
from eeg4students.adaptation import RunningAdaptation
from eeg4students.boards import get_board
from eeg4students.errors import BoardError, EEG4StudentsError, ModelError
from eeg4students.events import task_description
from eeg4students.features import blocks_to_frames
from eeg4students.lsl import (
    RESOLVE_SECONDS,
    LabelOutlet,
    LSLStream,
    check_stream_name,
    is_lsl,
    local_clock,
)
from eeg4students.modelcheck import applying
from eeg4students.models import TimeMajorityVoting
from eeg4students.models.tmv import CausalVoter
from eeg4students.modelstore import SavedModel
from eeg4students.names import ADAPT_WARMUP_SECONDS
from eeg4students.playback import open_board, release_board
from eeg4students.preprocess import REASONS, iter_blocks

#: Seconds of signal before a live window, for the filters.
LIVE_HISTORY_SECONDS = 2.0
#: Seconds between the end of the window classified and the newest sample (see above).
DEFAULT_LAG_SECONDS = 2.0
#: The ``rejected`` reason of a window that only fed the adaptation's statistics.
ADAPTING = "adapting"


def _window_raw(data_uv: np.ndarray, names: list[str], sfreq: float, window: float, lag: float):
    """A small Raw of the newest samples in which the window ending ``lag`` s early is a block."""
    info = mne.create_info(names, sfreq, "eeg")
    raw = mne.io.RawArray(data_uv * 1e-6, info, verbose="error")
    onset = raw.times[-1] + 1 / sfreq - lag - window
    raw.set_annotations(mne.Annotations([onset], [window], [task_description("live")]))
    return raw


def samples_needed(saved: SavedModel, sfreq: float, lag: float = DEFAULT_LAG_SECONDS) -> int:
    """Samples a live buffer must hold: history, the window and the lag after it."""
    return round((LIVE_HISTORY_SECONDS + saved.preprocess.window + lag) * sfreq)


def classify_window(
    saved: SavedModel, data_uv: np.ndarray, sfreq: float, lag: float = DEFAULT_LAG_SECONDS
) -> tuple:
    """Features of a buffer's window ending ``lag`` seconds before its end, or why it was rejected.

    Parameters
    ----------
    saved : SavedModel
        The model.
    data_uv : ndarray, shape (n_channels, n_samples)
        The newest samples of the model's channels, in uV: at least
        :func:`samples_needed` of them (fewer filter less like offline).
    sfreq : float
        Sampling rate in Hz.
    lag : float
        Seconds of signal after the window, for the zero-phase filters.

    Returns
    -------
    features : ndarray, shape (n_features,) | None
        None when the window was rejected.
    reason : str | None
        Why it was rejected (one of :data:`eeg4students.preprocess.REASONS`).
    """
    pre = replace(
        saved.preprocess,
        channels=tuple(saved.card["channels"]),
        transition_share=0.0,
        hop=saved.preprocess.window,
    )
    raw = _window_raw(data_uv, list(saved.card["channels"]), sfreq, pre.window, lag)
    window = round(pre.window * sfreq)
    meta = {"participant": "", "session": "", "run": 1}
    frame, counts = blocks_to_frames(iter_blocks(raw, pre), saved.features, meta, "live", window)
    if len(frame):
        return frame[saved.card["feature_columns"]].to_numpy(dtype=float)[-1], None
    rejected = [r for r in REASONS if counts[r].sum()]
    return None, rejected[0] if rejected else "too short"


def summarise(updates: list[dict]) -> str:
    """One line: windows classified and rejected, with the reasons counted.

    Parameters
    ----------
    updates : list of dict
        From :func:`run_live`.

    Returns
    -------
    line : str
        E.g. ``"12 windows: 10 classified, 2 rejected (amplitude 2)."``
    """
    reasons = Counter(u["rejected"] for u in updates if u["rejected"])
    adapting = reasons.pop(ADAPTING, 0)
    classified = len(updates) - sum(reasons.values()) - adapting
    line = f"{len(updates)} windows: {classified} classified"
    if adapting:
        line += f", {adapting} set the session's adaptation"
    line += f", {sum(reasons.values())} rejected"
    if reasons:
        line += " (" + ", ".join(f"{r} {n}" for r, n in reasons.most_common()) + ")"
    return line + "."


class Predictor:
    """Classify a headset's newest window as ``live`` does (TMV votes over recent windows).

    Parameters
    ----------
    saved : SavedModel
        A model trained on this headset's channels and sampling rate.
    spec : Board
        The headset (:func:`eeg4students.boards.get_board`).
    lag : float
        Seconds between the end of the window classified and the newest sample.

    Raises
    ------
    ModelError
        If the model was trained on other channels or another sampling rate.
    EEG4StudentsError
        If ``lag`` is outside 0-30 s.
    """

    def __init__(self, saved: SavedModel, spec, lag: float = DEFAULT_LAG_SECONDS) -> None:
        names = list(spec.eeg_names)
        missing = [ch for ch in saved.card["channels"] if ch not in names]
        if missing or not np.isclose(spec.sfreq, saved.card["sfreq"]):
            raise ModelError(
                f"Model {saved.card['name']!r} was trained on {', '.join(saved.card['channels'])} "
                f"at {saved.card['sfreq']:g} Hz; {spec.name} gives {', '.join(names)} at "
                f"{spec.sfreq:g} Hz. Train a model on recordings from this headset."
            )
        if not 0 <= lag <= 30:
            raise EEG4StudentsError(f"The live --lag must be 0-30 seconds, not {lag}.")
        self.saved, self.sfreq, self.lag = saved, spec.sfreq, lag
        self.rows = [names.index(ch) for ch in saved.card["channels"]]
        self.voter = (
            CausalVoter(saved.estimator)
            if isinstance(saved.estimator, TimeMajorityVoting)
            else None
        )
        #: Samples of EEG a prediction needs (history, window, lag).
        self.needed = samples_needed(saved, spec.sfreq, lag)
        self.adapter = None
        if saved.adapt:
            warmup = int(np.ceil(ADAPT_WARMUP_SECONDS / saved.preprocess.hop))
            self.adapter = RunningAdaptation(saved.card["feature_columns"], warmup)

    def predict(self, eeg_uv: np.ndarray) -> dict | None:
        """Label the window ending ``lag`` s before the newest sample.

        Parameters
        ----------
        eeg_uv : ndarray, shape (n_eeg_channels, n_samples)
            The headset's newest EEG in microvolts, its channels in the
            board's order; at least :attr:`needed` samples.

        Returns
        -------
        update : dict | None
            ``label``, ``top``, ``second`` (TMV's bases; None otherwise),
            ``probabilities`` (class to probability, from the model or TMV's
            top base when it gives them; else None) and ``rejected`` (the
            reason, :data:`ADAPTING` while an adapted model's statistics warm
            up, or None); None if there is too little signal yet.
        """
        if eeg_uv.shape[1] < self.needed:
            return None
        data = eeg_uv[self.rows, -self.needed :]
        features, reason = classify_window(self.saved, data, self.sfreq, self.lag)
        if features is not None and self.adapter is not None:
            features = self.adapter.update(features)
            reason = None if features is not None else ADAPTING
        update = {
            "label": None,
            "top": None,
            "second": None,
            "probabilities": None,
            "rejected": reason,
        }
        if features is not None:
            with applying(self.saved.card["name"]):
                if self.voter is not None:
                    labels = self.voter.update(features)
                else:
                    labels = (self.saved.estimator.predict(features[None, :])[0], None, None)
                update["probabilities"] = self._probabilities(features)
            for key, value in zip(("label", "top", "second"), labels, strict=True):
                update[key] = value.item() if isinstance(value, np.generic) else value
        return update

    def _probabilities(self, features: np.ndarray) -> dict | None:
        """Class probabilities of the model (of TMV's top base), if it gives them."""
        model = self.saved.estimator
        if self.voter is not None:
            model = model.estimators_[0]
        if not hasattr(model, "predict_proba"):
            return None
        shares = model.predict_proba(features[None, :])[0]
        return {str(c): round(float(p), 4) for c, p in zip(model.classes_, shares, strict=True)}


class _BoardSource:
    """A BrainFlow headset as a live source: its newest EEG on demand."""

    def __init__(self, board: str, spec, connection: dict) -> None:
        self.board = board
        self.spec = spec
        self.shim, self.converted = open_board(board, self.spec, connection)
        self.last_new = time.monotonic()

    def start(self):
        try:
            self.shim.prepare_session()
            self.shim.start_stream()
        except BrainFlowError as exc:
            self.stop()
            raise self._error(exc) from exc
        return self.spec

    def _error(self, exc: BrainFlowError) -> BoardError:
        return BoardError(
            f"The {self.board} headset stopped or could not connect ({exc}); check that it is "
            "on, paired and charged, then try again."
        )

    def newest(self, n: int) -> tuple[np.ndarray, float | None]:
        """The newest ``n`` samples of EEG (uV), and None: BrainFlow gives no LSL time."""
        try:
            data = self.shim.get_current_board_data(n)
        except BrainFlowError as exc:
            raise self._error(exc) from exc
        self.last_new = time.monotonic()  # BrainFlow reports a stopped headset as an error
        return data[list(self.spec.eeg_rows)], None

    def stop(self) -> None:
        release_board(self.shim, self.converted)


def run_live(
    saved: SavedModel,
    board: str,
    *,
    seconds: float | None = None,
    lag: float = DEFAULT_LAG_SECONDS,
    on_update: Callable[[dict], None] | None = None,
    lsl_out: str | None = None,
    **connection,
) -> list[dict]:
    """Stream from a headset (or an LSL stream) and classify each new window.

    Parameters
    ----------
    saved : SavedModel
        A model trained on this headset's channels and sampling rate.
    board : str
        Friendly board name (``synthetic``, ``muse_2``, ``playback``...), or
        ``lsl:KEY`` for the LSL stream named, typed or with source id KEY.
    seconds : float | None
        Stop after this long; None runs until Ctrl-C.
    lag : float
        Seconds between the end of the window classified and the newest
        sample (see the module's notes); the first window is classified after
        ``LIVE_HISTORY_SECONDS + window + lag`` seconds.
    on_update : callable | None
        Called with each update: ``time`` (s since start), ``window_end`` (s
        since start, ``lag`` earlier), ``label``, ``top``, ``second`` (the
        bases' labels; None unless TMV), ``probabilities`` and ``rejected``
        (the reason, or None).
    lsl_out : str | None
        Publish every update on an LSL stream of this name: a JSON string
        per window, time-stamped with the window's end on the LSL clock
        (:class:`eeg4students.lsl.LabelOutlet`).
    **connection
        Passed to :func:`eeg4students.boards.input_params` (``mac_address``,
        ``serial_port``, ``serial_number``, ``timeout``, ``file``,
        ``master_board``); for an LSL stream only ``timeout`` (seconds to
        find it, and without samples before it counts as gone).

    Returns
    -------
    updates : list of dict
        Every update, in order (also after Ctrl-C, which ends the run).

    Raises
    ------
    BoardError
        If the headset or stream cannot be reached, or stops sending.
    ModelError
        If the model was trained on other channels or another rate.
    """
    if lsl_out:
        check_stream_name(lsl_out)
    outlet = None
    if is_lsl(board):
        source = LSLStream(board, None, timeout=connection.get("timeout"))
    else:
        spec = get_board(board, master=connection.get("master_board"))
        # A model of other channels is refused before the board (or a converted replay) opens.
        Predictor(saved, spec, lag)
        source = _BoardSource(board, spec, connection)
    updates: list[dict] = []
    # Ctrl-C or SIGTERM end the run (whatever the parent ignored); the windows so far return.
    with stop_on_signals():
        try:
            spec = source.start()
            predictor = Predictor(saved, spec, lag)
            # Published once the stream is found (the search must not list the labels' stream).
            outlet = LabelOutlet(lsl_out) if lsl_out else None
            source.recent_seconds = predictor.needed / spec.sfreq + 1.0
            quiet = float(connection.get("timeout") or RESOLVE_SECONDS)
            _stream_live(
                source, spec, predictor, saved, seconds, lag, quiet, on_update, outlet, updates
            )
        except KeyboardInterrupt:
            pass  # Ctrl-C ends the run; the windows so far are returned
        finally:
            source.stop()
            if outlet is not None:
                outlet.close()
    return updates


def _stream_live(
    source, spec, predictor, saved, seconds, lag, quiet, on_update, outlet, updates
) -> None:
    start = time.monotonic()
    next_at = start + predictor.needed / spec.sfreq
    while seconds is None or time.monotonic() - start < seconds:
        time.sleep(max(0.0, next_at - time.monotonic()))
        next_at += saved.preprocess.hop
        eeg, end = source.newest(predictor.needed)
        if time.monotonic() - source.last_new > quiet:
            raise BoardError(
                f"No samples from {spec.name} for {quiet:g} s: the stream stopped (is its "
                "sender still running?)."
            )
        result = predictor.predict(eeg)
        if result is None:
            continue  # the headset started late: wait for the filters' signal
        now = time.monotonic() - start
        update = {"time": round(now, 2), "window_end": round(now - lag, 2), **result}
        updates.append(update)
        if outlet is not None:
            outlet.send(update, (local_clock() if end is None else end) - lag)
        if on_update is not None:
            on_update(update)
