"""The ``eeg4students`` command.

Each subcommand is a thin layer over the library: parse options, call one
function, print its result. Errors a user can cause are printed as one line
(no traceback) and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tqdm.auto import tqdm

from eeg4students import __version__
from eeg4students.errors import EEG4StudentsError

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


def _print_table(table: pd.DataFrame) -> None:
    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False))


# -- import -------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from eeg4students.events import TASK_PREFIX, task_description
    from eeg4students.io import detect_format, read_recording
    from eeg4students.store import Dataset, check_label

    participant = check_label("participant", args.participant)
    session = check_label("session", args.session)
    task = check_label("task", args.task)
    options = {"board": args.board} if args.board else {}
    # Read and check every file before anything is written.
    loaded = []
    for path in tqdm(args.paths, desc="read", unit="file", disable=len(args.paths) < 2):
        fmt = args.format if args.format != "auto" else detect_format(path)
        raw = read_recording(path, fmt, **options)
        if not any(d.startswith(TASK_PREFIX) for d in raw.annotations.description):
            # A file without block markers holds one task: the whole file is its block.
            raw.annotations.append(raw.first_time, raw.times[-1], task_description(task))
        loaded.append((Path(path), fmt, raw))
    dataset = Dataset.create(args.to)
    run = args.run
    for path, fmt, raw in loaded:
        ref = dataset.add_recording(
            raw,
            participant,
            session,
            task,
            run,
            source=path,
            source_format=fmt,
            overwrite=args.overwrite,
        )
        seconds = raw.n_times / raw.info["sfreq"]
        print(
            f"{path.name} ({fmt}, {seconds:.1f} s) -> sub-{ref.participant} "
            f"ses-{ref.session} task-{ref.task} run-{ref.run}"
        )
        run = ref.run + 1 if run is not None else None
    return 0


# -- dataset info -------------------------------------------------------------


def cmd_dataset_info(args: argparse.Namespace) -> int:
    from eeg4students.store import Dataset

    dataset = Dataset(args.dataset)
    table = dataset.recordings()
    if table.empty:
        print(f"{dataset.root}: no recordings yet.")
        return 0
    summary = dataset.summary()
    print(
        f"{dataset.root}: {summary['participants']} participants, {summary['sessions']} "
        f"sessions, {summary['recordings']} recordings, {summary['hours']:.2f} h; "
        f"EEG channels {summary['channels']}, sampling rates {summary['sfreqs']} Hz"
    )
    shown = table[
        ["participant", "session", "task", "run", "duration_s", "n_channels", "sfreq", "notes"]
    ].rename(columns={"duration_s": "seconds", "n_channels": "channels", "sfreq": "Hz"})
    _print_table(shown.round({"seconds": 1}))
    flagged = int((table["notes"] != "").sum())
    if flagged:
        print(f"{flagged} recording(s) need a look: see the notes column.")
    if args.csv:
        table.drop(columns=["path"]).to_csv(args.csv, index=False)
        print(f"table written to {args.csv}")
    return 0


# -- simulate -----------------------------------------------------------------


def cmd_simulate(args: argparse.Namespace) -> int:
    from eeg4students.protocol import load_protocol
    from eeg4students.simulate import simulate_to_dataset

    refs = simulate_to_dataset(
        args.to,
        args.participants,
        args.sessions,
        seed=args.seed,
        protocol=load_protocol(args.protocol),
        task_seconds=args.task_seconds,
    )
    print(f"{len(refs)} simulated recordings written to {args.to}")
    return 0


# -- features -----------------------------------------------------------------


def _band_pairs(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, text.split(",")):
        if "/" not in item:
            raise argparse.ArgumentTypeError(f"ratio {item!r} must look like theta/beta")
        a, b = item.split("/", 1)
        pairs.append((a.strip(), b.strip()))
    return tuple(pairs)


def cmd_features(args: argparse.Namespace) -> int:
    from eeg4students.features import FeatureParams
    from eeg4students.featureset import compute_features, quality_by_recording
    from eeg4students.preprocess import PreprocessParams

    pre = PreprocessParams(
        l_freq=args.band_pass[0],
        h_freq=args.band_pass[1],
        filter_method=args.filter,
        line_freq=args.line_freq,
        reference=None if args.reference == "none" else args.reference,
        channels=tuple(args.channels.split(",")) if args.channels else None,
        window=args.window,
        hop=args.hop,
        transition_share=args.transition,
        max_ptp_uv=args.max_ptp or None,
        min_kept=args.min_kept,
    )
    feat = FeatureParams(relative=args.relative, ratios=args.ratios)
    participants = args.participants.split(",") if args.participants else None
    result = compute_features(args.dataset, pre, feat, participants=participants)
    print("Quality (share of windows kept, and why the rest was dropped, in %):")
    _print_table(quality_by_recording(result.quality))
    if len(result.excluded):
        print(f"Excluded (below {pre.min_kept:.0%} kept):")
        _print_table(result.excluded.fillna("").round({"share_kept": 2}))
    for problem in result.problems:
        print(f"warning: {problem}")
    print(
        f"{len(result.table)} windows x {len(result.feature_columns)} features from "
        f"{result.table['block'].nunique()} blocks ({result.cached} recordings from cache); "
        f"files in {result.folder}"
    )
    return 0


# -- demo ---------------------------------------------------------------------


def cmd_demo(args: argparse.Namespace) -> int:
    from eeg4students.demo import run_demo

    result = run_demo(args.out, n_participants=args.participants, n_sessions=args.sessions)
    summary = result["summary"]
    print(
        f"Simulated class: {summary['participants']} participants x "
        f"{result['n_sessions']} sessions, "
        f"{summary['recordings']} recordings, {summary['hours'] * 60:.1f} min of EEG, "
        f"stored as BIDS in {result['dataset']}"
    )
    features = result["features"]
    print(
        f"Features: {len(features.table)} windows x {len(features.feature_columns)} band powers."
    )
    print("Quality (share of windows kept, and why the rest was dropped, in %):")
    _print_table(result["quality"])
    print(f"Summary written to {result['summary_file']} ({result['seconds']:.1f} s).")
    return 0


# -- parser -------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Build the ``eeg4students`` argument parser."""
    from eeg4students.io import FORMATS

    parser = argparse.ArgumentParser(
        prog="eeg4students",
        description="EEG brain-computer-interface studies with consumer headsets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "import",
        help="add recordings from headset files to a BIDS dataset",
        description="Read recordings (muse-lsl, Mind Monitor, OpenBCI GUI, BrainFlow, "
        "EDF/BDF/BrainVision/FIF) and add them to a dataset. Several files for one "
        "participant, session and task become runs 1, 2, ... All files are checked "
        "before anything is written.",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="recording files")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--participant", required=True, help="pseudonym (letters and digits)")
    p.add_argument("--session", required=True, help="session label, e.g. 1")
    p.add_argument("--task", required=True, help="task label, e.g. relaxed")
    p.add_argument("--run", type=_positive_int, help="first run number (default: next free)")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--board", help="headset that wrote a BrainFlow file (e.g. muse_2)")
    p.add_argument("--overwrite", action="store_true", help="replace existing runs")
    p.set_defaults(func=cmd_import)

    p = sub.add_parser("dataset", help="look at a dataset")
    dsub = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    q = dsub.add_parser(
        "info",
        help="participants, sessions, recordings, durations and quality notes",
        description="List every recording with its duration, channels and sampling rate, "
        "and flag short recordings, gaps, clipping and bad channels.",
    )
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    q.set_defaults(func=cmd_dataset_info)

    p = sub.add_parser(
        "simulate",
        help="simulate a class recorded under the protocol",
        description="Simulate participants following the EEG4Students protocol (Muse "
        "layout, 256 Hz) and store them as a BIDS dataset.",
    )
    p.add_argument("--to", required=True, metavar="DATASET")
    p.add_argument("--participants", type=_positive_int, default=8)
    p.add_argument("--sessions", type=_positive_int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--protocol", type=Path, help="protocol YAML (default: EEG4Students)")
    p.add_argument("--task-seconds", type=_positive_float, help="override the block length")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "features",
        help="preprocess, reject bad windows and extract band powers",
        description="Filter every recording, cut its task blocks into windows, reject "
        "windows with plateaus, clipping, large amplitude or BAD annotations, and store "
        "log band powers as Parquet under derivatives/eeg4students/. Prints the quality "
        "table; cached results are reused while recordings and settings are unchanged.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--window", type=_positive_float, default=2.0, help="seconds (default 2)")
    p.add_argument("--hop", type=_positive_float, default=1.0, help="seconds (default 1)")
    p.add_argument(
        "--band-pass",
        nargs=2,
        type=float,
        default=(1.0, 40.0),
        metavar=("LO", "HI"),
        help="Hz (default 1 40)",
    )
    p.add_argument("--filter", choices=("iir", "fir"), default="iir")
    p.add_argument(
        "--line-freq", type=_positive_float, help="Hz (default: from the recording, else 50)"
    )
    p.add_argument("--reference", choices=("none", "average"), default="none")
    p.add_argument("--channels", help="comma-separated EEG channels (default: all)")
    p.add_argument("--transition", type=float, default=0.3, help="share dropped per block")
    p.add_argument("--max-ptp", type=float, default=500.0, help="uV, 0 turns it off")
    p.add_argument("--min-kept", type=float, default=0.35, help="exclusion threshold")
    p.add_argument("--relative", action="store_true", help="add relative band power")
    p.add_argument("--ratios", type=_band_pairs, default=(), help="e.g. theta/beta,alpha/theta")
    p.add_argument("--participants", help="comma-separated labels (default: all)")
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "demo",
        help="run the end-to-end demo on simulated data",
        description="Simulate a class, store it as BIDS, extract features with the "
        "quality table, and write a summary.",
    )
    p.add_argument("--out", type=Path, default=Path("demo-output"), help="output folder")
    p.add_argument("--participants", type=_positive_int, default=8)
    p.add_argument("--sessions", type=_positive_int, default=2)
    p.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except EEG4StudentsError as exc:
        print(f"eeg4students: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("eeg4students: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
