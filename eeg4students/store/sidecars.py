"""The JSON sidecars of a dataset, and reading a stored recording back.

Each recording has mne-bids' ``*_eeg.json`` (BIDS: sampling rate, channel
counts, the task's description from the protocol, the device's maker) and
the toolkit's ``*_eeg4students.json`` (what it learned at import or
recording: the source file's SHA-256, device, gaps, clipping, bad channels,
reader notes, an interruption). Both are read as untrusted JSON
(:mod:`eeg4students._json`), naming the file when one is damaged.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Sequence
from pathlib import Path

import mne
from mne_bids import BIDSPath, read_raw_bids

from eeg4students import __version__
from eeg4students import _json as limited_json
from eeg4students._compat import unlocked
from eeg4students._files import atomic_write_json, atomic_write_text
from eeg4students.errors import DatasetError, RecordingFormatError, first_line
from eeg4students.io.mne_formats import brainvision_files
from eeg4students.store.paths import BIDSIGNORE, meta_path

#: Where datasets written by earlier versions kept the toolkit's facts (still read).
_LEGACY_META_KEY = "EEG4Students"
#: BIDS keys of ``*_eeg.json`` that describe the task (filled from a protocol).
TASK_FIELDS = ("TaskDescription", "Instructions")

_MANUFACTURERS = {
    "muse": "Interaxon",
    "muse_2": "Interaxon",
    "muse_s": "Interaxon",
    "muse_2016": "Interaxon",
    "cyton": "OpenBCI",
    "cyton_daisy": "OpenBCI",
    "ganglion": "OpenBCI",
    "simulated": "eeg4students (simulated)",
}


def read_meta(vhdr: Path, sidecar: dict | None = None) -> dict:
    """What the toolkit learned of a recording at import or recording.

    Parameters
    ----------
    vhdr : Path
        The recording's ``*_eeg.vhdr``.
    sidecar : dict | None
        Its ``*_eeg.json`` already read: datasets made by earlier versions kept the
        facts there, under ``EEG4Students``.

    Returns
    -------
    meta : dict
        Device, source file hash, gaps, clipping, bad channels, reader
        notes, interruption... (empty for a recording without them).

    Raises
    ------
    DatasetError
        If the file is damaged.
    """
    path = meta_path(vhdr)
    if path.is_file():
        return read_sidecar(path)
    legacy = (sidecar or {}).get(_LEGACY_META_KEY, {})
    return legacy if isinstance(legacy, dict) else {}


def read_sidecar(path: Path) -> dict:
    """Read a JSON sidecar of the dataset, naming the file if it is missing or damaged.

    Parameters
    ----------
    path : Path
        The ``.json`` file.

    Returns
    -------
    content : dict

    Raises
    ------
    DatasetError
        If the file is missing, is not JSON, or is not a JSON object.
    """
    if not path.is_file():
        raise DatasetError(
            f"{path} is missing; re-import the recording or restore the file from a backup."
        )
    return limited_json.read_object(
        path,
        error=DatasetError,
        message="{path} is damaged ({why}); re-import the recording or restore the file from "
        "a backup.",
    )


def write_sidecar_extras(
    vhdr: Path, meta: dict, task_fields: dict[str, str] | None = None
) -> None:
    """Add the device's maker and the task's fields to ``*_eeg.json``; write the toolkit's facts.

    Parameters
    ----------
    vhdr : Path
        The recording's header (mne-bids has written its sidecar).
    meta : dict
        What the toolkit learned of the recording (its ``device`` names the maker).
    task_fields : dict | None
        ``TaskDescription`` and ``Instructions`` (:data:`TASK_FIELDS`).
    """
    sidecar = vhdr.with_suffix(".json")
    content = limited_json.loads(sidecar.read_text(encoding="utf-8"))
    device = meta.get("device")
    if device:
        content["Manufacturer"] = _MANUFACTURERS.get(device, "n/a")
        content["ManufacturersModelName"] = device
    content.update(task_fields or {})
    content.pop(_LEGACY_META_KEY, None)
    atomic_write_json(sidecar, content)
    atomic_write_json(meta_path(vhdr), meta)


@contextlib.contextmanager
def without_subject_info(raw: mne.io.BaseRaw):
    """Hide the file header's subject fields (name, birthday, sex) while writing."""
    saved = raw.info.get("subject_info")
    with unlocked(raw.info):
        raw.info["subject_info"] = None
    try:
        yield
    finally:
        with unlocked(raw.info):
            raw.info["subject_info"] = saved


