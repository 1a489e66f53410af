"""Commands that analyse a dataset: ``features``, ``evaluate``, ``train``, ``predict``,
``live``."""

from __future__ import annotations

import argparse
import difflib

from eeg4students.cli._common import (
    Number,
    add_connection_options,
    add_parallel_options,
    connection_params,
    output_dir,
    path_value,
    print_table,
    text_value,
)
from eeg4students.names import (
    ADAPT_WARMUP_SECONDS,
    CERTIFIED_DEFAULTS,
    CERTIFIED_RANGES,
    FORMATS,
    HOP_RANGE,
    MAX_FREQ,
    MODEL_NAMES,
    SCHEMES,
    WINDOW_RANGE,
)
from eeg4students.tables import quality_view


def _names(text: str, what: str) -> list[str]:
    names = [part.strip() for part in text_value(text).split(",")]
    if not names or any(not name for name in names):
        raise argparse.ArgumentTypeError(f"{text!r}: give {what} separated by commas, none empty")
    if len(set(names)) != len(names):
        raise argparse.ArgumentTypeError(f"{text!r} names one of its {what} twice")
    return names


def _channel_list(text: str) -> list[str]:
    return _names(text, "channel names")


def _label_list(text: str) -> list[str]:
    return _names(text, "participant labels")


def _band_pairs(text: str) -> tuple[tuple[str, str], ...]:
    pairs = []
    for item in filter(None, text.split(",")):
        if "/" not in item:
            raise argparse.ArgumentTypeError(f"ratio {item!r} must look like theta/beta")
        a, b = item.split("/", 1)
        pairs.append((a.strip(), b.strip()))
    return tuple(pairs)


#: The model names as help lists them (wrapped at commas, not inside a name).
MODEL_LIST = ", ".join(MODEL_NAMES)
MODEL_HELP = f"one of {MODEL_LIST}"


def _add_feature_options(p: argparse.ArgumentParser) -> None:
    """Options of preprocessing and features, shared by features, evaluate and train."""
    g = p.add_argument_group("preprocessing and features")
    g.add_argument(
        "--window", type=Number(float, *WINDOW_RANGE, unit="s"), default=2.0, help="seconds"
    )
    g.add_argument("--hop", type=Number(float, *HOP_RANGE, unit="s"), default=1.0, help="seconds")
    g.add_argument(
        "--band-pass",
        nargs=2,
        type=Number(float, 0, MAX_FREQ, unit="Hz"),
        default=(1.0, 40.0),
        metavar=("LO", "HI"),
        help="band-pass edges in Hz, LO below HI (default: 1 40)",
    )
    g.add_argument(
        "--filter",
        choices=("iir", "fir"),
        default="iir",
        help="band-pass design: 4th-order Butterworth (iir) or MNE's FIR",
    )
    g.add_argument(
        "--line-freq",
        type=Number(float, 1, MAX_FREQ, unit="Hz"),
        help="mains frequency for the notch (default: the recording's, else 50)",
    )
    g.add_argument(
        "--reference",
        choices=("none", "average"),
        default="none",
        help="re-reference after filtering: none or the channels' mean",
    )
    g.add_argument(
        "--channels",
        type=_channel_list,
        help="comma-separated EEG channels (default: the good ones)",
    )
    g.add_argument(
        "--transition", type=Number(float, 0, 0.99), default=0.3, help="share dropped per block"
    )
    g.add_argument(
        "--max-ptp",
        type=Number(float, 0, 1e6, unit="uV"),
        default=500.0,
        help="largest peak-to-peak amplitude of a kept window, uV; 0 turns it off",
    )
    g.add_argument(
        "--min-kept",
        type=Number(float, 0, 1),
        default=0.35,
        help="blocks, sessions and participants keeping a smaller share are excluded",
    )
    g.add_argument("--relative", action="store_true", help="add relative band power")
    g.add_argument("--ratios", type=_band_pairs, default=(), help="e.g. theta/beta,alpha/theta")
    g.add_argument(
        "--covariance",
        action="store_true",
        help="add each window's spatial covariance (cov_<a>_<b> columns) for the Riemannian "
        "models tslr and mdm (on whenever one of them is asked for)",
    )
    g.add_argument(
        "--participants", type=_label_list, help="comma-separated labels (default: all)"
    )


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
        channels=tuple(args.channels) if args.channels else None,
        window=args.window,
        hop=args.hop,
        transition_share=args.transition,
        max_ptp_uv=args.max_ptp or None,
        min_kept=args.min_kept,
    )
    from eeg4students.names import COVARIANCE_MODELS

    asked = getattr(args, "models", None) or [getattr(args, "model", None)]
    covariance = args.covariance or any(m in COVARIANCE_MODELS for m in asked if m)
    feat = FeatureParams(relative=args.relative, ratios=args.ratios, covariance=covariance)
    return pre, feat, args.participants


