"""The ``eeg4students`` command.

Each subcommand is a thin layer over the library: parse options, call one
function, print its result. Commands import what they use when they run, so
``--help`` answers quickly. Errors a user can cause are printed as one line
(no traceback) and the command exits with status 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from eeg4students import __version__
from eeg4students.errors import DatasetError, EEG4StudentsError

if TYPE_CHECKING:  # pandas and tqdm are imported where used: --help and --version stay fast
    import pandas as pd

EXIT_ERROR = 1
EXIT_INTERRUPTED = 130


# Output paths are checked before the work starts and created only when the results
# are written, so a command that fails leaves no empty folder behind.


def _output_file(path: str | Path) -> Path:
    """Check that ``path`` can be written as a file."""
    path = Path(path)
    if path.is_dir():
        raise EEG4StudentsError(f"{path} is a folder; give a file name to write.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise EEG4StudentsError(f"{path} cannot be written: {parent} is a file, not a folder.")
    return path


def _output_dir(path: str | Path) -> Path:
    """Check that ``path`` is, or can be made, a folder to write into."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise EEG4StudentsError(f"{path} is a file; give a folder to write the results into.")
    for parent in path.parents:
        if parent.exists() and not parent.is_dir():
            raise EEG4StudentsError(f"{path} cannot be made: {parent} is a file, not a folder.")
    return path


def _print_table(table: pd.DataFrame) -> None:
    import pandas as pd

    with pd.option_context("display.max_rows", None, "display.width", 200):
        print(table.to_string(index=False))


# -- import -------------------------------------------------------------------


def cmd_import(args: argparse.Namespace) -> int:
    from tqdm.auto import tqdm

    from eeg4students._files import removed_on_failure
    from eeg4students.importing import (
        ImportPlanError,
        import_each,
        plan_import,
        read_all,
        read_attributes_table,
        write_all,
    )
    from eeg4students.store import Dataset

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
    if args.channels:
        options["channels"] = [c.strip() for c in args.channels.split(",")]
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
        for job in tqdm(jobs, desc="read", unit="file", disable=len(jobs) < 2):
            loaded += read_all([job], fmt=args.format, options=options)
        with removed_on_failure(Path(args.to)):
            dataset = Dataset.create(args.to)
            results = write_all(
                dataset,
                loaded,
                attributes=attributes.get(participants[0], {}),
                overwrite=args.overwrite,
            )
        for result in results:
            _print_imported(result)
        return 0
    if unmatched:
        print(f"{len(unmatched)} file(s) do not match the pattern and are left alone.")
    results = []
    with removed_on_failure(Path(args.to)):
        dataset = Dataset.create(args.to)
        progress = tqdm(total=len(jobs), desc="import", unit="file")
        for result in import_each(
            dataset,
            jobs,
            fmt=args.format,
            options=options,
            attributes=attributes,
            overwrite=args.overwrite,
        ):
            results.append(result)
            progress.update()
        progress.close()
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
    for note in result.notes:
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
    _print_table(pd.DataFrame(rows))
    for r in results:
        for note in r.notes:
            print(f"note: {r.job.path}: {note}")
        if r.error:
            print(f"failed: {r.error}")
    done = sum(r.ref is not None for r in results)
    seconds = sum(r.seconds for r in results if r.ref)
    print(f"{done} of {len(results)} files imported ({seconds / 60:.1f} min of EEG).")


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
        from eeg4students._files import atomic_write_text

        csv = _output_file(args.csv)
        atomic_write_text(csv, table.drop(columns=["path"]).to_csv(index=False))
        print(f"table written to {csv}")
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


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    """Options of preprocessing and features, shared by features, evaluate and train."""
    g = p.add_argument_group("preprocessing and features")
    g.add_argument("--window", type=_positive_float, default=2.0, help="seconds (default 2)")
    g.add_argument("--hop", type=_positive_float, default=1.0, help="seconds (default 1)")
    g.add_argument(
        "--band-pass",
        nargs=2,
        type=float,
        default=(1.0, 40.0),
        metavar=("LO", "HI"),
        help="Hz (default 1 40)",
    )
    g.add_argument("--filter", choices=("iir", "fir"), default="iir")
    g.add_argument("--line-freq", type=_positive_float, help="Hz (default: recording's, else 50)")
    g.add_argument("--reference", choices=("none", "average"), default="none")
    g.add_argument("--channels", help="comma-separated EEG channels (default: all)")
    g.add_argument("--transition", type=float, default=0.3, help="share dropped per block")
    g.add_argument("--max-ptp", type=float, default=500.0, help="uV, 0 turns it off")
    g.add_argument("--min-kept", type=float, default=0.35, help="exclusion threshold")
    g.add_argument("--relative", action="store_true", help="add relative band power")
    g.add_argument("--ratios", type=_band_pairs, default=(), help="e.g. theta/beta,alpha/theta")
    g.add_argument("--participants", help="comma-separated labels (default: all)")


