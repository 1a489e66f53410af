"""Commands for a participant who withdraws: ``forget`` and ``audit``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from eeg4students.cli._common import (
    Number,
    add_parallel_options,
    output_dir,
    path_value,
    print_table,
)
from eeg4students.errors import DatasetError, EEG4StudentsError
from eeg4students.names import MODEL_NAMES, PRIVACY_SHADOWS
from eeg4students.tables import format_table


def _conmu_settings(args: argparse.Namespace):
    from eeg4students.unlearning.conmu import ConMUSettings

    return ConMUSettings(
        band=None if args.band <= 0 else args.band, proxy_fraction=args.proxy_fraction
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


def _print_metrics(metrics: dict, report: dict | None = None) -> None:
    """What ``--evaluate`` measured; ``report`` (a dry run's) adds P's own figures."""
    import pandas as pd

    from eeg4students.unlearning.privacy import strongest

    if metrics.get("identical") is not None:
        digest = metrics["model"]["digest"][:12]
        print(
            f"  exact: identical to a retrain without P with the same seeds (digest {digest})"
            if metrics["identical"]
            else "  exact: DIFFERS from a retrain without P with the same seeds (a bug: report it)"
        )
    check = metrics["model"]["privacy"] or (metrics.get("original") or {}).get("privacy")
    if check is not None:
        kind = (
            "U-LiRA: shadows unlearned by the same strategy"
            if check["against"] == ("unlearned")
            else "shadows trained with and without P"
        )
        sides = " + ".join(f"{n} {k}" for k, n in check["shadows"].items())
        print(
            f"  P-level privacy ({kind}; {sides}; {check['fpr']:.0%} false positives): "
            f"power {check['power']:.0%} to catch a model that remembers P"
        )
        if check["against"] == "unlearned":
            print(
                f"    the strategy left P detectable in {check['detected']:.0%} of its shadow runs"
            )
    rows = []
    for name, label in (("original", "original"), ("model", "updated"), ("gold", "gold")):
        entry = metrics.get(name)
        if not entry:
            continue
        verdict = entry["privacy"]["verdict"] if entry["privacy"] else ""
        if name == "gold" or (name == "model" and metrics.get("identical") is not None):
            verdict = "exact"
        row = {
            "": label,
            "P": verdict.upper() if verdict == "not forgotten" else verdict,
            "acc remaining": entry["remain_accuracy"],
            "acc strangers": entry["test_accuracy"],
        }
        if report is not None:
            full = report[name]
            screen = (full.get("private") or {}).get("screen")
            statistic = strongest(screen) if screen else None
            rank = full["strangers"]
            row.update(
                {
                    "acc P": full["forget_accuracy"],
                    "member z": "" if statistic is None else statistic["z"],
                    "member threshold": "" if statistic is None else statistic["threshold"],
                    "P above strangers": "" if rank is None else f"{rank['share_above']:.0%}",
                }
            )
        rows.append(row)
    print("    " + format_table(pd.DataFrame(rows), width=96).replace("\n", "\n    "))
    for name in ("original", "model"):
        entry = metrics.get(name) or {}
        if entry.get("privacy") and entry["privacy"]["reason"]:
            print(f"    inconclusive: {entry['privacy']['reason']}")
    agreement = metrics.get("agreement")
    print(
        ("  " if agreement is None else f"  agreement with gold on strangers {agreement:.3f}, ")
        + f"speed-up over retrain {metrics['speedup']}x"
    )
    if report is not None and report.get("agreement_on_participant") is not None:
        print(f"  agreement with gold on P's windows {report['agreement_on_participant']:.3f}")
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
        if args.dry_run and not args.evaluate:
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
                "cannot be measured"
                + (
                    "; the privacy check's shadow models can only vary their seeds."
                    if args.strategy == "conmu"
                    else "."
                )
            )
    if not args.yes and pending is None and not args.dry_run:
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
        dry_run=args.dry_run,
    )
    if result.dry_run:  # with --evaluate: computed, measured and undone
        for model in result.models:
            note = f" ({model['note']})" if model.get("note") else ""
            kind = " exact" if model["exact"] else " approximate"
            print(f"model {model['name']} would be: {model['strategy']}{kind}{note}")
            _print_metrics(model["metrics"], result.reports.get(model["name"]))
        print(
            "Dry run: nothing was changed (P's own figures above are shown only here: a real "
            "forget keeps none of them)."
        )
        return 0
    print(
        f"Forgot participant {result.participant}: {len(result.files_removed)} files removed "
        f"(audit entry {result.audit_entry['seq']})."
    )
    for model in result.models:
        note = f" ({model['note']})" if model.get("note") else ""
        seconds = f" in {model['seconds']:.2f} s" if "seconds" in model else ""
        kind = "" if "exact" not in model else (" exact" if model["exact"] else " approximate")
        print(f"model {model['name']}: {model['strategy']}{kind}{seconds}{note}")
        _print_certificate(model.get("certificate"))
        calibration = model.get("calibration")
        if calibration and not model.get("exact", True):
            verdict = "does not stand out" if calibration["passed"] else "STILL STANDS OUT"
            print(f"  calibration attack: P {verdict} among the calibration strangers")
        if model.get("metrics"):
            _print_metrics(model["metrics"])
    for path in result.exports:
        print(f"exported copy needs replacing: {path}")
    print(
        f"Audit head: {result.audit_entry['hash']}\n  keep it outside the dataset; "
        f"`eeg4students audit verify {dataset.root} --head HASH` then detects removed or "
        "rewritten entries."
    )
    return 0


def _print_certificate(certificate: dict | None) -> None:
    """A certified removal's guarantee and budget, one line per certified model."""
    if not certificate:
        return
    parts = certificate.items() if "epsilon" not in certificate else [("", certificate)]
    for base, part in parts:
        who = f" {base}" if base else ""
        if part["retrained"]:
            print(
                f"  certificate{who}: the budget ran out (this removal needed "
                f"{part['bound']:.3g}); retrained without P with fresh noise, budget "
                f"{part['budget']:.3g} anew"
            )
        else:
            steps = part.get("steps", 1)
            how = "residual bound"
            if part.get("exact"):
                how = f"exact residual after {steps} Newton step{'s' * (steps > 1)}"
            print(
                f"  certificate{who}: (epsilon {part['epsilon']:g}, delta {part['delta']:g})-"
                f"certified removal; {how} {part['bound']:.3g}, "
                f"{part['left']:.3g} of {part['budget']:.3g} left"
            )


def _forget_sweep(args: argparse.Namespace) -> int:
    from eeg4students.featureset import compute_features
    from eeg4students.unlearning.experiment import (
        frontier,
        split_members,
        sweep,
        tradeoff_report,
        tradeoff_view,
    )

    out = output_dir(args.out or Path("forget-sweep"))
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
    report = tradeoff_report(
        results,
        out,
        args.participant,
        settings={
            "dataset": str(args.dataset),
            "model": args.model,
            "members (trained on)": [args.participant, *members],
            "never seen": strangers,
            "shadow models": args.shadows,
            "features": features.settings(),
        },
    )
    print(
        f"Sweep on a copy (the dataset is unchanged): {len(results)} settings, model trained on "
        f"{len(members) + 1} participants, {len(strangers)} never seen."
    )
    print_table(tradeoff_view(results))
    print(frontier(results))
    print(f"Table, figure and report in {out} ({report.name}).")
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


def add_parsers(sub) -> None:
    """Add this group's commands to the ``eeg4students`` subparsers."""
    p = sub.add_parser(
        "forget",
        help="delete a participant's data and remove them from every model",
        description="Remove the participant's recordings, BIDS entries and cached features, "
        "update every saved model that saw them (retrain: exact; sharded: exact and fast "
        "for models trained with --unlearnable sharded; certified: a Newton step with an "
        "(epsilon, delta) guarantee for models trained with --unlearnable certified; conmu: "
        "approximate, controllable), "
        "and append a hash-chained audit record. Safe to re-run after an interruption.",
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    p.add_argument("--participant", required=True, help="label of the participant who withdrew")
    p.add_argument(
        "--strategy",
        choices=("retrain", "sharded", "certified", "conmu"),
        default="retrain",
        help="how models are updated: retrain and sharded are exact, certified approximate "
        "with an (epsilon, delta) guarantee, conmu approximate",
    )
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would change; change nothing (with --evaluate: compute the whole "
        "forgetting and its checks, then undo)",
    )
    p.add_argument("--yes", action="store_true", help="do not ask for confirmation")
    p.add_argument(
        "--refresh",
        action="store_true",
        help="retrain models on the dataset as it is now (new data enters), not on their cards",
    )
    p.add_argument(
        "--evaluate",
        action="store_true",
        help="compare every updated model with a retrain without P: exact strategies by "
        "digest, conmu by P's privacy check",
    )
    p.add_argument(
        "--shadows",
        type=Number(int, 8, 1000),
        default=PRIVACY_SHADOWS,
        help="shadow models of conmu's privacy check, half never seeing P (each costs a "
        "retrain, members also an unlearning)",
    )
    p.add_argument(
        "--key",
        metavar="FILE",
        type=path_value,
        help="key of a keyed audit chain (audit key FILE)",
    )
    p.add_argument(
        "--sweep",
        action="store_true",
        help="run retrain, sharded, certified removals (epsilon 0.1-10) and ConMU settings "
        "on a copy and plot the trade-off",
    )
    p.add_argument(
        "--model", default="rf", choices=MODEL_NAMES, metavar="MODEL", help="model of the sweep"
    )
    p.add_argument("--out", type=path_value, help="folder of the sweep's table and figure")
    g = p.add_argument_group("ConMU knobs (see eeg4students.unlearning.conmu)")
    g.add_argument(
        "--band", type=Number(float, 0, 100), default=1.0, help="loss band in std (0: keep all)"
    )
    g.add_argument(
        "--proxy-fraction",
        type=Number(float, 0, 1, above=True),
        default=0.25,
        help="share of the remaining windows the proxy (which scores the selection) learns",
    )
    add_parallel_options(p)
    p.set_defaults(func=cmd_forget)

    p = sub.add_parser(
        "audit",
        help="check or list the forgetting audit log",
        description="The audit log records every forgetting, hash-chained. verify checks the "
        "chain, the model cards, and optionally the head you kept and the chain's key.",
    )
    asub = p.add_subparsers(dest="audit_command", required=True, metavar="ACTION")
    q = asub.add_parser(
        "verify",
        help="check the hash chain, the cards, the head and the key",
        description="Check that the audit log is intact: its hash chain, the model cards' "
        "references to it, and (if given) the head you kept and the chain's key.",
    )
    q.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    q.add_argument("--head", metavar="HASH", help="the head printed by forget, kept outside")
    q.add_argument("--key", metavar="FILE", help="the chain's key (audit key FILE)")
    q.set_defaults(func=cmd_audit)
    q = asub.add_parser(
        "show",
        help="list the entries",
        description="List every forgetting the audit log records.",
    )
    q.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    q.set_defaults(func=cmd_audit)
    q = asub.add_parser(
        "key",
        help="make a key for a keyed audit chain",
        description="Write a new random key file for a keyed (HMAC) audit chain; keep it "
        "outside the dataset and give it to forget and audit verify with --key.",
    )
    q.add_argument("file", metavar="FILE", help="the key file to create (outside the dataset)")
    q.add_argument("--dataset", metavar="DATASET", help="the dataset, to check the key is outside")
    q.set_defaults(func=cmd_audit)
