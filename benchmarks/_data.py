"""Data the benchmarks share: the real Muse recordings as a dataset."""

from __future__ import annotations

import os
from pathlib import Path

from eeg4students.io import read_recording
from eeg4students.store import Dataset

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EEG4STUDENTS_SHARED_DATA", REPO.parent / "shared" / "data"))


def real_dataset(root: Path) -> Dataset | None:
    folder = SHARED / "muse-mental-state"
    if not folder.is_dir():
        print(f"(real recordings not found at {folder}: skipped)")
        return None
    dataset = Dataset.create(root)
    for path in sorted(folder.glob("subject*-*-*.csv")):
        subject, state, day = path.stem.split("-")
        raw = read_recording(path)
        raw.annotations.append(raw.first_time, raw.times[-1], f"task/{state}")
        dataset.add_recording(raw, subject[-1], day, state, source=path, source_format="muse-lsl")
    return dataset
