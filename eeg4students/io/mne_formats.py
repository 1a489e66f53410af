"""EDF, BDF, BrainVision and FIF recordings, read by MNE."""

from __future__ import annotations

from pathlib import Path

import mne
import mne_bids
import numpy as np

from eeg4students.errors import RecordingFormatError
from eeg4students.io._table import check_file

_READERS = {
    "edf": mne.io.read_raw_edf,
    "bdf": mne.io.read_raw_bdf,
    "brainvision": mne.io.read_raw_brainvision,
    "fif": mne.io.read_raw_fif,
}


def read_with_mne(path: str | Path, fmt: str, **options) -> mne.io.BaseRaw:
    """Read an EDF, BDF, BrainVision (``.vhdr``) or FIF file with MNE.

    Parameters
    ----------
    path : str | Path
        The file (for BrainVision, the ``.vhdr`` header).
    fmt : {"edf", "bdf", "brainvision", "fif"}
        The format.
    **options
        Passed to the MNE reader (e.g. ``eog=...`` for EDF).

    Returns
    -------
    raw : mne.io.BaseRaw
        The recording, loaded into memory.
    """
    path = Path(path)
    check_file(path)
    stem = path.name.rsplit("_", 1)[0]
    if (
        fmt == "brainvision"
        and path.name.startswith("sub-")
        and not options
        and (path.with_name(f"{stem}_events.tsv").is_file())
    ):
        # A recording inside a BIDS dataset: its annotations and bad channels live in
        # the events and channels sidecars, which mne-bids reads.
        bids_path = mne_bids.get_bids_path_from_fname(path)
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
        return raw.load_data(verbose="error")
    try:
        raw = _READERS[fmt](path, preload=True, verbose="error", **options)
    except (ValueError, OSError, RuntimeError, KeyError, IndexError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise RecordingFormatError(path, f"MNE cannot read it as {fmt.upper()}: {reason}") from exc
    if fmt == "brainvision":
        # BrainVision stores free-text markers as type "Comment"; MNE prefixes
        # that type to the text. The text alone is the annotation that was written.
        prefix = "Comment/"
        raw.annotations.description = np.array(
            [d[len(prefix) :] if d.startswith(prefix) else d for d in raw.annotations.description]
        )
    return raw
