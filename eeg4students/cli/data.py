"""Commands that bring recordings in and look at them: ``import``, ``dataset``, ``simulate``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eeg4students.cli._common import (
    EXIT_ERROR,
    N_JOBS,
    TASK_SECONDS,
    Number,
    add_parallel_options,
    output_dir,
    output_file,
    path_value,
    print_table,
    quiet,
    text_value,
)
from eeg4students.errors import EEG4StudentsError
from eeg4students.names import FORMATS, MAX_AGE, MAX_RUN

#: Most participants a simulated class may have.
MAX_SIMULATED = 1000
#: Most hours of EEG a simulated class may hold (about 4 GB at the Muse's layout).
MAX_SIMULATED_HOURS = 100


def _upper(text: str) -> str:
    return text_value(text).strip().upper()


def _channel_names(text: str) -> list[str]:
    names = [part.strip() for part in text_value(text).split(",")]
    if any(not name for name in names) or len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(
            f"{text!r}: give channel names separated by commas, each once, none empty"
        )
    return names


def cmd_import(args: argparse.Namespace) -> int:
    from eeg4students._files import removed_on_failure
    from eeg4students._progress import progress_bar
    from eeg4students.importing import (
        ImportPlanError,
        import_each,
        plan_import,
        read_all,
        write_all,
    )
    from eeg4students.store.participants import read_attributes_table

    jobs, unmatched = plan_import(
        args.paths,
        pattern=args.pattern,
        participant=args.participant,
        session=args.session,
        task=args.task,
        run=args.run,
    )
    options = {}
    if args.board:
        options["board"] = args.board
    if args.stream:
        options["stream"] = args.stream
    if args.channels:
        options["channels"] = args.channels
    participants = sorted({job.participant for job in jobs})
    attributes = read_attributes_table(args.participants_table) if args.participants_table else {}
    given = {k: getattr(args, k) for k in ("age", "sex", "hand") if getattr(args, k) is not None}
    if given:
        if len(participants) > 1:
            raise ImportPlanError(
                f"--age, --sex and --hand describe one participant but these files are of "
                f"{len(participants)}; give a --participants-table instead."
            )
        attributes[participants[0]] = {**attributes.get(participants[0], {}), **given}
    batch = args.pattern is not None or any(Path(p).is_dir() for p in args.paths)
    if not batch:
        # Files named one by one: all are read and checked before anything is written.
        loaded = []
        for job in progress_bar(jobs, desc="read", unit="file", enabled=len(jobs) > 1):
            loaded += read_all([job], fmt=args.format, options=options)
        with removed_on_failure(Path(args.to)):
            dataset = _open_described(args)
            results = write_all(
                dataset,
                loaded,
                attributes=attributes.get(participants[0], {}),
                overwrite=args.overwrite,
                keep_source_name=args.keep_source_name,
            )
        for result in results:
            _print_imported(result)
        return 0
    if unmatched:
        shown = ", ".join(str(p) for p in unmatched[:5])
        more = f" and {len(unmatched) - 5} more" if len(unmatched) > 5 else ""
        print(
            f"{len(unmatched)} file(s) do not match the pattern and are left alone: {shown}{more}."
        )
    results = []
    with removed_on_failure(Path(args.to)):
        dataset = _open_described(args)
        progress = progress_bar(total=len(jobs), desc="import", unit="file")
        for result in import_each(
            dataset,
            jobs,
            fmt=args.format,
            options=options,
            attributes=attributes,
            overwrite=args.overwrite,
            keep_source_name=args.keep_source_name,
            n_jobs=args.n_jobs,
        ):
            results.append(result)
            progress.update()
        progress.close()
        order = {job: k for k, job in reversed(list(enumerate(jobs)))}
        results.sort(key=lambda r: order[r.job])
        if not any(r.ref for r in results):
            _print_import_summary(results)
            raise ImportPlanError(f"None of the {len(jobs)} files could be imported (see above).")
    _print_import_summary(results)
    failed = [r for r in results if r.error]
    if failed:
        print(
            f"eeg4students: error: {len(failed)} of {len(results)} files could not be "
            "imported (listed above); fix them and import those again.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    return 0


def _print_imported(result) -> None:
    ref = result.ref
    print(
        f"{result.job.path.name} ({result.fmt}, {result.seconds:.1f} s) -> sub-{ref.participant} "
        f"ses-{ref.session} task-{ref.task} run-{ref.run}"
    )
    for note in [] if quiet() else result.notes:
        print(f"  note: {note}")


def _print_import_summary(results) -> None:
    import pandas as pd

    rows = []
    for r in results:
        rows.append(
            {
                "file": str(r.job.path.name),
                "participant": r.job.participant,
                "session": r.job.session,
                "task": r.job.task,
                "run": r.ref.run if r.ref else (r.job.run or ""),
                "format": r.fmt or "",
                "seconds": round(r.seconds, 1) if r.ref else "",
                "result": "imported" if r.ref else "FAILED",
            }
        )
    print_table(pd.DataFrame(rows))
    for r in results:
        for note in [] if quiet() else r.notes:
            print(f"note: {r.job.path}: {note}")
        if r.error:
            print(f"failed: {r.error}")
    done = sum(r.ref is not None for r in results)
    seconds = sum(r.seconds for r in results if r.ref)
    print(f"{done} of {len(results)} files imported ({seconds / 60:.1f} min of EEG).")


def _open_described(args: argparse.Namespace):
    """Open (or create) the import's dataset, with the authors and licence given."""
    from eeg4students.store import Dataset

    dataset = Dataset.create(args.to)
    if args.author or args.license:
        dataset.describe(authors=args.author or None, license=args.license)
    return dataset