def _feature_settings(args: argparse.Namespace):
    """PreprocessParams, FeatureParams and the participant list from the shared options."""
    from eeg4students.features import FeatureParams
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
    return pre, feat, participants


def cmd_features(args: argparse.Namespace) -> int:
    from eeg4students.featureset import compute_features, quality_by_recording

    pre, feat, participants = _feature_settings(args)
    result = compute_features(args.dataset, pre, feat, participants=participants)
    print("Quality (share of windows kept, and why the rest was dropped, in %):")
    _print_table(quality_by_recording(result.quality))
    if len(result.excluded):
        print(f"Excluded (below {pre.min_kept:.0%} kept):")
        _print_table(result.excluded.fillna("").round({"share_kept": 2}))
    if result.left_out:
        print(
            f"Left out {', '.join(result.left_out)}: bad (flat, railed or not connected) in "
            "every recording; name the channels to use with --channels."
        )
    for problem in result.problems:
        print(f"warning: {problem}")
    print(
        f"{len(result.table)} windows x {len(result.feature_columns)} features from "
        f"{result.table['block'].nunique()} blocks ({result.cached} recordings from cache); "
        f"files in {result.folder}"
    )
    return 0


# -- evaluate, train, predict -------------------------------------------------


def _model_list(text: str) -> list[str]:
    return [name.strip() for name in text.split(",") if name.strip()]


