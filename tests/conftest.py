"""Shared fixtures: writers for every supported file format, and the real data folder."""

from __future__ import annotations

import os
import queue
import threading
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("EEG4STUDENTS_SHARED_DATA", REPO.parent / "shared" / "data"))
MUSE_DIR = SHARED_DATA / "muse-mental-state"
OPENBCI_DIR = SHARED_DATA / "openbci-gui-samples"

MUSE = ("TP9", "AF7", "AF8", "TP10")

# Commands under test write no progress lines (their stderr is not a terminal), so that
# the tests of one-line errors read only errors; tests of progress set it back.
os.environ.setdefault("EEG4STUDENTS_PROGRESS", "off")


def require(folder: Path) -> Path:
    """Skip the test with a clear reason when a real-data folder is absent."""
    if not folder.is_dir():
        pytest.skip(
            f"real recordings not found at {folder} (set EEG4STUDENTS_SHARED_DATA to the "
            "shared/data folder to run this test)"
        )
    return folder


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(1234)


@pytest.fixture(scope="session")
def pair_class(tmp_path_factory) -> Path:
    """A simulated class of 2 participants x 2 sessions (15 s blocks), made once per worker.

    For tests that only read it (evaluate writes feature caches beside it,
    which later tests reuse); a test that changes a dataset simulates its own.
    """
    from eeg4students.simulate import simulate_to_dataset

    root = tmp_path_factory.mktemp("pair") / "class"
    simulate_to_dataset(root, 2, 2, seed=0, task_seconds=15, progress=False)
    return root


def muse_samples(rng: np.random.Generator, n: int = 2560) -> np.ndarray:
    """EEG-like values in uV at Muse resolution, shape (4, n)."""
    return np.round(rng.normal(0, 30, (4, n)) / 0.48828125) * 0.48828125


def write_muse_lsl(
    path: Path,
    data_uv: np.ndarray,
    timestamps: np.ndarray,
    markers: dict[int, str] | None = None,
) -> Path:
    """Write a muse-lsl ``record`` CSV."""
    header = "timestamps,TP9,AF7,AF8,TP10,Right AUX"
    if markers is not None:
        header += ",Marker0"
    lines = [header]
    for i, t in enumerate(timestamps):
        cells = [f"{t:.6f}", *(f"{v:.3f}" for v in data_uv[:, i]), "0.000"]
        if markers is not None:
            cells.append(markers.get(i, "0"))
        lines.append(",".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_mind_monitor(
    path: Path, data_uv: np.ndarray, start: float, elements: dict[int, str]
) -> Path:
    """Write a Mind Monitor CSV; ``elements`` maps a sample index to an event placed before it."""
    import pandas as pd

    bands = [f"{b}_{c}" for b in ("Delta", "Theta", "Alpha", "Beta", "Gamma") for c in MUSE]
    columns = [
        "TimeStamp",
        *bands,
        *(f"RAW_{c}" for c in MUSE),
        "AUX_RIGHT",
        "Accelerometer_X",
        "HeadBandOn",
        "Battery",
        "Elements",
    ]
    lines = [",".join(columns)]
    for i in range(data_uv.shape[1]):
        stamp = pd.Timestamp(start + i / 256.0, unit="s").strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        if i in elements:
            lines.append(",".join([stamp] + [""] * (len(columns) - 2) + [elements[i]]))
        raw = [f"{v:.3f}" for v in data_uv[:, i]]
        lines.append(",".join([stamp, *(["0.5"] * 20), *raw, "800.0", "0.01", "1", "80", ""]))
    path.write_text("\n".join(lines) + "\n")
    return path


def write_openbci(
    path: Path,
    data_uv: np.ndarray,
    *,
    sfreq: float = 250.0,
    v5: bool = True,
    board: str = "Cyton",
    start_ms: int = 1_557_936_053_329,
    index: np.ndarray | None = None,
    markers: dict[int, float] | None = None,
) -> Path:
    """Write an OpenBCI GUI recording, old format (``v5=False``) or v5."""
    n_ch, n = data_uv.shape
    index = np.arange(n) % 256 if index is None else index
    markers = markers or {}
    if v5:
        lines = [
            "%OpenBCI Raw EXG Data",
            f"%Number of channels = {n_ch}",
            f"%Sample Rate = {sfreq:g} Hz",
            f"%Board = OpenBCI_GUI$Board{board}Serial",
            ", ".join(
                ["Sample Index"]
                + [f"EXG Channel {i}" for i in range(n_ch)]
                + [f"Accel Channel {i}" for i in range(3)]
                + ["Timestamp", "Marker Channel", "Timestamp (Formatted)"]
            ),
        ]
    else:
        lines = [
            "%OpenBCI Raw EEG Data",
            f"%Number of channels = {n_ch}",
            f"%Sample Rate = {sfreq:.1f} Hz",
            "%First Column = SampleIndex",
            "%Last Column = Timestamp ",
            "%Other Columns = EEG data in microvolts followed by Accel Data (in G) interleaved "
            "with Aux Data",
        ]
    for i in range(n):
        ms = start_ms + int(i * 1000 / sfreq)
        cells = [str(int(index[i])), *(f"{v:.2f}" for v in data_uv[:, i]), "0.0", "0.0", "0.0"]
        if v5:
            cells += [str(ms), f"{markers.get(i, 0.0):g}", "12:00:53.329"]
        else:
            cells += ["12:00:53.329", str(ms)]
        lines.append(", ".join(cells))
    path.write_text("\n".join(lines) + "\n")
    return path


class Lines:
    """The lines of a subprocess's stream, read by a thread, waited for by content.

    Tests that drive another process wait for a line it prints (a readiness
    signal), never for a fixed time.
    """

    def __init__(self, stream) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(stream,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self.lines.put(line)

    def wait_for(self, text: str, timeout: float = 300.0) -> None:
        """Block until a line containing ``text`` was printed."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.seen):
            left = deadline - time.monotonic()
            assert left > 0, f"no line with {text!r} after {timeout:g} s: {self.seen[-5:]}"
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                continue

    def text(self) -> str:
        """Everything read so far (drains what is queued)."""
        while not self.lines.empty():
            self.seen.append(self.lines.get())
        return "".join(self.seen)


def wait_for_file(path: Path, timeout: float = 300.0) -> None:
    """Block until ``path`` exists (a readiness signal written by another process)."""
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} did not appear within {timeout:g} s"
        time.sleep(0.05)


def pytest_collection_modifyitems(items) -> None:
    """Group tests for ``pytest -n 3 --dist loadgroup``: one group per file (module
    fixtures are built once), except the notebooks, each of which is its own group so
    that the slowest tests spread over the workers."""
    for item in items:
        if "xdist_group" in item.keywords:
            continue
        group = item.nodeid.split("::")[0]
        if group.endswith("test_notebooks.py") and hasattr(item, "callspec"):
            group += ":" + item.callspec.id
        item.add_marker(pytest.mark.xdist_group(group))
