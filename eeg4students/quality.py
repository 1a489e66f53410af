"""Signal quality, judged one way everywhere: flat, railed, plateaus, amplitude.

Every place that asks whether a channel is usable asks here, with one rail
table and one definition of each fault:

- **railed**: samples within 0.1% of the amplifier's rail
  (:data:`AT_RAIL`; rails in :data:`RAIL_UV`), where a device clips and
  where an unconnected electrode drives its input;
- **flat**: a channel whose values span less than :data:`FLAT_PTP_UV`;
- **stuck**: a channel sitting at its own extreme values (a lost electrode
  that repeats its last value);
- **plateau**: a run of samples within a tolerance for a while (the
  EEG4Students noise rule, :func:`plateau_mask`);
- **line noise** and **too large**: mains power against 1-40 Hz power, and
  peak-to-peak amplitude.

Uses differ in how much of a fault they tolerate, not in what a fault is.
The tolerances are named here side by side (:class:`Limits`):
:data:`LIVE` for the signal check before and during a recording (``record``,
``classroom``: a few seconds, any clipping matters), :data:`FILE` for the
bad channels a reader marks in a whole file (mostly at the rail or stuck),
:data:`CLIPPED_SHARE` for the "clipped" note of ``dataset info``, and the
window rejection of :mod:`eeg4students.preprocess` (any channel at the rail
or in a plateau inside a window).
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import mne
import numpy as np

from eeg4students.events import BAD_GAP

#: Amplifier rails in microvolts, by board or device name. Muse headbands
#: deliver 12-bit samples scaled to +/-1000 uV; Cyton's ADS1299 at gain 24
#: spans +/-187,500 uV; simulated recordings clip at 1000 uV.
RAIL_UV: dict[str, float] = {
    "muse": 1000.0,
    "muse_2": 1000.0,
    "muse_s": 1000.0,
    "muse_2016": 1000.0,
    "cyton": 187500.0,
    "cyton_daisy": 187500.0,
    "simulated": 1000.0,
}
#: A sample at or beyond this share of the rail is at the rail.
AT_RAIL = 0.999
#: A channel whose values span less than this (uV) is flat.
FLAT_PTP_UV = 1.0
#: ``dataset info`` notes a channel as clipped above this share of samples at the rail.
CLIPPED_SHARE = 0.001
#: Verdicts of :func:`channel_verdicts`, in the order they are tested.
VERDICTS = ("flat", "railed", "stuck", "line noise", "too large", "ok")


@dataclass(frozen=True)
class Limits:
    """How much of each fault a use of :func:`channel_verdicts` tolerates.

    Attributes
    ----------
    railed_share : float
        A channel with more than this share of its samples at the rail is
        railed.
    stuck_share : float | None
        A channel with more than this share of its samples at its own minimum
        or maximum is stuck; None does not test it.
    line_ratio : float | None
        A channel whose power within 1 Hz of the mains frequency exceeds this
        multiple of its 1-40 Hz power has line noise; None does not test it.
    max_ptp_uv : float | None
        A channel whose peak-to-peak amplitude (after removing its median)
        exceeds this is too large; None does not test it.
    """

    railed_share: float
    stuck_share: float | None = None
    line_ratio: float | None = None
    max_ptp_uv: float | None = None


#: The signal check of ``record`` and ``classroom`` (a few seconds of signal).
LIVE = Limits(railed_share=0.01, line_ratio=1.0, max_ptp_uv=500.0)
#: The bad channels a reader marks in a whole file.
FILE = Limits(railed_share=0.5, stuck_share=0.5)


def rail_of(device: str | None) -> float | None:
    """The rail (uV) of a board or device name, or None when it is not known."""
    return RAIL_UV.get((device or "").strip().lower())


def device_model(raw: mne.io.BaseRaw) -> str | None:
    """Return the device model an importer stored in the recording, if any."""
    info = raw.info.get("device_info") or {}
    return info.get("model")


def at_rail(data_uv: np.ndarray, rail_uv: float | None) -> np.ndarray:
    """Samples at the rail, shape of ``data_uv`` (all False without a rail)."""
    if not rail_uv:
        return np.zeros(np.shape(data_uv), dtype=bool)
    return np.abs(data_uv) >= AT_RAIL * rail_uv


def rail_shares(data_uv: np.ndarray, rail_uv: float | None) -> np.ndarray:
    """Share of each channel's samples at the rail, shape (n_channels,)."""
    data_uv = np.atleast_2d(data_uv)
    if data_uv.shape[1] == 0:
        return np.zeros(len(data_uv))
    return at_rail(data_uv, rail_uv).mean(axis=1)


