"""Commands around a recording session: ``boards``, ``record``, ``classroom``, ``join``,
``recover``, ``package``, ``ingest``, ``handout``."""

from __future__ import annotations

import argparse
import sys
import threading
from pathlib import Path

from eeg4students._files import atomic_write_json
from eeg4students._signals import stop_on_signals
from eeg4students.cli._common import (
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    STALL_TIMEOUT,
    TASK_SECONDS,
    Number,
    add_connection_options,
    add_lsl_marker_options,
    connection_params,
    output_file,
    path_value,
    print_table,
)
from eeg4students.errors import EEG4StudentsError


def cmd_boards(args: argparse.Namespace) -> int:
    import pandas as pd

    from eeg4students.boards import board_table

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
            markers=args.markers,
            publish=args.publish_markers,
        )
    except RecordingInterrupted as exc:
        print(f"eeg4students: error: {exc}", file=sys.stderr)
        return exc.exit_status
    print(f"Session saved: {ref.path}")
    return 0


def cmd_classroom(args: argparse.Namespace) -> int:
    from eeg4students.classroom import Classroom
    from eeg4students.roster import RosterError, parse_seat, read_roster
    from eeg4students.web import Keys, Server, bind

    seats = [parse_seat(text) for text in args.headset or []]
    seats += read_roster(args.roster) if args.roster else []
    if not seats:
        raise RosterError("No headsets: give --headset PARTICIPANT,BOARD or --roster FILE.")
    model = _classroom_models(args.model or [])
    sock = bind(args.host, args.port)
    room = Classroom(
        args.to,
        args.session,
        seats,
        protocol=args.protocol,
        task_seconds=args.task_seconds,
        timeout=args.stall_timeout,
        model=model,
        publish=args.publish_markers,
    )
    keys = Keys()
    server = Server(room, keys, sock)
    print(f"Connecting {len(seats)} headset(s)...", flush=True)
    with stop_on_signals() as guard:
        return _run_classroom(args, room, server, keys, guard)


def _classroom_models(given: list[str]):
    """``--model FILE`` (one for every headset) or ``--model BOARD=FILE`` per board."""
    from eeg4students.boards import get_board
    from eeg4students.lsl import is_lsl
    from eeg4students.modelstore import load_model

    if not given:
        return None
    paths: dict[str, str] = {}
    for text in given:  # every name checked before any file is read
        board, sep, path = text.partition("=")
        if not sep:
            board, path = "*", text
        elif not is_lsl(board):
            get_board(board)  # an unknown board name is refused with the known ones
        key = board.strip().lower()
        if key in paths:
            raise EEG4StudentsError(
                f"--model gives two models for {'every headset' if key == '*' else board}; give "
                "one per board (BOARD=FILE) or one for all."
            )
        paths[key] = path
    models = {key: load_model(path) for key, path in paths.items()}
    return models["*"] if list(models) == ["*"] else models


def _run_classroom(args, room, server, keys, guard) -> int:
    from eeg4students.web import urls

    interrupted = False
    try:  # from here on, Ctrl-C or SIGTERM (even before the server runs) stores what is under way
        room.connect()
        for participant, headset in room.headsets.items():
            if headset.state == "failed":
                print(f"  {participant}: {headset.message}", flush=True)
        ticking = threading.Thread(target=room.run, name="eeg4students-classroom", daemon=True)
        ticking.start()
        links = urls(server.url, room, keys)
        print(f"Teacher's page: {links.pop('teacher')}")
        print("Students' pages:")
        for participant, link in links.items():
            print(f"  {participant}: {link}")
        if server.url.startswith("http://127.0.0.1") and args.host != "127.0.0.1":
            print("On the class's network, use this computer's address instead of 127.0.0.1.")
        print(
            "Keep these links to the class: each holds its page's key. Ctrl-C ends the classroom."
        )
        print("", flush=True)
        if args.links:
            # Readable by this user only: every link holds its page's key.
            teacher = server.url + "/?token=" + keys.teacher
            atomic_write_json(Path(args.links), {"teacher": teacher, **links}, private=True)
        if args.start:
            threading.Thread(target=_start_when_ready, args=(room,), daemon=True).start()
        if args.exit_when_done:
            threading.Thread(target=_stop_when_done, args=(room, server), daemon=True).start()
        server.run()
    except KeyboardInterrupt:  # the server has shut down, or was not running yet
        interrupted = True
    finally:
        with guard.deferred():  # a second signal does not break the saving
            room.shutdown()
            if args.links:
                Path(args.links).unlink(missing_ok=True)  # its keys end with the classroom
    failed = 0
    for participant, headset in room.headsets.items():
        where = f" -> {headset.saved_path}" if headset.saved_path else ""
        print(f"{participant}: {headset.state}{where} ({headset.message})")
        failed += headset.state not in ("saved",)
    if interrupted:
        stop = guard.interrupted
        return stop.exit_status if stop is not None else EXIT_INTERRUPTED
    return EXIT_ERROR if failed else 0


