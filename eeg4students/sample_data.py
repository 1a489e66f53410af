"""The real sample recordings shipped with the toolkit (installed with it).

Two small recordings under permissive licences, so a new user, a test or the
demo has real EEG without anything beside the package: a Muse recording by
muse-lsl (BSD-3-Clause) and an OpenBCI Cyton recording by the OpenBCI GUI
(MIT). Their provenance is in ``samples/README.md``, their SHA-256 in
``samples/SHA256SUMS``.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from eeg4students.errors import EEG4StudentsError

#: The folder of the sample recordings inside the installed package.
SAMPLES_DIR = Path(str(resources.files("eeg4students") / "samples"))


@dataclass(frozen=True)
class Sample:
    """One sample recording: where it is and the labels the demo imports it under."""

    path: str
    participant: str
    task: str
    licence: str


#: The sample recordings, with the labels used by the demo, notebook 02 and the README.
SAMPLES = (
    Sample("muse-lsl/data_2017-09-27-14.50.29.csv", "lsl1", "ssaep", "LICENSE-muse-lsl.txt"),
    Sample(
        "openbci-gui/OpenBCI_GUI-v6-blinks-jawClench-alpha.txt",
        "obci1",
        "artifacts",
        "LICENSE-OpenBCI_GUI.txt",
    ),
)


def _checksums() -> dict[str, str]:
    lines = (SAMPLES_DIR / "SHA256SUMS").read_text(encoding="utf-8").splitlines()
    return {name.strip(): digest for digest, name in (line.split(maxsplit=1) for line in lines)}


def copy_samples(out: str | Path) -> list[Path]:
    """Copy the sample recordings, their licences and provenance into a folder.

    Each file's SHA-256 is checked against ``SHA256SUMS`` first.

    Parameters
    ----------
    out : str | Path
        The folder (created); the files keep their sub-folders
        (``muse-lsl/``, ``openbci-gui/``).

    Returns
    -------
    recordings : list of Path
        The copied recordings, in the order of :data:`SAMPLES`.

    Raises
    ------
    EEG4StudentsError
        If ``out`` is a file, or a shipped file does not match its checksum
        (a damaged installation: reinstall the package).
    """
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise EEG4StudentsError(f"{out} is a file; give a folder to copy the samples into.")
    sums = _checksums()
    copied = []
    for sample in SAMPLES:
        source = SAMPLES_DIR / sample.path
        digest = hashlib.sha256(source.read_bytes()).hexdigest()
        if sums.get(sample.path) != digest:
            raise EEG4StudentsError(
                f"The shipped sample {source} does not match its SHA-256; reinstall eeg4students."
            )
        target = out / sample.path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        shutil.copyfile(source.parent / sample.licence, target.parent / sample.licence)
        copied.append(target)
    for name in ("README.md", "SHA256SUMS"):
        shutil.copyfile(SAMPLES_DIR / name, out / name)
    return copied