def cmd_evaluate(args: argparse.Namespace) -> int:
    from eeg4students.evaluation import evaluate
    from eeg4students.featureset import compute_features
    from eeg4students.report import write_report

    pre, feat, participants = _feature_settings(args)
    _output_dir(args.out)
    features = compute_features(args.dataset, pre, feat, participants=participants)
    if args.scheme == "shuffled":
        print("warning: the shuffled scheme is LEAKY (overlapping windows on both sides);")
        print("         its accuracies are inflated and only show by how much.")
    result = evaluate(
        features.table,
        features.feature_columns,
        args.models,
        args.scheme,
        n_splits=args.folds,
        window=pre.window,
        k=args.k,
    )
    report = write_report(
        result,
        args.out,
        quality=features.quality,
        feature_settings={"preprocess": pre.as_dict(), "features": feat.as_dict()},
        dataset=str(args.dataset),
    )
    leaky = " (LEAKY)" if result.settings["leaky"] else ""
    print(f"Mean accuracy per participant, {args.scheme}{leaky}:")
    print(result.summary().round(3).to_string())
    for note in result.skipped:
        print(f"left out: {note}")
    print(f"Table, figures and report in {args.out} ({report.name}).")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from eeg4students.modelstore import export_model, train_model

    pre, feat, participants = _feature_settings(args)
    out = _output_dir(args.out) if args.out else None
    unlearnable = None
    if args.unlearnable:
        unlearnable = {"kind": args.unlearnable, "q": args.q, "shards": args.shards}
    saved = train_model(
        args.dataset,
        args.model,
        args.name,
        pre=pre,
        feat=feat,
        participants=participants,
        unlearnable=unlearnable,
        overwrite=args.overwrite,
    )
    trained = saved.card["trained_on"]
    print(
        f"Trained {args.model} on {trained['n_windows']} windows of "
        f"{len(trained['participants'])} participants ({len(trained['recordings'])} "
        f"recordings); saved in {saved.path}"
    )
    if saved.card.get("tmv_ranking"):
        print(f"TMV base ranking: {', '.join(saved.card['tmv_ranking'])}")
    if out is not None:
        print(f"Exported a copy to {export_model(saved, out)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from eeg4students.io import read_recording
    from eeg4students.modelstore import load_model
    from eeg4students.predict import predict_recording

    saved = load_model(args.model)
    options = {"board": args.board} if args.board else {}
    raw = read_recording(args.recording, args.format, **options)
    table = predict_recording(saved, raw)
    _print_table(table.round({"agreement": 2}))
    return 0


def _conmu_settings(args: argparse.Namespace):
    from eeg4students.unlearning.conmu import ConMUSettings

    return ConMUSettings(
        band=None if args.band <= 0 else args.band,
        noise_steps=args.noise_steps,
        noise_start=args.noise_start,
        noise_growth=args.noise_growth,
        proxy_fraction=args.proxy_fraction,
        proxy_weight=args.proxy_weight,
    )


def _print_plan(plan, dry_run: bool) -> None:
    size = sum(f["bytes"] for f in plan.files) / 1e6
    verb = "would" if dry_run else "will"
    print(
        f"Forgetting {plan.participant} {verb} delete {len(plan.files)} files ({size:.1f} MB) "
        f"and update {len(plan.models)} model(s)."
    )
    for f in plan.files if dry_run else []:
        print(f"  delete {f['path']}")
    for model in plan.models:
        kind = "exact" if model["exact"] else "approximate"
        refresh = ", refreshed on the dataset as it is now" if plan.refresh else ""
        print(f"  model {model['name']}: {model['strategy']} ({kind}{refresh})")
    for name in plan.untouched:
        print(f"  model {name}: untouched (never saw {plan.participant})")
    for path in plan.exports:
        print(f"  exported copy this command cannot reach, replace it by hand: {path}")


def _confirm(participant: str) -> None:
    if not sys.stdin.isatty():
        raise EEG4StudentsError(
            "forget deletes data and cannot be undone; add --yes to confirm when not at a "
            "terminal (or --dry-run to see what it would do)."
        )
    answer = input(f"Type {participant} to confirm, or anything else to stop: ")
    if answer.strip() != participant:
        raise EEG4StudentsError("Stopped: nothing was changed.")


def _print_privacy(metrics: dict) -> None:
    import pandas as pd

    rows = []
    for name, label in (("original", "original"), ("model", "updated"), ("gold", "gold")):
        entry = metrics.get(name)
        if not entry:
            continue
        check = entry["privacy"]
        rank = entry["strangers"]
        rows.append(
            {
                "": label,
                "P's score": check["score"],
                "LLR": check["llr"],
                "threshold": check["threshold"],
                "P": check["verdict"] if check["forgotten"] else check["verdict"].upper(),
                "acc P": entry["forget_accuracy"],
                "acc strangers": entry["test_accuracy"],
                "P above strangers": "" if rank is None else f"{rank['share_above']:.0%}",
            }
        )
    check = metrics["model"]["privacy"]
    print(
        f"  P-level privacy: likelihood ratio against {check['shadows']} shadow models "
        f"(half trained with P), threshold at 5% false positives; attack power "
        f"{check['power']:.0%}{'' if check['conclusive'] else ' (weak: the check says little)'}"
    )
    table = pd.DataFrame(rows)
    print("    " + table.round(3).to_string(index=False).replace("\n", "\n    "))
    print(
        f"  agreement with gold {metrics['agreement']:.3f}, speed-up over retrain "
        f"{metrics['speedup']}x"
    )
    for note in metrics.get("notes", []):
        print(f"  note: {note}")


def cmd_forget(args: argparse.Namespace) -> int:
    from eeg4students.store import Dataset
    from eeg4students.unlearning import audit
    from eeg4students.unlearning.forget import forget_participant, interrupted, plan_forget

    if args.sweep:
        return _forget_sweep(args)
    dataset = Dataset(args.dataset)
    key = audit.read_key(args.key, dataset.root) if args.key else None
    pending = interrupted(dataset)
    if pending is not None and pending["participant"] != args.participant:
        raise DatasetError(
            f"Forgetting participant {pending['participant']!r} was interrupted; run "
            f"`eeg4students forget {dataset.root} --participant {pending['participant']}` first."
        )
    if pending is not None:
        # Confirmed when it started; what is left is to finish it.
        print(f"Finishing the interrupted forgetting of {args.participant}.")
    else:
        plan = plan_forget(dataset, args.participant, args.strategy, refresh=args.refresh)
        _print_plan(plan, args.dry_run)
        if args.dry_run:
            print("Dry run: nothing was changed.")
            return 0
    if args.evaluate and pending is None:
        from eeg4students.modelstore import list_models

        names = {m["name"] for m in plan.models}
        cards = [m.card for m in list_models(dataset) if m.card["name"] in names]
        people = set(dataset.participants()) - {args.participant}
        if any(people <= set(card["trained_on"]["participants"]) for card in cards):
            print(
                "warning: a model was trained on every participant of the dataset, so no "
                "never-seen participant can be compared with P and accuracy on strangers "
                "cannot be measured; the privacy check's shadow models can only vary their seeds."
            )
    if not args.yes and pending is None:
        _confirm(args.participant)
    result = forget_participant(
        dataset,
        args.participant,
        args.strategy,
        conmu=_conmu_settings(args),
        evaluate=args.evaluate,
        refresh=args.refresh,
        n_shadows=args.shadows,
        key=key,
    )
    print(
        f"Forgot participant {result.participant}: {len(result.files_removed)} files removed "
        f"(audit entry {result.audit_entry['seq']})."
    )
    for model in result.models:
        note = f" ({model['note']})" if model.get("note") else ""
        seconds = f" in {model['seconds']:.2f} s" if "seconds" in model else ""
        kind = "" if "exact" not in model else (" exact" if model["exact"] else " approximate")
        print(f"model {model['name']}: {model['strategy']}{kind}{seconds}{note}")
        calibration = model.get("calibration")
        if calibration and not model.get("exact", True):
            verdict = "does not stand out" if calibration["passed"] else "STILL STANDS OUT"
            print(f"  calibration attack: P {verdict} among the calibration strangers")
        if model.get("metrics"):
            _print_privacy(model["metrics"])
    for path in result.exports:
        print(f"exported copy needs replacing: {path}")
    print(
        f"Audit head: {result.audit_entry['hash']}\n  keep it outside the dataset; "
        f"`eeg4students audit verify {dataset.root} --head HASH` then detects removed or "
        "rewritten entries."
    )
    return 0


def _forget_sweep(args: argparse.Namespace) -> int:
    from eeg4students.featureset import compute_features
    from eeg4students.unlearning.experiment import (
        TRADEOFF_COLUMNS,
        frontier,
        split_members,
        sweep,
        tradeoff_figure,
    )

    out = _output_dir(args.out or Path("forget-sweep"))
    features = compute_features(args.dataset)
    people = sorted(features.table["participant"].unique())
    if args.participant not in people:
        raise DatasetError(
            f"{args.dataset} has no participant {args.participant!r} with features."
        )
    others = [p for p in people if p != args.participant]
    members, strangers = split_members(others, test_share=0.3)
    results = sweep(
        features.table,
        features.feature_columns,
        args.participant,
        [args.participant, *members],
        strangers,
        model=args.model,
        n_shadows=args.shadows,
    )
    out.mkdir(parents=True, exist_ok=True)
    results.to_csv(out / "tradeoff.csv", index=False)
    figure = tradeoff_figure(results, out / "tradeoff.png")
    print(
        f"Sweep on a copy (the dataset is unchanged): {len(results)} settings, model trained on "
        f"{len(members) + 1} participants, {len(strangers)} never seen."
    )
    _print_table(results.reindex(columns=TRADEOFF_COLUMNS).round(3))
    print(frontier(results))
    print(f"Table and figure in {out} ({figure.name}).")
    return 0


def cmd_audit(args: argparse.Namespace) -> int:
    from eeg4students.store import Dataset
    from eeg4students.unlearning import audit

    if args.audit_command == "key":
        path = audit.new_key(args.file, args.dataset)
        print(
            f"Key written to {path} (readable by you only). Keep it outside the dataset and "
            "pass --key to every forget and audit verify from now on."
        )
        return 0
    dataset = Dataset(args.dataset)
    if args.audit_command == "verify":
        key = audit.read_key(args.key, dataset.root) if args.key else None
        n = audit.verify(dataset.root, head_hash=args.head, key=key)
        checks = ["hash chain intact", "model cards agree"]
        checks += ["head matches"] if args.head else []
        checks += ["every HMAC valid"] if key else []
        print(f"Audit log verified: {n} entries, {', '.join(checks)}.")
        print(f"Head: {audit.head(dataset.root)}")
        if not args.head:
            print("(pass --head with the head you kept outside the dataset to detect removals)")
        return 0
    audit.verify(dataset.root)
    entries = audit.read_log(dataset.root)
    if not entries:
        print(f"{dataset.root}: no forgetting recorded.")
    for entry in entries:
        models = ", ".join(
            f"{m['name']} ({m['strategy']}{'' if m.get('exact', True) else ', approximate'})"
            for m in entry["models_updated"]
        )
        print(
            f"{entry['seq']:3d} {entry['time']} forget {entry['participant']} "
            f"[{entry['strategy']}]: {len(entry['files_removed'])} files; models: "
            f"{models or 'none'}"
        )
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from eeg4students.live import run_live
    from eeg4students.modelstore import load_model

    saved = load_model(args.model)

    def show(update: dict) -> None:
        if update["rejected"]:
            print(f"{update['time']:7.1f} s  (window rejected: {update['rejected']})", flush=True)
        elif update["top"] is not None:
            print(
                f"{update['time']:7.1f} s  {update['label']:<12} "
                f"(top base {update['top']}, second {update['second']})",
                flush=True,
            )
        else:
            print(f"{update['time']:7.1f} s  {update['label']}", flush=True)

    print(
        f"Live classification with {saved.card['name']!r} ({saved.card['model']}); Ctrl-C stops."
    )
    updates = run_live(
        saved, args.board, seconds=args.seconds, on_update=show, **_connection(args)
    )
    print(f"{len(updates)} windows classified.")
    return 0


# -- boards, record, recover, package, ingest ----------------------------------


def cmd_boards(args: argparse.Namespace) -> int:
    import pandas as pd

    from eeg4students.acquire import board_table

    _print_table(pd.DataFrame(board_table()))
    return 0


def _connection(args: argparse.Namespace) -> dict:
    return {
        "mac_address": args.mac_address,
        "serial_port": args.serial_port,
        "serial_number": args.serial_number,
        "timeout": args.timeout,
        "file": args.file,
        "master_board": args.master_board,
    }


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
            connection=_connection(args),
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

    out = package_participant(args.dataset, args.participant, _output_file(args.out))
    print(f"Package written: {out}")
    return 0


def cmd_ingest(args: argparse.Namespace) -> int:
    from eeg4students.remote import ingest
    from eeg4students.store import Dataset

    participant, added = ingest(args.package, args.to, merge=args.merge)
    print(f"Ingested {len(added)} files of {participant}, all checksums verified.")
    table = Dataset(args.to).recordings()
    mine = table[table["participant"] == participant]
    _print_table(mine[["participant", "session", "task", "run", "duration_s", "notes"]].round(1))
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
    for scheme, evaluation in result["evaluations"].items():
        print(f"Mean accuracy per participant, {scheme} (chance 0.20):")
        print(evaluation.summary().round(3).to_string())
    print(f"Saved model {result['model'].card['name']!r} in {result['model'].path}")
    forgetting = result["forgetting"]
    if forgetting is not None:
        print(f"Forgetting {forgetting['participant']}, every strategy against the gold model:")
        from eeg4students.unlearning.experiment import TRADEOFF_COLUMNS, frontier

        _print_table(forgetting["tradeoff"].reindex(columns=TRADEOFF_COLUMNS).round(3))
        print(frontier(forgetting["tradeoff"]))
        entry = forgetting["result"].audit_entry
        print(f"The dataset forgot {forgetting['participant']} (audit entry {entry['seq']}).")
    print(f"Summary written to {result['summary_file']} ({result['seconds']:.1f} s).")
    return 0


# -- parser -------------------------------------------------------------------


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def _n_jobs(text: str) -> int:
    value = int(text)
    if value == 0 or value < -1:
        raise argparse.ArgumentTypeError(f"must be a positive count or -1, not {value}")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, not {value}")
    return value


def _add_parallel_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("parallel work (joblib; see eeg4students.parallel)")
    g.add_argument(
        "--n-jobs", type=_n_jobs, help="local worker processes (-1: every core; default 1)"
    )
    g.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, tcp://host:8786"
    )


