"""Filtering, task-block windows, and window rejection with accounting.

The steps, for each task block of a recording (blocks are the
``task/<Name>`` annotations):

1. read the block with a few seconds of real signal on either side (so
   filter edges fall outside it), in microvolts;
2. mark samples that are unusable before filtering, where the evidence is
   in the raw values: lost-contact **plateaus** (a channel that repeats the
   same value, or stays within ``plateau_tol_uv``, for ``plateau_seconds``
   or longer: a run of ``n`` samples spans ``(n - 1) / sfreq`` seconds, so
   1.4 s reproduces the EEG4Students rule of 15 samples at 10 Hz), samples
   at the amplifier **rail** (clipping), and ``BAD_*`` annotations;
3. filter, zero phase, with filters designed once per recording: IIR
   notches at the line frequency and its harmonics below Nyquist (those
   below twice the low-pass edge: the rest lie deep in its stop band), and a
   band-pass ``l_freq``-``h_freq`` designed by MNE (4th-order Butterworth
   run forward and backward by default; ``filter_method="fir"`` for MNE's
   linear-phase FIR); optional average reference;
4. cut windows of ``window`` seconds every ``hop`` seconds, starting after
   the block's first ``transition_share``; no window crosses the block's end;
5. reject each window for the first reason that applies, in this order:
   a bad channel in the recording, a ``BAD_*`` annotation, a plateau,
   clipping, peak-to-peak amplitude above ``max_ptp_uv`` (filtered signal).

Every block's windows are counted by outcome; :func:`quality_summary` turns
the counts into the quality table and lists the blocks, sessions and
participants whose kept share is below ``min_kept`` (35% by default, as in
the study), which are then excluded. The share of a session or participant
is the mean share of its blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field

import mne
import numpy as np
import pandas as pd
import scipy.signal

from eeg4students._numbers import within
from eeg4students.errors import EEG4StudentsError
from eeg4students.events import task_blocks
from eeg4students.names import HOP_RANGE, MAX_CHANNELS, MAX_FREQ, WINDOW_RANGE
from eeg4students.quality import at_rail, device_model, plateau_mask, rail_of

#: Rejection reasons, in the order they are tested.
REASONS = ("bad_channel", "bad_annotation", "plateau", "clipped", "amplitude")
#: Seconds of real signal read on each side of a block for the filters.
PAD_SECONDS = 5.0
#: Neighbouring blocks are read and filtered together up to this length (s).
CHUNK_SECONDS = 600.0
#: Line frequency assumed when neither the recording nor the options give one.
DEFAULT_LINE_FREQ = 50.0


class PreprocessError(EEG4StudentsError, ValueError):
    """Preprocessing cannot run on this recording with these settings."""


@dataclass(frozen=True)
class PreprocessParams:
    """Settings of the preprocessing step.

    Attributes
    ----------
    l_freq, h_freq : float
        Band-pass edges in Hz (default 1-40 Hz).
    filter_method : {"iir", "fir"}
        Zero-phase 4th-order Butterworth (fast) or MNE's default FIR.
    line_freq : float | None
        Mains frequency for the notch (50 or 60 Hz); None takes it from the
        recording, or assumes 50 Hz when the recording does not say.
    reference : {None, "average"}
        Keep the recording's reference, or re-reference to the average of the
        channels used.
    channels : tuple of str | None
        EEG channels to use; None uses every EEG channel of the recording.
    window, hop : float
        Window length and step in seconds.
    transition_share : float
        Share (0..1) of each block dropped at its start.
    plateau_seconds : float
        Minimum span (s) of a lost-contact plateau.
    plateau_tol_uv : float
        A channel whose values stay within this range (uV) is not moving.
    rail_uv : float | None
        Amplifier rail in uV; None takes it from the recording's device.
    max_ptp_uv : float | None
        Largest peak-to-peak amplitude (uV, filtered) of a kept window;
        None turns the test off. The default, 500 uV, catches gross movement
        on consumer headsets, whose dry frontal electrodes routinely swing
        200-300 uV; lower it (e.g. 150) for lab-grade gel EEG.
    min_kept : float
        Blocks, sessions and participants keeping a smaller share of their
        windows are excluded.
    """

    l_freq: float = 1.0
    h_freq: float = 40.0
    filter_method: str = "iir"
    line_freq: float | None = None
    reference: str | None = None
    channels: tuple[str, ...] | None = None
    window: float = 2.0
    hop: float = 1.0
    transition_share: float = 0.3
    plateau_seconds: float = 1.4
    plateau_tol_uv: float = 1.0
    rail_uv: float | None = None
    max_ptp_uv: float | None = 500.0
    min_kept: float = 0.35

    def __post_init__(self) -> None:
        numbers = {
            "l_freq": (self.l_freq, 0, MAX_FREQ),
            "h_freq": (self.h_freq, 0, MAX_FREQ),
            "line_freq": (self.line_freq, 1, MAX_FREQ),
            "window": (self.window, *WINDOW_RANGE),
            "hop": (self.hop, *HOP_RANGE),
            "transition_share": (self.transition_share, 0, 0.99),
            "plateau_seconds": (self.plateau_seconds, 0.01, 60),
            "plateau_tol_uv": (self.plateau_tol_uv, 0, 1e6),
            "rail_uv": (self.rail_uv, 1, 1e9),
            "max_ptp_uv": (self.max_ptp_uv, 1e-3, 1e9),
            "min_kept": (self.min_kept, 0, 1),
        }
        for name, (value, low, high) in numbers.items():
            if value is None and name in ("line_freq", "rail_uv", "max_ptp_uv"):
                continue
            if not within(value, low, high):
                raise PreprocessError(
                    f"Invalid preprocessing settings: {name} is {value!r}, not a number from "
                    f"{low:g} to {high:g}."
                )
        checks = [
            (self.l_freq < self.h_freq, f"band-pass {self.l_freq}-{self.h_freq} Hz is empty"),
            (self.filter_method in ("iir", "fir"), "filter method must be 'iir' or 'fir'"),
            (self.reference in (None, "average"), "reference must be None or 'average'"),
        ]
        for ok, problem in checks:
            if not ok:
                raise PreprocessError(f"Invalid preprocessing settings: {problem}.")
        if self.channels is not None:
            channels = tuple(self.channels)
            if not 1 <= len(channels) <= MAX_CHANNELS or not all(
                isinstance(c, str) and 0 < len(c.strip()) <= 64 and c.isprintable()
                for c in channels
            ):
                raise PreprocessError(
                    "Invalid preprocessing settings: give between 1 and "
                    f"{MAX_CHANNELS} channel names, none of them empty."
                )
            if len(set(channels)) != len(channels):
                raise PreprocessError("Invalid preprocessing settings: a channel is named twice.")
            object.__setattr__(self, "channels", channels)

    def as_dict(self) -> dict:
        """The settings as plain JSON-serialisable values."""
        values = asdict(self)
        values["channels"] = list(self.channels) if self.channels is not None else None
        return values


@dataclass
class Block:
    """One task block, filtered, with its windows and their fate.

    Attributes
    ----------
    task : str
        Task name.
    index : int
        0-based position of the block in the recording.
    onset, duration : float
        Block start (s from the recording's first sample) and length (s).
    sfreq : float
        Sampling rate (Hz).
    ch_names : list of str
        Channels of ``data``.
    data : ndarray, shape (n_channels, n_samples)
        Filtered signal in uV of the chunk holding the block (the block with at
        least ``PAD_SECONDS`` of signal on either side where the recording has
        it; neighbouring blocks may share one chunk).
    origin : int
        Recording sample index of ``data[:, 0]``.
    starts : ndarray of int, shape (n_windows,)
        Window start positions in ``data`` (samples).
    reasons : ndarray of int, shape (n_windows,)
        0 for kept windows, else 1 + index into :data:`REASONS`.
    """

    task: str
    index: int
    onset: float
    duration: float
    sfreq: float
    ch_names: list[str]
    data: np.ndarray
    origin: int
    starts: np.ndarray
    reasons: np.ndarray = field(default_factory=lambda: np.zeros(0, dtype=np.int8))

    @property
    def kept(self) -> np.ndarray:
        """Boolean mask of kept windows."""
        return self.reasons == 0

    def counts(self) -> dict:
        """Windows in the block, kept, and rejected per reason."""
        out = {"n_windows": len(self.reasons), "kept": int(self.kept.sum())}
        for i, reason in enumerate(REASONS, start=1):
            out[reason] = int((self.reasons == i).sum())
        return out


def _counts(mask: np.ndarray) -> np.ndarray:
    """Running count of set samples, with a leading zero: windows test in O(1)."""
    return np.concatenate([[0], np.cumsum(mask, dtype=np.int64)])


def _annotation_mask(raw: mne.io.BaseRaw, origin: int, n: int) -> np.ndarray:
    """Samples of ``[origin, origin + n)`` covered by ``BAD_*`` annotations."""
    mask = np.zeros(n, dtype=bool)
    ann = raw.annotations
    offset = raw.first_time if ann.orig_time is not None else 0.0
    sfreq = raw.info["sfreq"]
    for onset, duration, desc in zip(ann.onset, ann.duration, ann.description, strict=True):
        if not desc.upper().startswith("BAD"):
            continue
        start = int(np.floor((onset - offset) * sfreq)) - origin
        stop = int(np.ceil((onset - offset + duration) * sfreq)) - origin
        mask[max(start, 0) : max(min(stop, n), 0)] = True
    return mask


def _line_freq(raw: mne.io.BaseRaw, params: PreprocessParams) -> float:
    if params.line_freq is not None:
        return float(params.line_freq)
    return float(raw.info.get("line_freq") or DEFAULT_LINE_FREQ)


def resolve_channels(raw: mne.io.BaseRaw, params: PreprocessParams) -> list[str]:
    """Return the EEG channels to use, checking a requested list against the recording."""
    eeg = [raw.ch_names[i] for i in mne.pick_types(raw.info, eeg=True, exclude=[])]
    if params.channels is None:
        if not eeg:
            raise PreprocessError("The recording has no EEG channels.")
        return eeg
    missing = [ch for ch in params.channels if ch not in eeg]
    if missing:
        raise PreprocessError(
            f"Channel {missing[0]!r} is not an EEG channel of the recording "
            f"(it has {', '.join(eeg)}); fix the channel list."
        )
    return list(params.channels)


def check_recording(raw: mne.io.BaseRaw, params: PreprocessParams) -> pd.DataFrame:
    """Check that a recording can be preprocessed with ``params``; return its blocks.

    Raises
    ------
    PreprocessError
        If it has no task blocks or the band-pass reaches Nyquist. Blocks too
        short for one window are not an error: they yield no windows and are
        listed as excluded.
    """
    sfreq = raw.info["sfreq"]
    if params.h_freq >= sfreq / 2:
        raise PreprocessError(
            f"The band-pass upper edge {params.h_freq} Hz is at or above Nyquist "
            f"({sfreq / 2:g} Hz for {sfreq:g} Hz sampling); lower it."
        )
    blocks = task_blocks(raw)
    if blocks.empty:
        raise PreprocessError(
            "The recording has no task annotations (task/<Name>); import it with --task "
            "so the whole file is one block, or add the block markers."
        )
    return blocks


def _chunks(spans: list[tuple[int, int]], limit: int) -> list[list[int]]:
    """Group consecutive block spans (sample ranges) into chunks of at most ``limit`` samples."""
    groups: list[list[int]] = []
    for i, (start, stop) in enumerate(spans):
        if groups and stop - spans[groups[-1][0]][0] <= limit and start <= spans[i - 1][1]:
            groups[-1].append(i)
        else:
            groups.append([i])
    return groups


def iter_blocks(raw: mne.io.BaseRaw, params: PreprocessParams) -> Iterator[Block]:
    """Filter each task block, cut it into windows and decide which to keep.

    Neighbouring blocks are read and filtered together in chunks of at most
    ``CHUNK_SECONDS``, so a long recording is never in memory at once and
    short blocks do not each pay the filters' start-up cost.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        A recording with ``task/<Name>`` annotations (loaded or not).
    params : PreprocessParams
        The settings.

    Yields
    ------
    block : Block
        Each block in time order, with filtered data, window starts and the
        reason code of every window.
    """
    blocks = check_recording(raw, params)
    channels = resolve_channels(raw, params)
    sfreq = raw.info["sfreq"]
    win = round(params.window * sfreq)
    hop = round(params.hop * sfreq)
    pad = int(PAD_SECONDS * sfreq)
    rail = params.rail_uv or rail_of(device_model(raw))
    bad_channel = any(ch in raw.info["bads"] for ch in channels)
    filters = design_filters(sfreq, params, _line_freq(raw, params))
    bounds = [
        (round(b.onset * sfreq), min(round((b.onset + b.duration) * sfreq), raw.n_times))
        for b in blocks.itertuples()
    ]
    spans = [(max(first - pad, 0), min(last + pad, raw.n_times)) for first, last in bounds]
    for group in _chunks(spans, int(CHUNK_SECONDS * sfreq)):
        origin, stop = spans[group[0]][0], spans[group[-1]][1]
        data = raw.get_data(picks=channels, start=origin, stop=stop) * 1e6
        masks = [
            np.full(data.shape[1], bad_channel),
            _annotation_mask(raw, origin, data.shape[1]),
            plateau_mask(data, sfreq, params.plateau_seconds, params.plateau_tol_uv),
            at_rail(data, rail).any(axis=0) if rail else None,
        ]
        counts = [None if m is None else _counts(m) for m in masks]
        data = filters.apply(data)
        for index in group:
            first, last = bounds[index]
            begin = first + math.ceil(params.transition_share * (last - first))
            starts = np.arange(begin, last - win + 1, hop, dtype=np.int64) - origin
            yield Block(
                task=blocks["task"].iloc[index],
                index=index,
                onset=float(blocks["onset"].iloc[index]),
                duration=float(blocks["duration"].iloc[index]),
                sfreq=sfreq,
                ch_names=channels,
                data=data,
                origin=origin,
                starts=starts,
                reasons=_reasons(data, starts, win, counts, params.max_ptp_uv),
            )


def _reasons(
    data: np.ndarray,
    starts: np.ndarray,
    win: int,
    counts: Sequence[np.ndarray | None],
    max_ptp_uv: float | None,
) -> np.ndarray:
    """Reason code of each window: the first sample mask it touches, then amplitude."""
    reasons = np.zeros(len(starts), dtype=np.int8)
    if not len(starts):
        return reasons
    for code, count in enumerate(counts, start=1):
        if count is not None:
            hit = (count[starts + win] > count[starts]) & (reasons == 0)
            reasons[hit] = code
    if max_ptp_uv is not None:
        windows = np.lib.stride_tricks.sliding_window_view(data, win, axis=1)[:, starts]
        ptp = (windows.max(axis=2) - windows.min(axis=2)).max(axis=0)
        reasons[(ptp > max_ptp_uv) & (reasons == 0)] = REASONS.index("amplitude") + 1
    return reasons


@dataclass(frozen=True)
class Filters:
    """Filters designed once per sampling rate and applied to every block.

    Attributes
    ----------
    sos : ndarray, shape (n_sections, 6)
        Second-order sections run forward and backward (zero phase): the
        notches, and the Butterworth band-pass when ``fir`` is None.
    fir : ndarray | None
        MNE's linear-phase FIR band-pass, when asked for.
    average_reference : bool
        Subtract the mean of the channels after filtering.
    """

    sos: np.ndarray
    fir: np.ndarray | None
    average_reference: bool

    def apply(self, data: np.ndarray) -> np.ndarray:
        """Filter ``data`` (n_channels, n_samples), uV in and out, zero phase."""
        if len(self.sos):
            padlen = min(data.shape[1] - 1, 3 * (2 * len(self.sos) + 1))
            data = scipy.signal.sosfiltfilt(self.sos, data, axis=1, padlen=padlen)
        if self.fir is not None:
            data = scipy.signal.oaconvolve(data, self.fir[None, :], mode="same", axes=1)
        if self.average_reference:
            data = data - data.mean(axis=0, keepdims=True)
        return data


def design_filters(sfreq: float, params: PreprocessParams, line_freq: float) -> Filters:
    """Design the notch and band-pass filters for one sampling rate with MNE and SciPy.

    Parameters
    ----------
    sfreq : float
        Sampling rate in Hz.
    params : PreprocessParams
        Band-pass edges, filter method and reference.
    line_freq : float
        Mains frequency (Hz): it and its harmonics below Nyquist and below
        twice the low-pass edge are notched (quality factor 30, about 2 Hz
        wide at 50 Hz); higher harmonics are far into the low-pass stop band.

    Returns
    -------
    filters : Filters
    """
    sections = [
        scipy.signal.tf2sos(*scipy.signal.iirnotch(f, 30.0, fs=sfreq))
        for f in np.arange(line_freq, min(sfreq / 2 - 1, 2 * params.h_freq), line_freq)
    ]
    fir = None
    if params.filter_method == "iir":
        iir = {"order": 4, "ftype": "butter", "output": "sos"}
        designed = mne.filter.create_filter(
            None,
            sfreq,
            params.l_freq,
            params.h_freq,
            method="iir",
            iir_params=iir,
            verbose="error",
        )
        sections.append(designed["sos"])
    else:
        fir = mne.filter.create_filter(
            None, sfreq, params.l_freq, params.h_freq, method="fir", verbose="error"
        )
    sos = np.concatenate(sections) if sections else np.zeros((0, 6))
    return Filters(sos=sos, fir=fir, average_reference=params.reference == "average")


def quality_summary(blocks: pd.DataFrame, min_kept: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Aggregate window counts and decide what is excluded.

    Parameters
    ----------
    blocks : pandas.DataFrame
        One row per task block with ``participant``, ``session``, ``run``,
        ``task``, ``block``, ``n_windows``, ``kept`` and one count column per
        reason in :data:`REASONS`.
    min_kept : float
        Minimum share of windows a block, session or participant must keep.

    Returns
    -------
    blocks : pandas.DataFrame
        The input with ``share_kept`` and ``excluded`` (empty, or why: "block",
        "session" or "participant" below the minimum).
    excluded : pandas.DataFrame
        One row per excluded unit: ``level``, ``participant``, ``session``,
        ``block``, ``share_kept``.
    """
    table = blocks.copy()
    table["share_kept"] = table["kept"] / table["n_windows"].clip(lower=1)
    table["excluded"] = ""
    listed = []
    for level, keys in (("participant", ["participant"]), ("session", ["participant", "session"])):
        # Every block weighs the same, so one recording with a long gap
        # cannot outweigh the rest of a session.
        share = table.groupby(keys)["share_kept"].mean()
        for key, value in share[share < min_kept].items():
            key = key if isinstance(key, tuple) else (key,)
            hit = np.logical_and.reduce([table[k] == v for k, v in zip(keys, key, strict=True)])
            table.loc[hit & (table["excluded"] == ""), "excluded"] = (
                f"{level} below {min_kept:.0%}"
            )
            listed.append(
                {"level": level, **dict(zip(keys, key, strict=True)), "share_kept": value}
            )
    low = (table["share_kept"] < min_kept) & (table["excluded"] == "")
    table.loc[low, "excluded"] = np.where(
        table.loc[low, "n_windows"] == 0,
        "block too short for one window",
        f"block below {min_kept:.0%}",
    )
    for row in table[low].itertuples():
        listed.append(
            {
                "level": "block",
                "participant": row.participant,
                "session": row.session,
                "block": row.block,
                "share_kept": row.share_kept,
            }
        )
    excluded = pd.DataFrame(
        listed, columns=["level", "participant", "session", "block", "share_kept"]
    )
    return table, excluded
