"""EDF, BDF, BrainVision and FIF recordings, read by MNE.

A BrainVision header names its data and marker files; a header is untrusted
input, so those names must be plain file names beside the header
(:func:`brainvision_files`): a header cannot make the toolkit read
``/etc/passwd`` or a file in another folder as EEG.
"""

from __future__ import annotations

import re
from pathlib import Path

import mne
import mne_bids
import numpy as np

from eeg4students.errors import RecordingFormatError, first_line
from eeg4students.io._table import check_file

#: Largest BrainVision header read (bytes); real headers are a few kB.
MAX_HEADER_BYTES = 1024 * 1024
_HEADER_FILE_RE = re.compile(r"^\s*(DataFile|MarkerFile)\s*=\s*(.*?)\s*$", re.MULTILINE)

_READERS = {
    "edf": mne.io.read_raw_edf,
    "bdf": mne.io.read_raw_bdf,
    "brainvision": mne.io.read_raw_brainvision,
    "fif": mne.io.read_raw_fif,
}


def brainvision_files(vhdr: str | Path) -> dict[str, Path]:
    """The data and marker files a BrainVision header names, checked to sit beside it.

    Parameters
    ----------
    vhdr : str | Path
        The ``.vhdr`` header.

    Returns
    -------
    files : dict
        ``{"DataFile": path, "MarkerFile": path}`` (the marker file only if named).

    Raises
    ------
    RecordingFormatError
        If the header is unreadable or too large, names no data file, names a
        file in another folder (a path, ``..``, a drive), or names a file
        that does not exist.
    """
    vhdr = Path(vhdr)
    check_file(vhdr)
    if vhdr.stat().st_size > MAX_HEADER_BYTES:
        raise RecordingFormatError(vhdr, "is too large to be a BrainVision header")
    text = vhdr.read_bytes().decode("latin-1")
    files = {}
    for key, value in _HEADER_FILE_RE.findall(text):
        if key in files:
            raise RecordingFormatError(vhdr, f"names its {key} twice")
        name = Path(value).name
        if not value or value != name or value in (".", "..") or ":" in value or "\\" in value:
            raise RecordingFormatError(
                vhdr,
                f"its {key} is {value!r}, which is not a file beside the header; a header may "
                "only name files in its own folder (keep .vhdr, .vmrk and .eeg together)",
            )
        target = vhdr.parent / name
        if not target.is_file():
            raise RecordingFormatError(vhdr, f"its {key} {name!r} is missing beside the header")
        if target.resolve().parent != vhdr.parent.resolve():
            raise RecordingFormatError(
                vhdr, f"its {key} {name!r} is a link to another folder; copy the file instead"
            )
        files[key] = target
    if "DataFile" not in files:
        raise RecordingFormatError(vhdr, "names no DataFile; is this a BrainVision header?")
    return files


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
    if fmt == "brainvision":
        brainvision_files(path)
    stem = path.name.rsplit("_", 1)[0]
    if (
        fmt == "brainvision"
        and path.name.startswith("sub-")
        and not options
        and (path.with_name(f"{stem}_events.tsv").is_file())
    ):
        # A recording inside a BIDS dataset: its annotations and bad channels live in
        # the events and channels sidecars, which mne-bids reads.
        try:
            bids_path = mne_bids.get_bids_path_from_fname(path)
            raw = mne_bids.read_raw_bids(bids_path, verbose="error")
            return raw.load_data(verbose="error")
        except Exception as exc:  # a damaged file or sidecar, whatever the parser hit
            raise RecordingFormatError(
                path, f"mne-bids cannot read it or its sidecars: {first_line(exc)}"
            ) from exc
    try:
        raw = _READERS[fmt](path, preload=True, verbose="error", **options)
    except TypeError as exc:
        if options:
            raise RecordingFormatError(
                path, f"the {fmt} reader does not take these options ({first_line(exc)})"
            ) from exc
        raise RecordingFormatError(path, f"MNE cannot read it as {fmt.upper()}") from exc
    except Exception as exc:  # a damaged file, whatever the parser hit
        reason = first_line(exc)
        raise RecordingFormatError(path, f"MNE cannot read it as {fmt.upper()}: {reason}") from exc
    if fmt == "brainvision":
        # BrainVision stores free-text markers as type "Comment"; MNE prefixes
        # that type to the text. The text alone is the annotation that was written.
        prefix = "Comment/"
        raw.annotations.description = np.array(
            [d[len(prefix) :] if d.startswith(prefix) else d for d in raw.annotations.description]
        )
    return raw