def _start_when_ready(room) -> None:
    """``--start``: start every headset once none is waiting to join or connecting."""
    tick = threading.Event()
    while {h.state for h in room.headsets.values()} & {"waiting", "connecting"}:
        tick.wait(0.2)
    started = room.start()
    print(f"Started: {', '.join(started) or 'nobody (no headset connected)'}", flush=True)


def _stop_when_done(room, server) -> None:
    """Stop the server once every headset has finished (saved, interrupted, lost)."""
    tick = threading.Event()
    while not tick.wait(0.2):
        if room.finished:
            server.stop()
            return


def cmd_join(args: argparse.Namespace) -> int:
    from eeg4students.join import Joiner, JoinError, link_from_file, parse_link

    if bool(args.url) == bool(args.links):
        raise JoinError("Give the student's link (URL), or --links FILE with --participant.")
    if args.links:
        if not args.participant:
            raise JoinError("--links FILE needs --participant LABEL: whose link to take.")
        link = link_from_file(args.links, args.participant, args.wait)
    else:
        link = parse_link(args.url)
    joiner = Joiner(
        link,
        args.board,
        connection_params(args),
        args.to or f"eeg4students-{link.participant}",
        patience=args.patience,
        say=lambda line: print(line, flush=True),
    )
    stop = threading.Event()
    with stop_on_signals() as guard:
        try:
            joiner.prepare(args.wait, stop)
            joiner.run(stop)
        except KeyboardInterrupt:
            pass
        finally:
            if joiner.room is not None:
                with guard.deferred():  # a second signal does not break storing and sending
                    joiner.close()
    if guard.interrupted is not None:
        return guard.interrupted.exit_status
    return 0 if joiner.done else EXIT_ERROR


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
        description="Connect to a headset (through BrainFlow, or any Lab Streaming Layer "
        "stream), check the signal, cue every task of the session's order with markers in "
        "the stream, stream to disk while recording, and store the session in the BIDS "
        "dataset. Ctrl-C or a silent headset saves what was captured.",
        epilog="example: eeg4students record --board lsl:Muse --participant s01 --session 1 "
        "--to class --protocol quick",
    )
    p.add_argument(
        "--board",
        required=True,
        help="synthetic, muse_2, muse_s, cyton, ..., or lsl:NAME for a Lab Streaming Layer "
        "stream (its name, type or source id)",
    )
    p.add_argument("--participant", required=True, help="pseudonym (letters and digits)")
    p.add_argument("--session", required=True, help="session number: picks the task order")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--protocol", help="protocol file, or 'quick' (default: EEG4Students)")
    p.add_argument(
        "--task-seconds",
        type=TASK_SECONDS,
        help="override the block length (default: the protocol's)",
    )
    p.add_argument("--yes", action="store_true", help="start without waiting at the check")
    p.add_argument(
        "--stall-timeout",
        type=STALL_TIMEOUT,
        default=5.0,
        help="seconds without samples before giving up",
    )
    add_connection_options(p)
    add_lsl_marker_options(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser(
        "classroom",
        help="record a class: one web page for the teacher, a cue page per student",
        description="Connect several headsets, serve a page where the teacher sees every "
        "headset (signal quality, samples, task, time left) and starts or stops sessions, "
        "and a cue page per student. Each headset records as `record` does: streamed to "
        "disk, markers at every task's start and end, stored in the dataset when done or "
        "with the interruption noted if it drops out. Listens on 127.0.0.1 unless --host "
        "says otherwise; every link carries a key.",
        epilog="example: eeg4students classroom --to class --session 1 --headset "
        "s01,synthetic --headset s02,synthetic --protocol quick",
    )
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument("--session", required=True, help="session number: picks the task order")
    p.add_argument(
        "--headset",
        action="append",
        metavar="P,BOARD[,ADDRESS]",
        help="a participant and their headset, e.g. s01,muse_2,Muse-1234 or s02,lsl:Muse-5678 "
        "(an LSL stream's name, type or source id) or s03,join (the student's own laptop "
        "runs `eeg4students join`); repeat per headset",
    )
    p.add_argument(
        "--roster",
        metavar="CSV",
        help="a table with participant, board and optional mac_address, serial_port, "
        "serial_number, file, master_board columns, and loose (a synthetic headset's "
        "electrodes loosened for a rehearsal)",
    )
    p.add_argument("--protocol", help="protocol file, or 'quick' (default: EEG4Students)")
    p.add_argument(
        "--task-seconds",
        type=TASK_SECONDS,
        help="override the block length (default: the protocol's)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on; 0.0.0.0 serves students' own devices on the LAN",
    )
    p.add_argument(
        "--port", type=Number(int, 0, 65535), default=8765, help="port (0: any free one)"
    )
    p.add_argument(
        "--model",
        action="append",
        metavar="[BOARD=]FILE",
        help="a model (from `train`) whose live prediction each tile shows; BOARD=FILE, "
        "repeated, gives one per board for a class with mixed headsets",
    )
    p.add_argument(
        "--start",
        action="store_true",
        help="start every headset at once (laptops given the board join: once they joined)",
    )
    p.add_argument(
        "--links",
        metavar="FILE",
        type=path_value,
        help="also write every page's link into this JSON file (readable by you only; removed "
        "when the classroom ends), e.g. for `join --links FILE` in a scripted rehearsal",
    )
    p.add_argument(
        "--exit-when-done",
        action="store_true",
        help="end the classroom when every headset has finished",
    )
    p.add_argument(
        "--stall-timeout",
        type=STALL_TIMEOUT,
        default=5.0,
        help="seconds without samples before a headset counts as dropped out",
    )
    add_lsl_marker_options(p, record=False)
    p.set_defaults(func=cmd_classroom)

    p = sub.add_parser(
        "join",
        help="record on a student's own laptop, in the teacher's classroom",
        description="Join a classroom from this computer: ask the teacher's classroom what to "
        "record, connect this laptop's headset, record here as `record` does (streamed to "
        "disk; a cut-off recording is recovered at the next join), show the cues, send the "
        "signal's state to the teacher's page and follow its Start and Stop, then send the "
        "recording to the teacher as a verified package. If the network drops, the "
        "recording goes on and is sent when the network is back. The teacher's roster gives "
        "the student the board join.",
        epilog="example: eeg4students join 'http://192.168.1.20:8765/student/s01?token=KEY' "
        "--board muse_2 --serial-number Muse-1234",
    )
    p.add_argument(
        "url", metavar="URL", nargs="?", help="the student's link from the teacher's sheet"
    )
    p.add_argument(
        "--links",
        metavar="FILE",
        help="take the link from a classroom's --links file instead (a rehearsal on one "
        "computer); with --participant",
    )
    p.add_argument("--participant", help="whose link to take from --links")
    p.add_argument("--board", required=True, help="this laptop's headset (see `boards`)")
    p.add_argument(
        "--to",
        metavar="DATASET",
        help="dataset on this laptop that records (default: eeg4students-LABEL here)",
    )
    p.add_argument(
        "--wait",
        type=Number(float, 0, 3600),
        default=30.0,
        help="seconds to keep trying to reach the classroom at first",
    )
    p.add_argument(
        "--patience",
        type=Number(float, 0, 86400),
        default=120.0,
        help="seconds to keep trying to reach the teacher when nothing is recording "
        "(a recording under way always goes on)",
    )
    add_connection_options(p)
    p.set_defaults(func=cmd_join)

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
    p.add_argument("--out", required=True, type=path_value, help="the zip file to write")
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
        type=path_value,
        help="file to write: .html (printable, self-contained) or .md; default: print Markdown",
    )
    p.set_defaults(func=cmd_handout)
