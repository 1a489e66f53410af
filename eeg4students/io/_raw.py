"""Turning timestamped samples into an ``mne.io.Raw`` on a regular time grid.

Consumer headsets stream over Bluetooth, so samples go missing. A reader
hands over the samples it has with their timestamps; :func:`build_raw` puts
them on the nominal sampling grid, fills each hole by linear interpolation
between its edges (so filters do not ring) and marks the filled span with a
``BAD_gap`` annotation. Nothing is glued: times after a gap stay true.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import mne
import numpy as np
from scipy.ndimage import minimum_filter1d

from eeg4students._compat import unlocked
from eeg4students.errors import RecordingFormatError
from eeg4students.events import BAD_GAP

#: Sampling rates of common consumer headsets; an estimate within 2% of one
#: of these is snapped to it.
NOMINAL_RATES = (125.0, 128.0, 200.0, 220.0, 250.0, 256.0, 500.0, 512.0, 1000.0)
#: Sampling rates (Hz) a recording may have; anything outside is a broken header.
MIN_SFREQ, MAX_SFREQ = 20.0, 100_000.0
#: A single gap longer than this (s) is not lost packets but two recordings in one file.
MAX_GAP_SECONDS = 3600.0
#: At most this much (s) is filled in over all gaps of one file, so memory stays bounded.
MAX_FILLED_SECONDS = 2 * 3600.0
#: Samples may be packed this much (share) more densely than the timestamps allow.
RATE_TOLERANCE = 0.1


def check_rate(path: Path, sfreq: float) -> float:
    """Return ``sfreq`` if it is a plausible EEG sampling rate (Hz), else raise.

    Raises
    ------
    RecordingFormatError
        If the rate is not a finite number between :data:`MIN_SFREQ` and
        :data:`MAX_SFREQ`.
    """
    if not (np.isfinite(sfreq) and MIN_SFREQ <= sfreq <= MAX_SFREQ):
        raise RecordingFormatError(
            path,
            f"its sampling rate {sfreq:g} Hz is not plausible for EEG (expected "
            f"{MIN_SFREQ:g}-{MAX_SFREQ:g} Hz); the header is damaged or the export setting "
            "is wrong",
        )
    return float(sfreq)


def estimate_sfreq(path: Path, timestamps: np.ndarray) -> float:
    """Estimate the sampling rate (Hz) from timestamps (s), snapped to a nominal rate."""
    if len(timestamps) < 2:
        raise RecordingFormatError(path, "has a single sample: cannot tell the sampling rate")
    dt = np.diff(timestamps)
    step = float(np.median(dt[dt > 0])) if np.any(dt > 0) else 0.0
    if step <= 0:
        raise RecordingFormatError(path, "all timestamps are equal: cannot tell the sampling rate")
    estimate = 1.0 / step
    for rate in NOMINAL_RATES:
        if abs(estimate - rate) / rate < 0.02:
            return rate
    return round(estimate, 3)


def regular_grid(
    path: Path,
    timestamps: np.ndarray,
    sfreq: float,
    gap_threshold: float,
    lines: np.ndarray,
    *,
    jitter: float = 0.0,
    on_arrival: bool = False,
) -> tuple[np.ndarray, list[tuple[float, float]]]:
    """Place timestamped samples on the sampling grid.

    Parameters
    ----------
    path : Path
        The file (for messages).
    timestamps : ndarray, shape (n_samples,)
        Sample times in seconds, non-decreasing (within ``jitter``).
    sfreq : float
        Nominal sampling rate in Hz.
    gap_threshold : float
        Samples lost for longer than this (seconds) make a gap.
    lines : ndarray of int, shape (n_samples,)
        1-based file line of each sample (for messages).
    jitter : float
        How far (s) timestamps may wander around the true sample times. 0:
        they are exact, so any step back is an error and any step longer
        than ``gap_threshold`` a gap. Streams timed on arrival (LSL delivers
        samples in chunks) step back and forth by a few samples while the
        average rate is nominal: with ``jitter`` > 0, a step back within it
        is tolerated and, in a file that has such steps, samples are taken as
        contiguous and a gap is where the timestamps' lower envelope runs
        ahead of the sample count for good (by ``gap_threshold``). Files
        whose timestamps never step back are read as with 0.
    on_arrival : bool
        The timestamps were taken when samples reached the computer
        (BrainFlow's), so a stall followed by a burst of samples is lateness,
        not loss: samples are placed through the timestamps' lower envelope
        whether or not they step back.

    Returns
    -------
    positions : ndarray of int, shape (n_samples,)
        Index of each sample on the grid.
    gaps : list of (onset, duration)
        Filled spans in seconds from the first sample.
    """
    check_rate(path, sfreq)
    bad = np.flatnonzero(~np.isfinite(timestamps))
    if bad.size:
        raise RecordingFormatError(
            path,
            f"the timestamp {timestamps[bad[0]]} is not a finite number",
            line=int(lines[bad[0]]),
        )
    latest = np.maximum.accumulate(timestamps)
    backwards = np.flatnonzero(timestamps < latest - jitter)
    if backwards.size:
        i = int(backwards[0])
        raise RecordingFormatError(
            path,
            f"the timestamp goes backwards by {latest[i] - timestamps[i]:.3f} s "
            f"({latest[i]:.3f} then {timestamps[i]:.3f}); the file mixes "
            "two recordings or was edited: split it at this line",
            line=int(lines[i]),
        )
    if on_arrival or (jitter > 0 and np.any(np.diff(timestamps) < 0)):
        steps = _steps_through_jitter(timestamps, sfreq, gap_threshold, jitter)
    else:
        steps = np.ones(len(timestamps), dtype=np.int64)
        steps[0] = 0
        dt = np.diff(timestamps)
        gap_at = np.flatnonzero(dt > gap_threshold)
        steps[gap_at + 1] = np.maximum(np.rint(dt[gap_at] * sfreq).astype(np.int64), 2)
    longest = int(np.argmax(steps))
    if steps[longest] / sfreq > MAX_GAP_SECONDS:
        raise RecordingFormatError(
            path,
            f"the timestamps jump forward by {steps[longest] / sfreq:.0f} s here, more than "
            f"{MAX_GAP_SECONDS / 3600:g} h: the file holds two recordings or its clock jumped; "
            "split it at this line",
            line=int(lines[longest]),
        )
    filled = float(np.sum(steps[steps > 1] - 1)) / sfreq
    if filled > MAX_FILLED_SECONDS:
        raise RecordingFormatError(
            path,
            f"its gaps add up to {filled / 3600:.1f} h, more than {MAX_FILLED_SECONDS / 3600:g} h "
            "of missing signal; split the file into its recordings",
        )
    positions = np.cumsum(steps)
    # More samples than the timestamps leave room for: duplicated rows, a frozen
    # clock or a wrong rate. (Fewer is what a larger gap_threshold asks to keep.)
    span = float(timestamps[-1] - timestamps[0]) + 2 * jitter
    need = float(positions[-1]) / sfreq
    if need - span > RATE_TOLERANCE * need:
        raise RecordingFormatError(
            path,
            f"its {len(timestamps)} samples at {sfreq:g} Hz should span {need:.2f} s but the "
            f"timestamps span {span:.2f} s; rows are duplicated, the timestamps are broken or "
            "the sampling rate is wrong",
        )
    gaps = gap_spans(positions, sfreq)
    return positions, gaps


#: Samples arrive late, never early: the lower envelope of the timestamps over
#: this many seconds is the stream's true timeline.
ENVELOPE_SECONDS = 2.0


def _steps_through_jitter(
    timestamps: np.ndarray, sfreq: float, gap_threshold: float, jitter: float
) -> np.ndarray:
    """Grid steps between samples whose timestamps jitter by up to ``jitter`` seconds.

    Timestamps given on arrival are late by a varying delay, so the drift of
    each timestamp from its place if no sample were lost is noisy from above
    but steady from below. Its minimum over the next :data:`ENVELOPE_SECONDS`
    (or ten jitters) rises for good where samples were lost; a gap is where
    that envelope reaches a new high ``gap_threshold`` above the samples
    already counted as lost. Losses within the last window are not seen.
    """
    n = len(timestamps)
    drift = timestamps - timestamps[0] - np.arange(n) / sfreq
    width = min(n, max(int(round(max(ENVELOPE_SECONDS, 10 * jitter) * sfreq)), 2))
    envelope = minimum_filter1d(drift, size=width, origin=-(width // 2), mode="nearest")
    envelope[n - width + 1 :] = envelope[n - width]  # the last windows are incomplete
    level = np.maximum.accumulate(envelope - envelope[0]) * sfreq  # samples
    threshold = max(gap_threshold * sfreq - 1.0, 1.0)
    steps = np.ones(n, dtype=np.int64)
    steps[0] = 0
    lost = 0
    for i in np.flatnonzero(np.diff(np.floor(level)) > 0) + 1:
        if level[i] - lost >= threshold:
            new = int(round(level[i]))
            steps[i] += new - lost
            lost = new
    return steps


def gap_spans(positions: np.ndarray, sfreq: float) -> list[tuple[float, float]]:
    """The holes between samples placed on the grid, as (onset, duration) in seconds.

    Parameters
    ----------
    positions : ndarray of int, shape (n_samples,)
        Grid index of each received sample, increasing.
    sfreq : float
        Sampling rate in Hz.

    Returns
    -------
    gaps : list of (onset, duration)
        One span per run of missing grid samples.
    """
    jumps = np.flatnonzero(np.diff(positions) > 1)
    return [
        (float(positions[i] + 1) / sfreq, float(positions[i + 1] - positions[i] - 1) / sfreq)
        for i in jumps.tolist()
    ]


def build_raw(
    data_uv: np.ndarray,
    ch_names: Sequence[str],
    ch_types: Sequence[str],
    sfreq: float,
    *,
    positions: np.ndarray | None = None,
    gaps: Sequence[tuple[float, float]] = (),
    markers: Sequence[tuple[int, str]] = (),
    start_time: float | None = None,
    device_model: str | None = None,
    bads: Sequence[str] = (),
) -> mne.io.RawArray:
    """Build a Raw in volts from samples in microvolts.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Samples in microvolts (EEG) or their native unit (misc channels).
    ch_names, ch_types : sequence of str
        Channel names and MNE channel types (``"eeg"``, ``"misc"``).
    sfreq : float
        Sampling rate in Hz.
    positions : ndarray of int, shape (n_samples,) | None
        Grid index of each sample (from :func:`regular_grid`); None when the
        samples are already contiguous.
    gaps : sequence of (onset, duration)
        Spans (s) to annotate as ``BAD_gap``.
    markers : sequence of (sample index, description)
        Event markers; the index is into ``data_uv`` (before gap filling).
    start_time : float | None
        Unix time (s) of the first sample: the measurement date.
    device_model : str | None
        Short name of the device, stored in ``info["device_info"]["model"]``.
    bads : sequence of str
        Channels known to be unusable.

    Returns
    -------
    raw : mne.io.RawArray
        The recording, EEG in volts.
    """
    data = np.asarray(data_uv, dtype=float)
    if positions is not None and positions[-1] + 1 != data.shape[1]:
        grid = np.arange(positions[-1] + 1)
        data = np.vstack([np.interp(grid, positions, row) for row in data])
    scale = np.array([1e-6 if t == "eeg" else 1.0 for t in ch_types])[:, None]
    info = mne.create_info(list(ch_names), sfreq, list(ch_types))
    raw = mne.io.RawArray(data * scale, info, verbose="error")
    if start_time is not None:
        raw.set_meas_date(datetime.fromtimestamp(float(start_time), tz=UTC))
    if device_model is not None:
        with unlocked(raw.info):
            raw.info["device_info"] = {"model": device_model}
    raw.info["bads"] = list(bads)
    onsets, durations, descriptions = [], [], []
    for onset, duration in gaps:
        onsets.append(onset)
        durations.append(duration)
        descriptions.append(BAD_GAP)
    for index, description in markers:
        grid_index = positions[index] if positions is not None else index
        onsets.append(grid_index / sfreq)
        durations.append(0.0)
        descriptions.append(description)
    if onsets:
        raw.set_annotations(
            mne.Annotations(onsets, durations, descriptions, orig_time=raw.info["meas_date"])
        )
    return raw
