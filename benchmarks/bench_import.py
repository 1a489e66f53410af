"""Importing a folder of Muse CSVs in one command, against reading them.

The 24 real Muse recordings of ``../shared/data/muse-mental-state`` are
linked twice into a temporary folder (48 files, as
``{participant}{copy}-{task}-{session}.csv``). In one process this times:

- **read**: ``read_recording`` on every file (the floor: parsing the CSVs
  and putting the samples on the grid);
- **import**: ``eeg4students import FOLDER --to DS --pattern ...`` through
  the command's ``main`` (reading, checking, writing BIDS, sidecars and
  tables) into a fresh dataset; and the same with mne-bids as it is
  (``eeg4students._mne_bids_quick`` undone: a lock file per file written and
  the 10-05 montage read for every sidecar);
- the same two as whole processes, as a user runs them: ``python -c`` that
  imports the reader and reads every file, against the ``eeg4students
  import`` command (interpreter start and library imports included), as it
  runs by default (new participants written by forked workers, one per core
  up to 4) and with ``--n-jobs 1`` (everything in one process);
- for scale, the old way: one ``eeg4students import`` process per file, on
  the first 6 files, extrapolated to 48;
- where a recording's time goes in a one-process import (``--n-jobs 1``):
  reading it, storing it, and mne-bids' ``write_raw_bids`` within storing.

It prints each time and the ratios import / read (the issue's goal is at
most 1.5). The runs are repeated ``--repeat`` times in alternation; each
import is divided by the reading run just before it, and the median and
range of those ratios are printed (the machine is noisy: a ratio of two
runs minutes apart says little). Run it with::

    .venv/bin/python benchmarks/bench_import.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SHARED = Path(os.environ.get("EEG4STUDENTS_SHARED_DATA", HERE.parents[1] / "shared" / "data"))
PATTERN = "{participant}-{task}-{session}.csv"


def make_folder(folder: Path) -> list[Path]:
    """Link the 24 real recordings twice under new participant labels."""
    source = SHARED / "muse-mental-state"
    files = sorted(source.glob("subject*-*-*.csv"))
    if len(files) != 24:
        sys.exit(f"expected the 24 Muse recordings in {source}; set EEG4STUDENTS_SHARED_DATA")
    folder.mkdir(parents=True)
    out = []
    for copy in ("x", "y"):
        for path in files:
            target = folder / path.name.replace("subject", f"subject{copy}", 1)
            os.symlink(path, target)
            out.append(target)
    return out


def time_read(files: list[Path]) -> float:
    from eeg4students.io import read_recording

    start = time.perf_counter()
    for path in files:
        read_recording(path)
    return time.perf_counter() - start


def time_import(folder: Path, dataset: Path, *options: str) -> float:
    from eeg4students.cli import main

    shutil.rmtree(dataset, ignore_errors=True)
    start = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
        status = main(
            ["import", str(folder), "--to", str(dataset), "--pattern", PATTERN, *options]
        )
    elapsed = time.perf_counter() - start
    if status != 0:
        sys.exit("the import failed")
    return elapsed


@contextlib.contextmanager
def mne_bids_as_it_is():
    """Undo ``eeg4students._mne_bids_quick`` meanwhile: mne-bids' own locks and montage reads."""
    import mne_bids._fileio
    import mne_bids.write

    import eeg4students.store as store
    from eeg4students._mne_bids_quick import install

    install()
    locks = mne_bids._fileio._get_lock_context
    placement = mne_bids.write._infer_eeg_placement_scheme
    plain = [
        (mne_bids._fileio, "_get_lock_context", locks.__wrapped__),
        (mne_bids.write, "_infer_eeg_placement_scheme", placement.__wrapped__),
        (store.transaction, "quick_writes", contextlib.nullcontext),
    ]
    saved = [(module, name, getattr(module, name)) for module, name, _ in plain]
    for module, name, value in plain:
        setattr(module, name, value)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def time_per_recording(folder: Path, dataset: Path) -> dict[str, float]:
    """Milliseconds per recording of a one-process import: reading, storing, mne-bids' part."""
    import eeg4students.importing as importing
    import eeg4students.store as store

    spent = dict.fromkeys(("read", "store", "write_raw_bids"), 0.0)
    wrapped = [
        (importing, "_read"),
        (store.Dataset, "add_recording"),
        (store.dataset, "write_raw_bids"),
    ]
    saved = [(owner, name, getattr(owner, name)) for owner, name in wrapped]

    def timer(function, key):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[key] += time.perf_counter() - start

        return timed

    for (owner, name, function), key in zip(saved, spent, strict=True):
        setattr(owner, name, timer(function, key))
    try:
        time_import(folder, dataset, "--n-jobs", "1")
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)
    n = len(list(folder.glob("*.csv")))
    return {key: value / n * 1000 for key, value in spent.items()}