def channel_verdicts(
    data_uv: np.ndarray,
    limits: Limits,
    *,
    rail_uv: float | None = None,
    sfreq: float | None = None,
    line_freq: float = 50.0,
) -> list[dict]:
    """Judge each channel of a stretch of EEG.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Unfiltered EEG in microvolts.
    limits : Limits
        What the use tolerates (:data:`LIVE`, :data:`FILE`).
    rail_uv : float | None
        The amplifier's rail, if known.
    sfreq : float | None
        Sampling rate in Hz (needed for the line-noise test).
    line_freq : float
        Mains frequency in Hz.

    Returns
    -------
    verdicts : list of dict
        Per channel: ``verdict`` (one of :data:`VERDICTS`: the first fault
        found), ``ptp_uv`` (peak to peak after removing the median),
        ``rail_share`` and ``line_ratio`` (0 when not tested).
    """
    data_uv = np.atleast_2d(np.asarray(data_uv, dtype=float))
    shares = rail_shares(data_uv, rail_uv)
    ratios = np.zeros(len(data_uv))
    if limits.line_ratio is not None and sfreq and data_uv.shape[1] > 1:
        freqs = np.fft.rfftfreq(data_uv.shape[1], 1 / sfreq)
        centred = data_uv - data_uv.mean(axis=1, keepdims=True)
        power = np.abs(np.fft.rfft(centred, axis=1)) ** 2
        band = (freqs >= 1) & (freqs <= 40)
        line = np.abs(freqs - line_freq) <= 1
        if line.any():
            ratios = power[:, line].sum(axis=1) / np.maximum(power[:, band].sum(axis=1), 1e-12)
    rows = []
    for row, share, ratio in zip(data_uv, shares, ratios, strict=True):
        ptp = float(np.ptp(row - np.median(row))) if row.size else 0.0
        if limits.stuck_share is not None and row.size:
            stuck = float(np.mean((row == row.min()) | (row == row.max())))
        else:
            stuck = 0.0
        if ptp < FLAT_PTP_UV:
            verdict = "flat"
        elif share > limits.railed_share:
            verdict = "railed"
        elif limits.stuck_share is not None and stuck > limits.stuck_share:
            verdict = "stuck"
        elif limits.line_ratio is not None and ratio > limits.line_ratio:
            verdict = "line noise"
        elif limits.max_ptp_uv is not None and ptp > limits.max_ptp_uv:
            verdict = "too large"
        else:
            verdict = "ok"
        rows.append(
            {
                "verdict": verdict,
                "ptp_uv": round(ptp, 1),
                "rail_share": round(float(share), 5),
                "line_ratio": round(float(ratio), 2),
            }
        )
    return rows


def bad_channels(
    data_uv: np.ndarray, names: list[str], *, rail_uv: float | None = None
) -> list[str]:
    """Channels of a whole file that are flat, railed or stuck (:data:`FILE` limits).

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Samples in microvolts.
    names : list of str
        Channel names.
    rail_uv : float | None
        The amplifier's rail (uV), if known.

    Returns
    -------
    bads : list of str
    """
    verdicts = channel_verdicts(data_uv, FILE, rail_uv=rail_uv)
    return [name for name, v in zip(names, verdicts, strict=True) if v["verdict"] != "ok"]


def plateau_mask(data_uv: np.ndarray, sfreq: float, seconds: float, tol_uv: float) -> np.ndarray:
    """Mark samples inside lost-contact plateaus.

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Unfiltered signal in uV.
    sfreq : float
        Sampling rate in Hz.
    seconds : float
        Minimum span of a plateau: a run of ``n`` samples spans
        ``(n - 1) / sfreq`` seconds.
    tol_uv : float
        Largest range (max - min, uV) of a run that counts as not moving.

    Returns
    -------
    mask : ndarray of bool, shape (n_samples,)
        True where any channel is in a plateau.
    """
    n_run = math.ceil(seconds * sfreq - 1e-9) + 1
    n = data_uv.shape[1]
    mask = np.zeros(n, dtype=bool)
    if n < n_run:
        return mask
    # Inside a plateau every step is within the tolerance: find stretches of
    # n_run - 1 small steps (no large step among them) first, cheaply for all
    # channels, then check the range of those rare stretches exactly.
    large = np.abs(np.diff(data_uv, axis=1)) > tol_uv
    count = np.zeros((len(data_uv), n), dtype=np.int32)
    np.cumsum(large, axis=1, out=count[:, 1:])
    quiet = count[:, n_run - 1 :] == count[:, : n - n_run + 1]
    for c in np.flatnonzero(quiet.any(axis=1)):
        small = ~large[c]
        edges = np.flatnonzero(np.diff(np.concatenate([[0], small.astype(np.int8), [0]])))
        for start, stop in zip(edges[::2], edges[1::2], strict=True):
            if stop - start + 1 >= n_run:
                segment = data_uv[c, start : stop + 1]
                mask[start : stop + 1] |= _ranges_within(segment, n_run, tol_uv)
    return mask