def cmd_features(args: argparse.Namespace) -> int:
    from eeg4students.featureset import compute_features, quality_by_recording

    pre, feat, participants = _feature_settings(args)
    result = compute_features(args.dataset, pre, feat, participants=participants)
    print("Quality (share of windows kept, and why the rest was dropped, in %):")
    print_table(quality_view(quality_by_recording(result.quality)))
    if len(result.excluded):
        print(f"Excluded (below {pre.min_kept:.0%} kept):")
        print_table(result.excluded.round({"share_kept": 2}).astype(object).fillna(""))
    if result.channels is not None:
        print(result.channels.describe())
    for problem in result.problems:
        print(f"warning: {problem}")
    print(
        f"{len(result.table)} windows x {len(result.feature_columns)} features from "
        f"{result.table['block'].nunique()} blocks ({result.cached} recordings from cache); "
        f"files in {result.folder}"
    )
    return 0


def _model_list(text: str) -> list[str]:
    names = [name.strip().lower() for name in _names(text, "model names")]
    for name in names:
        if name not in MODEL_NAMES:
            close = difflib.get_close_matches(name, MODEL_NAMES, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise argparse.ArgumentTypeError(
                f"unknown model {name!r}; {hint}use {', '.join(MODEL_NAMES)}"
            )
    return names


def _adapt_list(text: str) -> list[str]:
    values = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [v for v in values if v not in ("none", "session", "participant")]
    if not values or unknown:
        raise argparse.ArgumentTypeError(
            f"{text!r}: use none, session or participant, or several like none,session"
        )
    return list(dict.fromkeys(values))


def _minutes_list(text: str) -> list[float]:
    minutes = Number(float, 0, 600, unit="min")
    values = [minutes(part) for part in _names(text, "minutes")]
    if len(values) > 20:
        raise argparse.ArgumentTypeError(f"{text!r}: give at most 20 levels, like 0,1,2,5")
    return sorted(set(values))


def cmd_evaluate(args: argparse.Namespace) -> int:
    from eeg4students.evaluation import chance_levels, choose_scheme, evaluate_adaptations
    from eeg4students.featureset import compute_features
    from eeg4students.report import write_report

    pre, feat, participants = _feature_settings(args)
    output_dir(args.out)
    features = compute_features(args.dataset, pre, feat, participants=participants)
    scheme = args.scheme
    if scheme == "auto":
        scheme, why = choose_scheme(features.table)
        print(f"Scheme {scheme}: {why}. (--scheme chooses another.)")
    if scheme == "shuffled":
        print("warning: the shuffled scheme is LEAKY (overlapping windows on both sides);")
        print("         its accuracies are inflated and only show by how much.")
    n_tasks, majority = chance_levels(features.table)
    result = evaluate_adaptations(
        features.table,
        features.feature_columns,
        args.models,
        scheme,
        [None if a == "none" else a for a in args.adapt],
        n_splits=args.folds,
        window=pre.window,
        k=args.k,
        minutes=args.minutes,
        balance=args.calibration_weight == "balanced",
    )
    report = write_report(
        result,
        args.out,
        quality=features.quality,
        feature_settings=features.settings(),
        dataset=str(args.dataset),
    )
    leaky = " (LEAKY)" if result.settings["leaky"] else ""
    adapt = result.settings["adapt"]
    if isinstance(adapt, list):
        adapted = f", without and with adaptation ({', '.join(adapt)})"
    else:
        adapted = f", features adapted per {adapt}" if adapt else ""
    chance = (
        f"chance {1 / max(n_tasks, 1):.2f} for {n_tasks} tasks; always answering the most "
        f"frequent task scores {majority:.2f}"
    )
    if scheme == "calibration":
        print(
            f"Mean accuracy over participants, {scheme}{adapted} ({chance}): a cohort model plus "
            "M minutes of the student's data (+M min), and a model of the student's own "
            "other sessions (own); per participant in summary.csv:"
        )
        print_table(result.learning_curve(), index=True)
    else:
        print(f"Mean accuracy per participant, {scheme}{adapted}{leaky} ({chance}):")
        print_table(result.summary(), index=True)
    for note in result.skipped:
        print(f"left out: {note}")
    for note in result.notes:
        print(f"note: {note}")
    print(f"Table, figures and report in {args.out} ({report.name}).")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from eeg4students.modelstore import export_model
    from eeg4students.training import train_model

    pre, feat, participants = _feature_settings(args)
    out = output_dir(args.out) if args.out else None
    unlearnable = None
    if args.unlearnable == "sharded":
        unlearnable = {"kind": "sharded", "q": args.q, "shards": args.shards}
    elif args.unlearnable == "certified":
        unlearnable = {"kind": "certified", **{k: getattr(args, k) for k in CERTIFIED_RANGES}}
    saved = train_model(
        args.dataset,
        args.model,
        args.name,
        pre=pre,
        feat=feat,
        participants=participants,
        unlearnable=unlearnable,
        adapt=None if args.adapt == "none" else args.adapt,
        overwrite=args.overwrite,
    )
    trained = saved.card["trained_on"]
    adapted = f" adapted per {saved.adapt}" if saved.adapt else ""
    print(
        f"Trained {args.model} on {trained['n_windows']} windows{adapted} of "
        f"{len(trained['participants'])} participants ({len(trained['recordings'])} "
        f"recordings); saved in {saved.path}"
    )
    for base, part in (saved.card.get("certificate") or {}).items():
        if isinstance(part, dict):
            print(
                f"Certified removal{'' if base == 'model' else f' ({base})'}: epsilon "
                f"{part['epsilon']:g}, delta {part['delta']:g} per participant removed; noise "
                f"{part.get('noise_std', part['sigma']):.3g} (sigma {part['sigma']:g}), L2 "
                f"{part['lam']:g}; gradient-residual budget "
                f"{part['budget']:.3g} before a retrain"
            )
    if saved.card.get("tmv_ranking"):
        print(f"TMV base ranking: {', '.join(saved.card['tmv_ranking'])}")
    if out is not None:
        print(f"Exported a copy to {export_model(saved, out)}")
    return 0


def cmd_predict(args: argparse.Namespace) -> int:
    from eeg4students.io import read_recording
    from eeg4students.modelstore import load_model
    from eeg4students.predict import predict_recording, seen_in_training

    saved = load_model(args.model)
    options = {"board": args.board} if args.board else {}
    if args.stream:
        options["stream"] = args.stream
    raw = read_recording(args.recording, args.format, **options)
    table = predict_recording(saved, raw)
    print_table(table.round({"agreement": 2}))
    seen = seen_in_training(saved, args.recording)
    if seen is not None:
        print(
            f"note: this recording was in the model's training data (sub-{seen['participant']} "
            f"ses-{seen['session']} task-{seen['task']} run-{seen['run']}): these labels say "
            "how well the model fits what it learnt, not how it does on a new recording."
        )
    return 0


def cmd_live(args: argparse.Namespace) -> int:
    from eeg4students.live import LIVE_HISTORY_SECONDS, run_live, summarise
    from eeg4students.modelstore import load_model

    saved = load_model(args.model)

    def show(update: dict) -> None:
        when = f"{update['time']:7.1f} s"
        if update["rejected"]:
            print(f"{when}  (window rejected: {update['rejected']})", flush=True)
        elif update["top"] is not None:
            print(
                f"{when}  {update['label']:<12} "
                f"(top base {update['top']}, second {update['second']})",
                flush=True,
            )
        else:
            print(f"{when}  {update['label']}", flush=True)

    warmup = LIVE_HISTORY_SECONDS + saved.preprocess.window + args.lag
    print(
        f"Live classification with {saved.card['name']!r} ({saved.card['model']}); Ctrl-C "
        f"stops. Each line is the window that ended {args.lag:g} s earlier (the filters need "
        f"signal after it); the first comes after {warmup:g} s."
        + (
            f" Each window is also published on the LSL stream {args.lsl_out.strip()!r} "
            "(JSON, stamped with the window's end on the LSL clock)."
            if args.lsl_out
            else ""
        )
    )
    updates = run_live(
        saved,
        args.board,
        seconds=args.seconds,
        lag=args.lag,
        on_update=show,
        lsl_out=args.lsl_out,
        **connection_params(args),
    )
    print(summarise(updates))
    return 0


def add_parsers(sub) -> None:
    """Add this group's commands to the ``eeg4students`` subparsers."""
    p = sub.add_parser(
        "features",
        help="preprocess, reject bad windows and extract band powers",
        description="Filter every recording, cut its task blocks into windows, reject "
        "windows with plateaus, clipping, large amplitude or BAD annotations, and store "
        "log band powers as Parquet under derivatives/eeg4students/. Prints the quality "
        "table; cached results are reused while recordings and settings are unchanged.",
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    _add_feature_options(p)
    add_parallel_options(p)
    p.set_defaults(func=cmd_features)

    p = sub.add_parser(
        "evaluate",
        help="evaluate classifiers honestly and write a report",
        description="Extract features (cached), evaluate the chosen models under a scheme "
        "(time-blocked: the study's chunks of each block with a gap; cross-session; loso: "
        "leave one participant out; calibration: a cohort model plus --minutes of a new "
        "student's labelled data, beside a model of the student's own; shuffled: LEAKY, for "
        "comparison only) and write scores.csv, figures and report.html.",
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    p.add_argument(
        "--scheme",
        choices=("auto", *SCHEMES),
        metavar="SCHEME",
        default="auto",
        help="how test data is kept apart from training data: auto (cross-session when "
        "participants have two or more sessions, else leave-participant-out with three or "
        f"more participants, else time-blocked, with a warning), {', '.join(SCHEMES)}",
    )
    p.add_argument(
        "--models",
        type=_model_list,
        default=["rf", "svm", "tmv"],
        help=f"comma-separated, from {MODEL_LIST} (default: rf,svm,tmv)",
    )
    p.add_argument(
        "--folds", type=Number(int, 2, 50), default=7, help="time-blocked/shuffled folds"
    )
    p.add_argument(
        "--k", type=Number(int, 1, 1000), default=5, help="causal TMV vote length (windows)"
    )
    p.add_argument(
        "--adapt",
        type=_adapt_list,
        default=["none"],
        help="session: standardise band powers and re-centre covariance matrices within each "
        "participant's session from its own windows, labels unused (helps a model meet a new "
        "day when sessions hold every task, as EEG4Students sessions do; sessions where it may "
        "mislead are listed); participant: the same over all of a participant's sessions (a "
        "new student's reference rather than a new day's); several, e.g. none,session, are "
        "evaluated side by side",
    )
    p.add_argument(
        "--minutes",
        type=_minutes_list,
        default=[0.0, 1.0, 2.0, 5.0],
        help="calibration scheme: minutes of the student's labelled data to try",
    )
    p.add_argument(
        "--calibration-weight",
        choices=("balanced", "none"),
        default="balanced",
        help="calibration scheme: balanced repeats the student's windows to weigh about as "
        "much as the cohort's; none counts each window once",
    )
    p.add_argument("--out", type=path_value, required=True, help="output folder")
    _add_feature_options(p)
    add_parallel_options(p)
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser(
        "train",
        help="train a model and save it in the dataset with a model card",
        description="Train on the dataset's features and save the model with skops under "
        "derivatives/eeg4students/models/NAME/ with card.json listing what it was trained on.",
    )
    p.add_argument("dataset", metavar="DATASET", help="the dataset folder")
    p.add_argument("--model", default="tmv", choices=MODEL_NAMES, metavar="MODEL", help=MODEL_HELP)
    p.add_argument("--name", required=True, help="model name (letters and digits)")
    p.add_argument("--out", type=path_value, help="also export a copy to this folder")
    p.add_argument("--overwrite", action="store_true", help="replace a model of this name")
    p.add_argument(
        "--unlearnable",
        choices=("sharded", "certified"),
        help="train a form that forgets a participant fast: sharded (exact; rf, svm, tmv and "
        "others) or certified ((epsilon, delta)-certified removal; lr, rff, tslr, tmv)",
    )
    p.add_argument(
        "--q",
        type=Number(float, 0, 1, above=True),
        default=0.25,
        help="sharded RF: share of trees per person",
    )
    p.add_argument(
        "--shards", type=Number(int, 1, 100), default=4, help="sharded SVM and others: shards"
    )
    for key, (low, high) in CERTIFIED_RANGES.items():  # the ranges the model itself checks
        default, said = CERTIFIED_DEFAULTS[key]
        p.add_argument(
            f"--{key}", type=Number(float, low, high), default=default, help=f"certified: {said}"
        )
    p.add_argument(
        "--adapt",
        choices=("none", "session", "participant"),
        default="none",
        help="train on features adapted per session (or participant), labels unused; predict "
        "then adapts a recording from its own windows and live from the session's first "
        f"{ADAPT_WARMUP_SECONDS:g} s and onwards (see evaluate --adapt)",
    )
    _add_feature_options(p)
    add_parallel_options(p)
    p.set_defaults(func=cmd_train)

    p = sub.add_parser(
        "predict",
        help="predict the task of each block of a recording",
        description="Apply a saved model (its folder) to a recording file; prints one line "
        "per task block with the predicted task.",
    )
    p.add_argument("model", metavar="MODEL", help="model folder (from train)")
    p.add_argument("recording", metavar="RECORDING", help="recording file, any supported format")
    p.add_argument(
        "--format",
        default="auto",
        choices=("auto", *FORMATS),
        metavar="FORMAT",
        help=f"the recording's format: auto (recognised from its content), {', '.join(FORMATS)}",
    )
    p.add_argument("--board", help="headset that wrote a BrainFlow file")
    p.add_argument(
        "--stream", metavar="NAME", help="name or type of the EEG stream in an XDF file"
    )
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser(
        "live",
        help="classify a headset's stream live with causal TMV",
        description="Stream from a BrainFlow board or a Lab Streaming Layer stream and print "
        "the model's label for every new window (causal Time Majority Voting for TMV "
        "models); --lsl-out also publishes each label on an LSL stream for other programs.",
        epilog="example: eeg4students live --board lsl:Muse --model models/muse --lsl-out "
        "eeg4students-labels",
    )
    p.add_argument(
        "--board",
        required=True,
        help="synthetic, muse_2, muse_s, cyton, ..., or lsl:NAME for a Lab Streaming Layer "
        "stream (its name, type or source id)",
    )
    p.add_argument("--model", required=True, type=path_value, help="model folder (from train)")
    p.add_argument(
        "--seconds",
        type=Number(float, 0, 86400, above=True, unit="s"),
        help="stop after this long (default: until Ctrl-C)",
    )
    p.add_argument(
        "--lag",
        type=Number(float, 0, 30, unit="s"),
        default=2.0,
        metavar="SECONDS",
        help="classify the window that ended this long ago: the filters need signal after "
        "it to treat it as offline (0.25 s gives offline's rejections, 2 s its band powers)",
    )
    p.add_argument(
        "--lsl-out",
        metavar="NAME",
        help="publish every window's label on an LSL stream of this name: a JSON string "
        "(label, top, second, probabilities, rejected, window_end) time-stamped with the "
        "window's end on the LSL clock",
    )
    add_connection_options(p)
    p.set_defaults(func=cmd_live)
