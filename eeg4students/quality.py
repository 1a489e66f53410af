"""A first look at a recording's quality, taken when it enters the dataset.

This is what import and ``dataset info`` report (gaps, clipping, channels
that are flat or railed, short recordings) so that problems are seen, not
hidden. Window-level rejection for analysis lives in ``preprocess``.
"""

from __future__ import annotations

import mne
import numpy as np

from eeg4students.boards import RAIL_UV
from eeg4students.events import BAD_GAP

#: Rails of devices named by importers (``info["device_info"]["model"]``).
DEVICE_RAIL_UV = {"muse": 1000.0, "simulated": 1000.0, **RAIL_UV}


def device_model(raw: mne.io.BaseRaw) -> str | None:
    """Return the device model an importer stored in the recording, if any."""
    info = raw.info.get("device_info") or {}
    return info.get("model")


def recording_quality(raw: mne.io.BaseRaw) -> dict:
    """Summarise a recording's gaps, clipping and unusable channels.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording (EEG in volts).

    Returns
    -------
    quality : dict
        ``duration_s`` (float, s), ``n_gaps`` (int), ``gap_s`` (float, s
        lost in gaps), ``rail_uv`` (float or None), ``clipped_share``
        (dict channel -> share of samples within 0.1% of the rail, only
        channels with any), ``bad_channels`` (list of str).
    """
    ann = raw.annotations
    is_gap = ann.description == BAD_GAP
    rail = DEVICE_RAIL_UV.get(device_model(raw) or "")
    clipped = {}
    if rail:
        picks = mne.pick_types(raw.info, eeg=True, exclude=[])
        data_uv = raw.get_data(picks=picks) * 1e6
        shares = np.mean(np.abs(data_uv) >= 0.999 * rail, axis=1)
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