def time_read_process(folder: Path) -> float:
    code = (
        "import sys, pathlib\n"
        "from eeg4students.io import read_recording\n"
        "for p in sorted(pathlib.Path(sys.argv[1]).glob('*.csv')):\n"
        "    read_recording(p)\n"
    )
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", code, str(folder)], check=True, capture_output=True)
    return time.perf_counter() - start


def time_import_process(folder: Path, dataset: Path, *options: str) -> float:
    shutil.rmtree(dataset, ignore_errors=True)
    exe = Path(sys.executable).with_name("eeg4students")
    start = time.perf_counter()
    subprocess.run(
        [str(exe), "import", str(folder), "--to", str(dataset), "--pattern", PATTERN, *options],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - start


def time_one_process_per_file(files: list[Path], dataset: Path) -> float:
    shutil.rmtree(dataset, ignore_errors=True)
    exe = Path(sys.executable).with_name("eeg4students")
    start = time.perf_counter()
    for path in files:
        participant, task, session = path.stem.split("-")
        subprocess.run(
            [
                str(exe),
                "import",
                str(path),
                "--to",
                str(dataset),
                "--participant",
                participant,
                "--task",
                task,
                "--session",
                session,
            ],
            check=True,
            capture_output=True,
        )
    return time.perf_counter() - start


def ratios(times: list[float], baselines: list[float]) -> str:
    """The median and range of each run's ratio to the baseline run just before it."""
    each = sorted(t / b for t, b in zip(times, baselines, strict=True))
    return f"{statistics.median(each):.2f} [{each[0]:.2f}-{each[-1]:.2f}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "incoming"
        files = make_folder(folder)
        time_read(files[:2])  # import the libraries before timing
        reads, imports, plains = [], [], []
        for _ in range(args.repeat):
            reads.append(time_read(files))
            imports.append(time_import(folder, Path(tmp) / "ds"))
            with mne_bids_as_it_is():
                plains.append(time_import(folder, Path(tmp) / "ds"))
        parts = [time_per_recording(folder, Path(tmp) / "ds") for _ in range(args.repeat)]
        per = {key: statistics.median(p[key] for p in parts) for key in parts[0]}
        reads_p, imports_p, ones_p = [], [], []
        for _ in range(args.repeat):
            reads_p.append(time_read_process(folder))
            imports_p.append(time_import_process(folder, Path(tmp) / "ds-p"))
            ones_p.append(time_import_process(folder, Path(tmp) / "ds-1", "--n-jobs", "1"))
        old = time_one_process_per_file(files[:6], Path(tmp) / "ds-old") / 6 * len(files)
    from eeg4students.importing import import_workers

    med = statistics.median
    print(
        f"{len(files)} Muse CSVs, {args.repeat} runs (median seconds; ratio to the reading "
        f"run just before: median [range]), {import_workers()} import worker(s) on "
        f"{os.cpu_count()} core(s):"
    )
    print(f"  read in one process        {med(reads):7.2f} s")
    print(f"  import FOLDER --pattern    {med(imports):7.2f} s   ratio {ratios(imports, reads)}")
    print(
        f"  the same, mne-bids' locks  {med(plains):7.2f} s   ratio {ratios(plains, reads)}"
        f"   (x{ratios(plains, imports)} the import)"
    )
    print(f"  a process reading them     {med(reads_p):7.2f} s")
    print(
        f"  the import command         {med(imports_p):7.2f} s   ratio "
        f"{ratios(imports_p, reads_p)}"
    )
    print(f"  the same, --n-jobs 1       {med(ones_p):7.2f} s   ratio {ratios(ones_p, reads_p)}")
    print(f"  one process per file (est) {old:7.2f} s   ratio {old / med(reads_p):.1f}")
    print(
        f"per recording, one process: read {per['read']:.1f} ms, store "
        f"{per['store']:.1f} ms (of which mne-bids' write_raw_bids {per['write_raw_bids']:.1f} ms)"
    )


if __name__ == "__main__":
    main()
