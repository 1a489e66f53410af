"""Commands around a recording session: ``boards``, ``record``, ``recover``, ``package``,
``ingest``, ``handout``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eeg4students.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    add_connection_options,
    connection_params,
    output_file,
    positive_float,
    print_table,
)
from eeg4students.errors import EEG4StudentsError


def cmd_boards(args: argparse.Namespace) -> int:
    import pandas as pd

    from eeg4students.acquire import board_table

    print_table(pd.DataFrame(board_table()))
    return 0


def cmd_record(args: argparse.Namespace) -> int:
    from eeg4students.acquire import RecordingInterrupted, record_session

    def confirm(check) -> bool:
        if not check.ok:
            print(
                "Some channels need attention: re-seat the headset, wet the sensors, move "
                "away from mains cables."
            )
        answer = input("Press Enter to start, or type r and Enter to check again: ")
        return answer.strip().lower() != "r"

    try:
        ref = record_session(
            args.board,
            args.participant,
            args.session,
            args.to,
            protocol=args.protocol,
            task_seconds=args.task_seconds,
            timeout=args.stall_timeout,
            confirm=None if args.yes else confirm,
            show=lambda line: print(line, flush=True),
            connection=connection_params(args),
        )
    except RecordingInterrupted as exc:
        print(f"eeg4students: error: {exc}", file=sys.stderr)
        return EXIT_INTERRUPTED if "Ctrl-C" in str(exc) else EXIT_ERROR
    print(f"Session saved: {ref.path}")
    return 0


def cmd_recover(args: argparse.Namespace) -> int:
    from eeg4students.acquire import recover

    ref = recover(args.partial, args.to)
    print(f"Recovered the partial stream into {ref.path} (interruption noted).")
    return 0


def cmd_package(args: argparse.Namespace) -> int:
    from eeg4students.remote import package_participant

    out = package_participant(args.dataset, args.participant, output_file(args.out))
    print(f"Package written: {out}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from eeg4students.remote import ingest
    from eeg4students.store import Dataset

    participant, added = ingest(args.package, args.to, merge=args.merge)
    print(f"Ingested {len(added)} files of {participant}, all checksums verified.")
    table = Dataset(args.to).recordings()
    mine = table[table["participant"] == participant]
    print_table(mine[["participant", "session", "task", "run", "duration_s", "notes"]].round(1))
    return 0


def cmd_handout(args: argparse.Namespace) -> int:
    from eeg4students._files import atomic_write_text
    from eeg4students.handout import handout_html, handout_markdown
    from eeg4students.protocol import load_protocol

    protocol = load_protocol(args.protocol)
    if args.out is None:
        print(handout_markdown(protocol), end="")
        return 0
    out = output_file(args.out)
    writers = {".html": handout_html, ".htm": handout_html, ".md": handout_markdown}
    if out.suffix.lower() not in writers:
        raise EEG4StudentsError(
            f"{out}: give a file ending in .html (printable page) or .md (Markdown)."
        )
    atomic_write_text(out, writers[out.suffix.lower()](protocol))
    print(f"Handout for {protocol.name} written to {out}")
    return 0


def add_parsers(sub) -> None:
    """Add this group's commands to the ``eeg4students`` subparsers."""
    p = sub.add_parser(
        "boards",
        help="list the supported headsets (from BrainFlow)",
        description="List the headsets this toolkit can record from, with their channels "
        "and sampling rates as BrainFlow describes them.",
    )
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser(
        "record",
        help="record a session under the protocol",
        description="Connect to a headset, check the signal, cue every task of the session's "
        "order with BrainFlow markers, stream to disk while recording, and store the session "
        "in the BIDS dataset. Ctrl-C or a silent headset saves what was captured.",
    )
    p.add_argument("--board", required=True, help="synthetic, muse_2, muse_s, cyton, ...")
    p.add_argument("--participant", required=True, help="pseudonym (letters and digits)")
    p.add_argument("--session", required=True, help="session number: picks the task order")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--protocol", help="protocol file, or 'quick' (default: EEG4Students)")
    p.add_argument("--task-seconds", type=positive_float, help="override the block length")
    p.add_argument("--yes", action="store_true", help="start without waiting at the check")
    p.add_argument(
        "--stall-timeout",
        type=positive_float,
        default=5.0,
        help="seconds without samples before giving up (default 5)",
    )
    add_connection_options(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser(
        "recover",
        help="store a partial stream left by a killed recorder",
        description="A recorder that was killed leaves the stream it wrote so far under "
        "sourcedata/eeg4students-partial/; store it in the dataset as the session it was.",
    )
    p.add_argument("partial", metavar="PARTIAL", help="sourcedata/eeg4students-partial/*.csv")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser(
        "package",
        help="pack a participant's recordings for sending",
        description="Write one participant's recordings, sidecars and participants row into "
        "a zip with a manifest of SHA-256 checksums, for a remote session to send to the lab.",
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    p.add_argument("--participant", required=True, help="the participant to pack")
    p.add_argument("--out", required=True, type=Path, help="the zip file to write")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser(
        "ingest",
        help="verify a package and add it to a dataset",
        description="Check a package from a remote session (checksums, names, sizes, "
        "recordings) before touching the dataset, then add it atomically: a refused package "
        "leaves the dataset unchanged.",
    )
    p.add_argument("package", metavar="FILE.zip", help="the package (from eeg4students package)")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--merge", action="store_true", help="add sessions to an existing participant")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "handout",
        help="the participants' handout of a protocol (Markdown or printable HTML)",
        description="Write the handout for participants and session runners: consent and "
        "withdrawal, the session and its task orders, the tasks' instructions, fitting the "
        "headset, the signal check, running a session, connection problems, sending data back. "
        "Sections on the session and the tasks come from the protocol file.",
        epilog="example: eeg4students handout --out handout.html",
    )
    p.add_argument(
        "--protocol",
        help="protocol file, or a built-in one: eeg4students, quick (default: eeg4students)",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="file to write: .html (printable, self-contained) or .md; default: print Markdown",
    )
    p.set_defaults(func=cmd_handout)
