"""Band-power features of preprocessed windows, and the feature table.

For each kept window the power spectral density is Welch's estimate
(Hann segments of ``segment`` seconds, 50% overlap, mean over segments,
one-sided density in uV^2/Hz, as ``scipy.signal.welch``). Band power is the
PSD summed over the bins in ``[lo, hi)`` times the bin width (uV^2); the
features are its base-10 logarithm, named ``<channel>_<band>``. Options add
relative power (``<channel>_<band>_rel``: band over the sum of all bands)
and log ratios between bands (``<channel>_<a>_<b>_ratio``).

Windows overlap, and so do Welch segments: when window starts fall on the
segment grid (the default 2 s windows, 1 s hop and 1 s segments do), each
segment's periodogram is computed once per block and averaged into every
window that contains it, which gives exactly the per-window Welch estimate
at a fraction of the cost.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
import scipy.signal

from eeg4students.errors import EEG4StudentsError
from eeg4students.preprocess import Block

DEFAULT_BANDS = (
    ("delta", 1.0, 4.0),
    ("theta", 4.0, 8.0),
    ("alpha", 8.0, 13.0),
    ("beta", 13.0, 30.0),
    ("gamma", 30.0, 40.0),
)
META_COLUMNS = (
    "participant",
    "session",
    "run",
    "task",
    "recording",
    "block",
    "start",
    "block_time",
)


#: Most frequency bands.
MAX_BANDS = 32


class FeatureError(EEG4StudentsError, ValueError):
    """Feature settings that cannot work."""


@dataclass(frozen=True)
class FeatureParams:
    """Settings of the band-power features.

    Attributes
    ----------
    bands : tuple of (name, lo, hi)
        Frequency bands in Hz, half-open ``[lo, hi)``.
    relative : bool
        Add relative band power (band / sum of bands).
    ratios : tuple of (band, band)
        Add ``log10(power_a / power_b)`` per channel, e.g. ``("theta", "beta")``.
    segment : float
        Welch segment length in seconds (50% overlap).
    covariance : bool
        Add the spatial covariance of each window (``cov_<a>_<b>``, the upper
        triangle with the diagonal, uV^2, Oracle Approximating Shrinkage) for
        the Riemannian models (``tslr``, ``mdm``).
    """

    bands: tuple[tuple[str, float, float], ...] = DEFAULT_BANDS
    relative: bool = False
    ratios: tuple[tuple[str, str], ...] = ()
    segment: float = 1.0
    covariance: bool = False

    def __post_init__(self) -> None:
        bands = tuple((str(n), float(lo), float(hi)) for n, lo, hi in self.bands)
        ratios = tuple((str(a), str(b)) for a, b in self.ratios)
        object.__setattr__(self, "bands", bands)
        object.__setattr__(self, "ratios", ratios)
        names = [n for n, _, _ in bands]
        if not bands or len(set(names)) != len(names):
            raise FeatureError("Bands must be a non-empty list with distinct names.")
        if len(bands) > MAX_BANDS or len(ratios) > MAX_BANDS**2:
            raise FeatureError(f"Give at most {MAX_BANDS} bands and as many ratios as pairs.")
        for name, lo, hi in bands:
            if not (math.isfinite(lo) and math.isfinite(hi) and 0 <= lo < hi <= 1000):
                raise FeatureError(
                    f"Band {name!r} {lo}-{hi} Hz is empty or out of range; give 0 <= lo < hi "
                    "<= 1000."
                )
            if not 0 < len(name) <= 32 or not name.isidentifier():
                raise FeatureError(f"Band name {name!r} must be a short word (letters, digits).")
        for a, b in ratios:
            if a not in names or b not in names:
                raise FeatureError(f"Ratio {a}/{b} names a band that is not defined ({names}).")
        if not (math.isfinite(self.segment) and 0.05 <= self.segment <= 60):
            raise FeatureError("The Welch segment length must be from 0.05 to 60 seconds.")

    def check(self, sfreq: float | None, window: float) -> None:
        """Raise if a band reaches Nyquist or the segment is longer than the window.

        ``sfreq`` None skips the Nyquist test (the rate is not known yet).
        """
        for name, _, hi in self.bands:
            if sfreq is not None and hi > sfreq / 2:
                raise FeatureError(
                    f"Band {name!r} reaches {hi:g} Hz, above Nyquist ({sfreq / 2:g} Hz at "
                    f"{sfreq:g} Hz sampling); lower its upper edge."
                )
        if self.segment > window:
            raise FeatureError(
                f"The Welch segment ({self.segment:g} s) is longer than the window "
                f"({window:g} s); use a longer window or a shorter segment."
            )

    def as_dict(self) -> dict:
        """The settings as plain JSON-serialisable values.

        ``covariance`` appears only when on, so the feature caches of settings
        made before it existed keep their key.
        """
        values = {
            k: [list(x) for x in v] if isinstance(v, tuple) else v for k, v in asdict(self).items()
        }
        if not values["covariance"]:
            del values["covariance"]
        return values


def feature_names(ch_names: list[str], params: FeatureParams) -> list[str]:
    """Column names of the features, in the order :func:`block_features` returns them."""
    bands = [name for name, _, _ in params.bands]
    names = [f"{ch}_{band}" for ch in ch_names for band in bands]
    if params.relative:
        names += [f"{ch}_{band}_rel" for ch in ch_names for band in bands]
    names += [f"{ch}_{a}_{b}_ratio" for ch in ch_names for a, b in params.ratios]
    if params.covariance:
        names += covariance_names(ch_names)
    return names


def covariance_names(ch_names: list[str]) -> list[str]:
    """``cov_<a>_<b>`` for the upper triangle (with the diagonal), row by row."""
    n = len(ch_names)
    return [f"cov_{ch_names[i]}_{ch_names[j]}" for i in range(n) for j in range(i, n)]


def window_covariances(block: Block, window: int) -> np.ndarray:
    """Spatial covariance of each kept window of a block (filtered signal, uV^2).

    Oracle Approximating Shrinkage (pyRiemann) keeps every matrix positive
    definite, also for windows shorter than the channel count would need.

    Returns
    -------
    covariances : ndarray, shape (n_kept, n_channels, n_channels)
    """
    from pyriemann.geometry.covariance import covariances

    starts = block.starts[block.kept]
    if not len(starts):
        n = len(block.ch_names)
        return np.zeros((0, n, n))
    windows = np.stack([block.data[:, s : s + window] for s in starts])
    return covariances(windows, estimator="oas")


def _bin_weights(freqs: np.ndarray, params: FeatureParams) -> np.ndarray:
    """Matrix (n_freqs, n_bands) that sums PSD bins into band powers."""
    df = freqs[1] - freqs[0]
    return np.stack([((freqs >= lo) & (freqs < hi)) * df for _, lo, hi in params.bands], axis=1)


def window_band_power(block: Block, params: FeatureParams, window: int) -> np.ndarray:
    """Band power of every window of a block.

    Parameters
    ----------
    block : Block
        Filtered block data (uV) and window starts.
    params : FeatureParams
        Bands and Welch segment length.
    window : int
        Window length in samples.

    Returns
    -------
    power : ndarray, shape (n_windows, n_channels, n_bands)
        Band power in uV^2.
    """
    starts = block.starts
    n_ch = block.data.shape[0]
    if len(starts) == 0:
        return np.zeros((0, n_ch, len(params.bands)))
    seg = min(round(params.segment * block.sfreq), window)
    step = seg - seg // 2
    welch = {"fs": block.sfreq, "window": "hann", "nperseg": seg, "noverlap": seg // 2}
    first = int(starts[0])
    aligned = (window - seg) % step == 0 and np.all((starts - first) % step == 0)
    if not aligned:
        windows = np.lib.stride_tricks.sliding_window_view(block.data, window, axis=1)[:, starts]
        freqs, psd = scipy.signal.welch(windows, **welch, axis=-1)
        return np.einsum("cwf,fb->wcb", psd, _bin_weights(freqs, params))
    span = block.data[:, first : int(starts[-1]) + window]
    freqs, _, psd = scipy.signal.spectrogram(span, **welch, scaling="density", mode="psd")
    seg_power = np.einsum("cfs,fb->scb", psd, _bin_weights(freqs, params))
    per_window = (window - seg) // step + 1
    cum = np.concatenate([np.zeros((1, *seg_power.shape[1:])), np.cumsum(seg_power, axis=0)])
    j = (starts - first) // step
    return (cum[j + per_window] - cum[j]) / per_window


def block_features(block: Block, params: FeatureParams, window: int) -> np.ndarray:
    """Features of the kept windows of a block.

    Returns
    -------
    features : ndarray, shape (n_kept, n_features)
        Columns as :func:`feature_names`.
    """
    power = window_band_power(block, params, window)[block.kept]
    floor = np.finfo(float).tiny
    log_power = np.log10(np.maximum(power, floor))
    n, n_ch, n_bands = power.shape
    parts = [log_power.reshape(n, n_ch * n_bands)]
    if params.relative:
        relative = power / np.maximum(power.sum(axis=2, keepdims=True), floor)
        parts.append(relative.reshape(n, n_ch * n_bands))
    if params.ratios:
        names = [n for n, _, _ in params.bands]
        index = [(names.index(a), names.index(b)) for a, b in params.ratios]
        ratio = np.stack([log_power[:, :, i] - log_power[:, :, j] for i, j in index], axis=2)
        parts.append(ratio.reshape(n, n_ch * len(index)))
    if params.covariance:
        upper = np.triu_indices(n_ch)
        parts.append(window_covariances(block, window)[:, upper[0], upper[1]])
    return np.concatenate(parts, axis=1)


def blocks_to_frames(
    blocks, params: FeatureParams, meta: dict, recording: str, window: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Features and window counts of a recording's blocks.

    Parameters
    ----------
    blocks : iterable of Block
        From :func:`eeg4students.preprocess.iter_blocks`.
    params : FeatureParams
        Feature settings.
    meta : dict
        ``participant``, ``session`` and ``run`` of the recording.
    recording : str
        Recording id, e.g. ``sub-p01_ses-1_task-eeg4students_run-1``.
    window : int
        Window length in samples.

    Returns
    -------
    features : pandas.DataFrame
        One row per kept window: :data:`META_COLUMNS` then the features.
    counts : pandas.DataFrame
        One row per block: metadata, ``onset``, ``duration`` and window counts.
    """
    values, tasks, block_ids, starts, times, counts = [], [], [], [], [], []
    names: list[str] = []
    for block in blocks:
        block_id = f"{recording}_blk-{block.index + 1:02d}"
        names = names or feature_names(block.ch_names, params)
        rows = block_features(block, params, window)
        start = (block.origin + block.starts[block.kept]) / block.sfreq
        values.append(rows)
        tasks.append(np.full(len(rows), block.task, dtype=object))
        block_ids.append(np.full(len(rows), block_id, dtype=object))
        starts.append(start)
        times.append(start - block.onset)
        counts.append(
            {
                **meta,
                "task": block.task,
                "recording": recording,
                "block": block_id,
                "onset": block.onset,
                "duration": block.duration,
                **block.counts(),
            }
        )
    n = sum(len(v) for v in values)
    columns = {
        "participant": np.full(n, meta["participant"], dtype=object),
        "session": np.full(n, meta["session"], dtype=object),
        "run": np.full(n, meta["run"]),
        "task": np.concatenate(tasks),
        "recording": np.full(n, recording, dtype=object),
        "block": np.concatenate(block_ids),
        "start": np.concatenate(starts),
        "block_time": np.concatenate(times),
    }
    matrix = np.concatenate(values) if values else np.zeros((0, len(names)))
    frame = pd.concat([pd.DataFrame(columns), pd.DataFrame(matrix, columns=names)], axis=1)
    return frame, pd.DataFrame(counts)