def _ranges_within(segment: np.ndarray, n_run: int, tol_uv: float) -> np.ndarray:
    """Mark samples covered by some ``n_run``-long stretch of range <= ``tol_uv``."""
    if np.ptp(segment) <= tol_uv:
        return np.ones(len(segment), dtype=bool)
    windows = np.lib.stride_tricks.sliding_window_view(segment, n_run)
    flat = np.flatnonzero(np.ptp(windows, axis=1) <= tol_uv)
    covered = np.zeros(len(segment) + 1, dtype=np.int64)
    np.add.at(covered, flat, 1)
    np.add.at(covered, flat + n_run, -1)
    return np.cumsum(covered[:-1]) > 0


def recording_quality(raw: mne.io.BaseRaw) -> dict:
    """Summarise a recording's gaps, clipping and unusable channels (at import).

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (EEG in volts).

    Returns
    -------
    quality : dict
        ``duration_s`` (float, s), ``n_gaps`` (int), ``gap_s`` (float, s
        lost in gaps), ``rail_uv`` (float or None), ``clipped_share``
        (dict channel -> share of samples at the rail, only channels with
        any), ``bad_channels`` (list of str).
    """
    ann = raw.annotations
    is_gap = ann.description == BAD_GAP
    rail = rail_of(device_model(raw))
    clipped = {}
    if rail:
        picks = mne.pick_types(raw.info, eeg=True, exclude=[])
        shares = rail_shares(raw.get_data(picks=picks) * 1e6, rail)
        clipped = {
            raw.ch_names[p]: round(float(s), 5)
            for p, s in zip(picks, shares, strict=True)
            if s > 0
        }
    return {
        "duration_s": round(float(raw.n_times / raw.info["sfreq"]), 3),
        "n_gaps": int(is_gap.sum()),
        "gap_s": round(float(ann.duration[is_gap].sum()), 3),
        "rail_uv": rail,
        "clipped_share": clipped,
        "bad_channels": list(raw.info["bads"]),
    }


@dataclass
class SignalCheck:
    """Per-channel signal check.

    Attributes
    ----------
    table : list of dict
        ``channel``, ``ptp_uv`` (peak to peak), ``line_ratio`` (power at the
        mains frequency over 1-40 Hz power) and ``verdict`` (``ok``, ``flat``,
        ``railed``, ``line noise`` or ``too large``).
    """

    table: list[dict] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether every channel passed."""
        return all(row["verdict"] == "ok" for row in self.table)


def check_signal(
    data_uv: np.ndarray,
    names: list[str],
    sfreq: float,
    *,
    rail_uv=None,
    line_freq: float = 50.0,
    max_ptp_uv: float = LIVE.max_ptp_uv,
) -> SignalCheck:
    """Judge each channel of a few seconds of EEG (:data:`eeg4students.quality.LIVE`).

    Parameters
    ----------
    data_uv : ndarray, shape (n_channels, n_samples)
        Raw EEG in microvolts.
    names : list of str
        Channel names.
    sfreq : float
        Sampling rate in Hz.
    rail_uv : float | None
        The amplifier's rail, if known.
    line_freq : float
        Mains frequency in Hz.
    max_ptp_uv : float
        Largest acceptable peak-to-peak amplitude after removing the median.

    Returns
    -------
    check : SignalCheck
    """
    limits = dataclasses.replace(LIVE, max_ptp_uv=max_ptp_uv)
    verdicts = channel_verdicts(data_uv, limits, rail_uv=rail_uv, sfreq=sfreq, line_freq=line_freq)
    check = SignalCheck()
    for name, row in zip(names, verdicts, strict=True):
        check.table.append(
            {
                "channel": name,
                "ptp_uv": row["ptp_uv"],
                "line_ratio": row["line_ratio"],
                "verdict": row["verdict"],
            }
        )
    return check