def cmd_dataset_describe(args: argparse.Namespace) -> int:
    from eeg4students.store import Dataset

    dataset = Dataset(args.dataset)
    if args.name is None and args.author is None and args.license is None:
        raise EEG4StudentsError(
            "Nothing to change: give --name, --author (once per author) or --license."
        )
    content = dataset.describe(name=args.name, authors=args.author, license=args.license)
    authors = ", ".join(content.get("Authors", [])) or "none given"
    print(
        f"{dataset.root}: {content['Name']!r}, authors {authors}, licence "
        f"{content.get('License', 'none given')}."
    )
    return 0


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
    print_table(shown.round({"seconds": 1}))
    flagged = int(table["attention"].sum())
    informed = int(((table["notes"] != "") & ~table["attention"]).sum())
    if flagged:
        print(
            f"{flagged} recording(s) need a look (cut short, gaps, clipping or bad channels): "
            "see the notes column."
        )
    if informed:
        print(f"{informed} recording(s) have notes worth reading, nothing wrong in them.")
    if args.csv:
        from eeg4students._files import atomic_write_text

        csv = output_file(args.csv)
        atomic_write_text(csv, table.drop(columns=["path", "attention"]).to_csv(index=False))
        print(f"table written to {csv}")
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    from eeg4students.protocol import load_protocol
    from eeg4students.simulate import MUSE, board_montage, simulate_to_dataset

    montage = board_montage(args.board) if args.board else MUSE
    protocol = load_protocol(args.protocol)
    timed = protocol.with_timing(args.task_seconds)
    hours = (
        args.participants
        * args.sessions
        * max(len(timed.order(str(s))) for s in range(1, min(args.sessions, 6) + 1))
        * timed.task_seconds
        / 3600
    )
    if hours > MAX_SIMULATED_HOURS:
        raise EEG4StudentsError(
            f"That class holds {hours:,.0f} hours of EEG, more than the {MAX_SIMULATED_HOURS} a "
            "simulated class may; give fewer participants, sessions or --task-seconds."
        )
    refs = simulate_to_dataset(
        args.to,
        args.participants,
        args.sessions,
        seed=args.seed,
        protocol=protocol,
        task_seconds=args.task_seconds,
        montage=montage,
    )
    print(
        f"{len(refs)} simulated recordings ({len(montage.ch_names)} channels at "
        f"{montage.sfreq:g} Hz) written to {args.to}"
    )
    return 0


def cmd_samples(args: argparse.Namespace) -> int:
    from eeg4students.sample_data import SAMPLES, copy_samples

    out = output_dir(args.out)
    for sample, path in zip(SAMPLES, copy_samples(out), strict=True):
        print(f"{path} (licence {sample.licence})")
    print(f"Provenance in {out / 'README.md'}, checksums in {out / 'SHA256SUMS'}.")
    return 0


def _add_description_options(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--author",
        action="append",
        metavar="NAME",
        help="an author of the dataset, for dataset_description.json (repeat for each, in "
        "order; replaces the list)",
    )
    p.add_argument(
        "--license",
        metavar="NAME",
        help="the dataset's licence, e.g. CC0 or CC-BY-4.0 (default: none stated)",
    )


