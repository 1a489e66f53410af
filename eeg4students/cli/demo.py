"""The ``demo`` command."""

from __future__ import annotations

import argparse
from pathlib import Path

from eeg4students.cli._common import Number, path_value, print_table
from eeg4students.tables import quality_view


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
    print_table(quality_view(result["quality"]))
    for scheme, evaluation in result["evaluations"].items():
        print(f"Mean accuracy per participant, {scheme} (chance 0.20):")
        print_table(evaluation.summary(), index=True)
    print(f"Saved model {result['model'].card['name']!r} in {result['model'].path}")
    forgetting = result["forgetting"]
    if forgetting is not None:
        print(f"Forgetting {forgetting['participant']}, every strategy against the gold model:")
        from eeg4students.unlearning.experiment import frontier, tradeoff_view

        print_table(tradeoff_view(forgetting["tradeoff"]))
        print(frontier(forgetting["tradeoff"]))
        entry = forgetting["result"].audit_entry
        print(f"The dataset forgot {forgetting['participant']} (audit entry {entry['seq']}).")
    real = result["real"]
    if real is not None:
        print(
            f"Real sample recordings (shipped with the toolkit) imported into {real['dataset']}:"
        )
        for r in real["imported"]:
            print(f"  {r.job.path.name} ({r.fmt}, {r.seconds:.1f} s)")
        print_table(quality_view(real["quality"]))
    print(f"Summary written to {result['summary_file']} ({result['seconds']:.1f} s).")
    return 0


def add_parsers(sub) -> None:
    """Add this group's commands to the ``eeg4students`` subparsers."""
    p = sub.add_parser(
        "demo",
        help="run the end-to-end demo on simulated data",
        description="Simulate a class, store it as BIDS, extract features with the "
        "quality table, evaluate RF, RBF SVM and TMV (cross-session and time-blocked) with "
        "reports, train a TMV model, and write a summary.",
    )
    p.add_argument("--out", type=path_value, default=Path("demo-output"), help="output folder")
    p.add_argument(
        "--participants", type=Number(int, 2, 100), default=8, help="simulated students"
    )
    p.add_argument("--sessions", type=Number(int, 2, 6), default=2, help="sessions per student")
    p.set_defaults(func=cmd_demo)