def open_recording(bids_path: BIDSPath, *, preload: bool = True) -> mne.io.BaseRaw:
    """Open a stored recording with its sidecars, checking what could be damaged.

    Parameters
    ----------
    bids_path : mne_bids.BIDSPath
        The recording (its ``.vhdr``) under a BIDS root.
    preload : bool
        Load the samples into memory.

    Returns
    -------
    raw : mne.io.BaseRaw
        EEG in volts, annotations from ``events.tsv``, bad channels from
        ``channels.tsv``, the device from the sidecar.

    Raises
    ------
    DatasetError
        If the sidecar is missing or damaged, the header names files outside
        its folder or missing files, the data file is shorter or longer than
        the sidecar says, or MNE cannot parse the files.
    """
    vhdr = bids_path.fpath
    sidecar = read_sidecar(vhdr.with_suffix(".json"))
    meta = read_meta(vhdr, sidecar)
    try:
        files = brainvision_files(vhdr)
        _check_size(vhdr, files["DataFile"], sidecar)
        raw = read_raw_bids(bids_path, verbose="error")
        _check_length(raw, sidecar, vhdr)
        if preload:
            raw.load_data(verbose="error")
    except RecordingFormatError as exc:
        raise DatasetError(f"{exc} Re-import the recording or restore it.") from exc
    except Exception as exc:  # any failure to parse damaged files is the same fault
        raise DatasetError(
            f"{vhdr}: the recording or its sidecars (events, channels) cannot be read "
            f"({first_line(exc)}); re-import it or restore its files from a backup."
        ) from exc
    if isinstance(meta, dict) and meta.get("device"):
        with unlocked(raw.info):
            raw.info["device_info"] = {"model": str(meta["device"])}
    return raw


#: Bytes per sample of a BrainVision binary format.
_SAMPLE_BYTES = {"IEEE_FLOAT_32": 4, "INT_16": 2, "INT_32": 4}


def _check_size(vhdr: Path, data_file: Path, sidecar: dict) -> None:
    """Refuse a data file whose size is not the samples the sidecar says, before parsing it.

    A truncated file would otherwise fail inside MNE's reader, with a message
    that differs between MNE versions.
    """
    duration, sfreq = sidecar.get("RecordingDuration"), sidecar.get("SamplingFrequency")
    header = vhdr.read_bytes().decode("latin-1")
    channels = re.search(r"^NumberOfChannels=(\d{1,6})\s*$", header, re.M)
    binary = re.search(r"^BinaryFormat=(\w+)\s*$", header, re.M)
    width = _SAMPLE_BYTES.get(binary[1]) if binary else None
    if not (isinstance(duration, int | float) and isinstance(sfreq, int | float)):
        return
    if channels is None or width is None or int(channels[1]) == 0:
        return
    expected = round(duration * sfreq) + 1
    held = data_file.stat().st_size / (int(channels[1]) * width)
    if abs(held - expected) > 1:
        raise RecordingFormatError(
            vhdr,
            f"its data file holds {held:.0f} samples but the sidecar says {expected}: the "
            "data file was truncated or replaced",
        )


def _check_length(raw: mne.io.BaseRaw, sidecar: dict, vhdr: Path) -> None:
    """Refuse a data file shorter or longer than its sidecar says (truncated or replaced)."""
    duration = sidecar.get("RecordingDuration")
    if not isinstance(duration, int | float):
        return
    expected = round(duration * raw.info["sfreq"]) + 1
    if abs(raw.n_times - expected) > 1:
        raise RecordingFormatError(
            vhdr,
            f"its data file holds {raw.n_times} samples but the sidecar says {expected}: the "
            "data file was truncated or replaced",
        )


def describe_dataset(
    root: Path,
    *,
    name: str | None = None,
    authors: Sequence[str] | None = None,
    license: str | None = None,
) -> dict:
    """Set a dataset's name, authors and licence in ``dataset_description.json``.

    See :meth:`eeg4students.store.Dataset.describe` (which holds the lock).
    """
    path = Path(root) / "dataset_description.json"
    content = read_sidecar(path)
    if name is not None:
        if not name.strip():
            raise DatasetError("The dataset's name is empty; give a name.")
        content["Name"] = name.strip()
    if authors is not None:
        cleaned = [a.strip() for a in authors]
        if any(not a for a in cleaned):
            raise DatasetError("An author's name is empty; give each --author a name.")
        if cleaned:
            content["Authors"] = cleaned
        else:
            content.pop("Authors", None)
    if license is not None:
        if not license.strip():
            raise DatasetError("The licence is empty; give e.g. --license CC-BY-4.0.")
        content["License"] = license.strip()
    tools = [g for g in content.get("GeneratedBy", []) if g.get("Name") != "eeg4students"]
    content["GeneratedBy"] = [
        {
            "Name": "eeg4students",
            "Version": __version__,
            "Description": "EEG4Students protocol recordings, imports and simulations",
        },
        *tools,
    ]
    atomic_write_json(path, content)
    return content


def drop_placeholder_authors(root: Path) -> None:
    """Remove the ``[Unspecified]`` authors mne-bids adds when a dataset names none."""
    path = Path(root) / "dataset_description.json"
    content = read_sidecar(path)
    authors = content.get("Authors")
    if (
        isinstance(authors, list)
        and authors
        and all(isinstance(a, str) and a.startswith("[Unspecified") for a in authors)
    ):
        del content["Authors"]
        atomic_write_json(path, content)


def ensure_bidsignore(root: Path) -> None:
    """List the toolkit's own files in ``.bidsignore`` (kept lines of the user stay)."""
    path = Path(root) / ".bidsignore"
    lines = path.read_text(encoding="utf-8").splitlines() if path.is_file() else []
    missing = [line for line in BIDSIGNORE if line not in lines]
    if missing:
        atomic_write_text(path, "\n".join([*lines, *missing]) + "\n")