def add_parsers(sub) -> None:
    """Add this group's commands to the ``eeg4students`` subparsers."""
    p = sub.add_parser(
        "import",
        help="add recordings from headset files (or a whole folder) to a BIDS dataset",
        description="Read recordings (muse-lsl, Mind Monitor, OpenBCI GUI, BrainFlow, "
        "EDF/BDF/BrainVision/FIF, XDF) and add them to a dataset. Files named one by one: all "
        "are checked before anything is written, and several files for one participant, "
        "session and task become runs 1, 2, ... A folder (with --pattern): every file whose "
        "path matches is imported with the labels in its name; a file that fails is "
        "reported and skipped, nothing of it is kept, and the command exits 1 at the end.",
        epilog="example: eeg4students import recordings/ --to class --pattern "
        "'{participant}-{task}-{session}.csv'",
    )
    p.add_argument("paths", nargs="+", metavar="PATH", help="recording files or folders")
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder")
    p.add_argument(
        "--pattern",
        help="file-name pattern giving the labels, with {participant} {session} {task} {run} "
        "and * (matched against the path below each folder)",
    )
    p.add_argument("--participant", help="pseudonym (letters and digits), if not in --pattern")
    p.add_argument("--session", help="session label, e.g. 1, if not in --pattern")
    p.add_argument("--task", help="task label, e.g. relaxed, if not in --pattern")
    p.add_argument(
        "--run", type=Number(int, 1, MAX_RUN), help="first run number (default: next free)"
    )
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        metavar="FORMAT",
        help="the files' format: auto (recognised from each file's content), "
        f"{', '.join(FORMATS)}",
    )
    p.add_argument("--board", help="headset that wrote a BrainFlow file (e.g. muse_2)")
    p.add_argument(
        "--stream",
        metavar="NAME",
        help="name or type of the EEG stream in XDF files that hold several",
    )
    p.add_argument(
        "--channels",
        metavar="NAMES",
        type=_channel_names,
        help="comma-separated names of the EEG channels in file order, e.g. Fp1,Fp2,C3,C4 "
        "(OpenBCI files only carry EXG1..EXGn)",
    )
    p.add_argument(
        "--age", help=f"the participant's age in years, 0-{MAX_AGE} (never taken from a file)"
    )
    p.add_argument(
        "--sex", type=_upper, choices=("M", "F", "O"), help="the participant's sex: M, F or O"
    )
    p.add_argument(
        "--hand",
        type=_upper,
        choices=("R", "L", "A"),
        help="the participant's handedness: R, L or A",
    )
    p.add_argument(
        "--participants-table",
        metavar="FILE",
        help="CSV/TSV with participant, age, sex, hand columns for many participants",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing runs")
    _add_description_options(p)
    p.add_argument(
        "--keep-source-name",
        action="store_true",
        help="also store each file's original name (only its SHA-256 otherwise: names often "
        "carry a real name into a pseudonymised dataset)",
    )
    p.add_argument(
        "--n-jobs",
        type=N_JOBS,
        metavar="N",
        help="processes writing a folder's new participants (-1: every core; default: one "
        "per core up to 4 on Linux, 1 elsewhere)",
    )
    p.set_defaults(func=cmd_import)

    p = sub.add_parser(
        "dataset",
        help="look at a dataset, or name its authors and licence",
        description="Look at a dataset (info) or set its name, authors and licence in "
        "dataset_description.json (describe).",
    )
    dsub = p.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    q = dsub.add_parser(
        "info",
        help="participants, sessions, recordings, durations and quality notes",
        description="List every recording with its duration, channels and sampling rate, "
        "and flag short recordings, gaps, clipping and bad channels.",
    )
    q.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    q.add_argument("--csv", metavar="FILE", help="also write the table as CSV")
    q.set_defaults(func=cmd_dataset_info)
    q = dsub.add_parser(
        "describe",
        help="set the dataset's name, authors and licence",
        description="Set the name, authors and licence in dataset_description.json (BIDS); "
        "options not given are kept.",
        epilog="example: eeg4students dataset describe class --author 'Ada Lovelace' "
        "--author 'Alan Turing' --license CC-BY-4.0",
    )
    q.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    q.add_argument("--name", help="the dataset's name")
    _add_description_options(q)
    q.set_defaults(func=cmd_dataset_describe)

    p = sub.add_parser(
        "simulate",
        help="simulate a class recorded under the protocol",
        description="Simulate participants following the EEG4Students protocol (Muse "
        "layout, 256 Hz) and store them as a BIDS dataset.",
    )
    p.add_argument("--to", required=True, metavar="DATASET", help="dataset folder to create")
    p.add_argument(
        "--participants",
        type=Number(int, 1, MAX_SIMULATED),
        default=8,
        help="simulated students",
    )
    p.add_argument("--sessions", type=Number(int, 1, 100), default=2, help="sessions per student")
    p.add_argument(
        "--seed",
        type=Number(int, 0, 2**32 - 1),
        default=0,
        help="random seed (same seed, same data)",
    )
    p.add_argument("--protocol", type=path_value, help="protocol YAML (default: EEG4Students)")
    p.add_argument(
        "--task-seconds",
        type=TASK_SECONDS,
        help="override the block length (default: the protocol's)",
    )
    p.add_argument(
        "--board",
        help="simulate this headset's channels and sampling rate (e.g. synthetic, for a "
        "model that live and record can use with it; default: Muse TP9, AF7, AF8, TP10, "
        "256 Hz)",
    )
    add_parallel_options(p)
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser(
        "samples",
        help="copy the real sample recordings shipped with the toolkit",
        description="Copy the two real sample recordings installed with the toolkit (a "
        "muse-lsl Muse recording, BSD-3-Clause, and an OpenBCI GUI Cyton recording, MIT) "
        "with their licences, provenance and checksums into a folder, to import and try.",
        epilog="example: eeg4students samples --out samples",
    )
    p.add_argument("--out", required=True, metavar="FOLDER", help="folder to copy them into")
    p.set_defaults(func=cmd_samples)