def _add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection (BrainFlowInputParams)")
    g.add_argument("--mac-address", help="Bluetooth address of the headset")
    g.add_argument("--serial-port", help="serial port of the dongle (e.g. /dev/ttyUSB0)")
    g.add_argument("--serial-number", help="headset name, e.g. Muse-1234")
    g.add_argument("--timeout", type=int, help="seconds to wait when connecting")
    g.add_argument("--file", help="recording replayed by --board playback")
    g.add_argument("--master-board", help="headset that made the replayed recording")


def build_parser() -> argparse.ArgumentParser:
    """Build the ``eeg4students`` argument parser."""
    from eeg4students.names import FORMATS

    parser = argparse.ArgumentParser(
        prog="eeg4students",
        description="EEG brain-computer-interface studies with consumer headsets.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser(
        "import",
        help="add recordings from headset files (or a whole folder) to a BIDS dataset",
        description="Read recordings (muse-lsl, Mind Monitor, OpenBCI GUI, BrainFlow, "
        "EDF/BDF/BrainVision/FIF) and add them to a dataset. Files named one by one: all "
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
    p.add_argument("--run", type=_positive_int, help="first run number (default: next free)")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--board", help="headset that wrote a BrainFlow file (e.g. muse_2)")
    p.add_argument(
        "--channels",
        metavar="NAMES",
        help="comma-separated names of the EEG channels in file order, e.g. Fp1,Fp2,C3,C4 "
        "(OpenBCI files only carry EXG1..EXGn)",
    )
    p.add_argument("--age", help="the participant's age in years (never taken from a file)")
    p.add_argument("--sex", help="the participant's sex: M, F or O")
    p.add_argument("--hand", help="the participant's handedness: R, L or A")
    p.add_argument(
        "--participants-table",
        metavar="FILE",
        help="CSV/TSV with participant, age, sex, hand columns for many participants",
    )
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
    _add_parallel_options(p)
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
    _add_feature_options(p)
    _add_parallel_options(p)
    p.set_defaults(func=cmd_features)

    from eeg4students.names import MODEL_NAMES, SCHEMES

    p = sub.add_parser(
        "evaluate",
        help="evaluate classifiers honestly and write a report",
        description="Extract features (cached), evaluate the chosen models under a scheme "
        "(time-blocked: the study's chunks of each block with a gap; cross-session; loso: "
        "leave one participant out; shuffled: LEAKY, for comparison only) and write "
        "scores.csv, figures and report.html.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--scheme", choices=SCHEMES, default="time-blocked")
    p.add_argument(
        "--models",
        type=_model_list,
        default=["rf", "svm", "tmv"],
        help=f"comma-separated, from {','.join(MODEL_NAMES)} (default rf,svm,tmv)",
    )
    p.add_argument("--folds", type=_positive_int, default=7, help="time-blocked/shuffled folds")
    p.add_argument("--k", type=_positive_int, default=5, help="causal TMV vote length (windows)")
    p.add_argument("--out", type=Path, required=True, help="output folder")
    _add_feature_options(p)
    _add_parallel_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "train",
        help="train a model and save it in the dataset with a model card",
        description="Train on the dataset's features and save the model with skops under "
        "derivatives/eeg4students/models/NAME/ with card.json listing what it was trained on.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--model", default="tmv", help=f"one of {','.join(MODEL_NAMES)}")
    p.add_argument("--name", required=True, help="model name (letters and digits)")
    p.add_argument("--out", type=Path, help="also export a copy to this folder")
    p.add_argument("--overwrite", action="store_true", help="replace a model of this name")
    p.add_argument(
        "--unlearnable",
        choices=("sharded",),
        help="train the sharded form, which forgets a participant fast and exactly",
    )
    p.add_argument("--q", type=float, default=0.25, help="sharded RF: share of trees per person")
    p.add_argument(
        "--shards", type=_positive_int, default=4, help="sharded SVM and others: shards"
    )
    _add_feature_options(p)
    _add_parallel_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "forget",
        help="delete a participant's data and remove them from every model",
        description="Remove the participant's recordings, BIDS entries and cached features, "
        "update every saved model that saw them (retrain: exact; sharded: exact and fast "
        "for models trained with --unlearnable sharded; conmu: approximate, controllable), "
        "and append a hash-chained audit record. Safe to re-run after an interruption.",
    )
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--participant", required=True, help="label of the participant who withdrew")
    p.add_argument(
        "--strategy",
        choices=("retrain", "sharded", "conmu"),
        default="retrain",
        help="how models are updated (default retrain, exact)",
    )
    p.add_argument("--dry-run", action="store_true", help="list what would change; change nothing")
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="retrain models on the dataset as it is now (new data enters), not on their cards",
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="measure every updated model against the gold model and check P's privacy",
    )
    p.add_argument(
        "--shadows",
        type=_positive_int,
        default=16,
        help="shadow models of the privacy check (default 16; each costs one retrain)",
    )
    p.add_argument("--key", metavar="FILE", help="key of a keyed audit chain (audit key FILE)")
    p.add_argument(
        "--sweep",
        action="store_true",
        help="run a grid of ConMU settings on a copy and plot the trade-off",
    )
    p.add_argument("--model", default="rf", help="model of the sweep (default rf)")
    p.add_argument("--out", type=Path, help="folder of the sweep's table and figure")
    g = p.add_argument_group("ConMU knobs (see eeg4students.unlearning.conmu)")
    g.add_argument("--band", type=float, default=1.0, help="loss band in std (0: keep all)")
    g.add_argument("--noise-steps", type=int, default=3, help="most noise steps (0: none)")
    g.add_argument("--noise-start", type=float, default=0.5, help="first noise, feature std")
    g.add_argument("--noise-growth", type=float, default=2.0, help="noise factor per step")
    g.add_argument("--proxy-fraction", type=float, default=0.25, help="proxy's data share")
    g.add_argument("--proxy-weight", type=float, default=1.0, help="noisy copies per window")
    _add_parallel_options(p)
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "audit",
        help="check or list the forgetting audit log",
        description="The audit log records every forgetting, hash-chained. verify checks the "
        "chain, the model cards, and optionally the head you kept and the chain's key.",
    )
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = asub.add_parser("verify", help="check the hash chain, the cards, the head and the key")
    q.add_argument("dataset", metavar="DATASET")
    q.add_argument("--head", metavar="HASH", help="the head printed by forget, kept outside")
    q.add_argument("--key", metavar="FILE", help="the chain's key (audit key FILE)")
    q.set_defaults(func=cmd_audit)
    q = asub.add_parser("show", help="list the entries")
    q.add_argument("dataset", metavar="DATASET")
    q.set_defaults(func=cmd_audit)
    q = asub.add_parser("key", help="make a key for a keyed audit chain")
    q.add_argument("file", metavar="FILE", help="the key file to create (outside the dataset)")
    q.add_argument("--dataset", metavar="DATASET", help="the dataset, to check the key is outside")
    q.set_defaults(func=cmd_audit)

    p = sub.add_parser(
        "predict",
        help="predict the task of each block of a recording",
        description="Apply a saved model (its folder) to a recording file; prints one line "
        "per task block with the predicted task.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder (from train)")
    p.add_argument("recording", metavar="RECORDING", help="recording file, any supported format")
    p.add_argument("--format", default="auto", choices=("auto", *FORMATS))
    p.add_argument("--board", help="headset that wrote a BrainFlow file")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "live",
        help="classify a headset's stream live with causal TMV",
        description="Stream from a BrainFlow board and print the model's label for every "
        "new window (causal Time Majority Voting for TMV models).",
    )
    p.add_argument("--board", required=True, help="synthetic, muse_2, muse_s, cyton, ...")
    p.add_argument("--model", required=True, help="model folder (from train)")
    p.add_argument("--seconds", type=_positive_float, help="stop after this long")
    _add_connection_options(p)
    p.set_defaults(func=cmd_live)

    p = sub.add_parser("boards", help="list the supported headsets (from BrainFlow)")
    p.set_defaults(func=cmd_boards)

    p = sub.add_parser(
        "record",
        help="record a session under the protocol",
        description="Connect to a headset, check the signal, cue every task of the session's "
        "order with BrainFlow markers, stream to disk while recording, and store the session "
        "in the BIDS dataset. Ctrl-C or a silent headset saves what was captured.",
    )
    p.add_argument("--board", required=True, help="synthetic, muse_2, muse_s, cyton, ...")
    p.add_argument("--participant", required=True)
    p.add_argument("--session", required=True, help="session number: picks the task order")
    p.add_argument("--to", required=True, metavar="DATASET")
    p.add_argument("--protocol", help="protocol file, or 'quick' (default: EEG4Students)")
    p.add_argument("--task-seconds", type=_positive_float, help="override the block length")
    p.add_argument("--yes", action="store_true", help="start without waiting at the check")
    p.add_argument(
        "--stall-timeout",
        type=_positive_float,
        default=5.0,
        help="seconds without samples before giving up (default 5)",
    )
    _add_connection_options(p)
    p.set_defaults(func=cmd_record)

    p = sub.add_parser("recover", help="store a partial stream left by a killed recorder")
    p.add_argument("partial", metavar="PARTIAL", help="sourcedata/eeg4students-partial/*.csv")
    p.add_argument("--to", required=True, metavar="DATASET")
    p.set_defaults(func=cmd_recover)

    p = sub.add_parser("package", help="pack a participant's recordings for sending")
    p.add_argument("dataset", metavar="DATASET")
    p.add_argument("--participant", required=True)
    p.add_argument("--out", required=True, type=Path, help="the zip file to write")
    p.set_defaults(func=cmd_package)

    p = sub.add_parser("ingest", help="verify a package and add it to a dataset")
    p.add_argument("package", metavar="FILE.zip")
    p.add_argument("--to", required=True, metavar="DATASET")
    p.add_argument("--merge", action="store_true", help="add sessions to an existing participant")
    p.set_defaults(func=cmd_ingest)

    p = sub.add_parser(
        "demo",
        help="run the end-to-end demo on simulated data",
        description="Simulate a class, store it as BIDS, extract features with the "
        "quality table, evaluate RF, RBF SVM and TMV (cross-session and time-blocked) with "
        "reports, train a TMV model, and write a summary.",
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
    from eeg4students.parallel import backend

    try:
        with backend(getattr(args, "n_jobs", None), getattr(args, "scheduler", None)):
            return int(args.func(args) or 0)
    except EEG4StudentsError as exc:
        print(f"eeg4students: error: {exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        # The operating system refused (no such folder, no permission, disk full):
        # name the file and the reason, as for the toolkit's own errors.
        where = f"{exc.filename}: " if exc.filename else ""
        reason = exc.strerror or str(exc)
        print(
            f"eeg4students: error: {where}{reason}; check the path, its permissions and the "
            "free space.",
            file=sys.stderr,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        print("eeg4students: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def run() -> None:
    """Console-script entry point."""
    sys.exit(main())


if __name__ == "__main__":
    run()
