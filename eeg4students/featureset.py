"""The feature table of a whole dataset: computed per recording, cached as Parquet.

Layout under the dataset (a BIDS derivative)::

    derivatives/eeg4students/dataset_description.json
    derivatives/eeg4students/features/<key>/params.json
    derivatives/eeg4students/features/<key>/sub-P/<recording>_features.parquet
    derivatives/eeg4students/features/<key>/sub-P/<recording>_windows.json
    derivatives/eeg4students/features/<key>/quality.tsv    (one row per task block)
    derivatives/eeg4students/features/<key>/excluded.tsv

(the two tables are written by runs over every participant).

``<key>`` is a hash of the preprocessing and feature settings (all but the
minimum kept share, which is applied when the table is assembled), so
different settings live side by side. A recording's cached features are
reused while its files (data, header, events, channels) keep their content:
sizes and modification times are compared first, and the SHA-256 of the
files decides when those differ.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd
from joblib import Parallel, delayed

from eeg4students import __version__
from eeg4students import _json as limited_json
from eeg4students._files import (
    atomic_path,
    atomic_write_json,
    atomic_write_text,
    checkpoint,
    sha256,
)
from eeg4students._progress import progress_bar
from eeg4students.channels import ChannelChoice, recordings_choice
from eeg4students.errors import DatasetError
from eeg4students.features import META_COLUMNS, FeatureError, FeatureParams, blocks_to_frames
from eeg4students.preprocess import (
    PAD_SECONDS,
    REASONS,
    PreprocessError,
    PreprocessParams,
    iter_blocks,
    quality_summary,
)
from eeg4students.store import Dataset, RecordingRef, read_tsv, undone_on_failure

#: Bump when the computation changes, so old caches are not reused.
FEATURES_VERSION = 1
DERIVATIVE = Path("derivatives") / "eeg4students"


@dataclass
class FeatureSet:
    """Features of a dataset with their quality accounting.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per kept window of the included blocks: metadata columns
        (``participant``, ``session``, ``run``, ``task``, ``recording``,
        ``block``, ``start`` and ``block_time`` in seconds) then features.
    quality : pandas.DataFrame
        One row per task block: window counts per outcome, ``share_kept``,
        ``excluded`` (why, or empty) and the recording's import ``notes``
        (short, gaps, clipping).
    excluded : pandas.DataFrame
        The excluded blocks, sessions and participants with their kept share.
    feature_columns : list of str
        The feature column names.
    folder : Path
        Where the cache and the quality tables are.
    cached : int
        How many recordings were read from the cache.
    problems : list of str
        One sentence per recording that kept no window at all, naming why.
    preprocess : PreprocessParams
        The settings used, with the channels chosen (see ``left_out``).
    left_out : list of str
        EEG channels left out because they are bad (flat, railed,
        unconnected) in too many recordings of the dataset (see
        :mod:`eeg4students.channels`); only when no channels were asked for.
    params : FeatureParams | None
        The feature settings used.
    channels : ChannelChoice | None
        How the channels were chosen, when some were left out.
    """

    table: pd.DataFrame
    quality: pd.DataFrame
    excluded: pd.DataFrame
    feature_columns: list[str]
    folder: Path
    cached: int
    problems: list[str]
    preprocess: PreprocessParams | None = None
    left_out: list[str] = field(default_factory=list)
    params: FeatureParams | None = None
    channels: ChannelChoice | None = None

    def settings(self) -> dict:
        """How the features were made: ``{"preprocess": ..., "features": ...}`` as plain values."""
        return {
            "preprocess": self.preprocess.as_dict() if self.preprocess else {},
            "features": self.params.as_dict() if self.params else {},
        }


def _eeg_names(vhdr: Path) -> list[str] | None:
    """A stored recording's EEG channels, from its ``channels.tsv`` (None if unreadable)."""
    table = read_tsv(vhdr.with_name(vhdr.name.replace("_eeg.vhdr", "_channels.tsv")))
    if not {"name", "type"} <= set(table.columns):
        return None
    return table.loc[table["type"].str.upper() == "EEG", "name"].tolist()


_WHY_NOTHING_KEPT = {
    "bad_channel": "a channel it uses is marked bad; leave it out with --channels",
    "bad_annotation": "it is covered by BAD annotations (gaps or interruptions)",
    "plateau": "its channels are flat (the headset had no contact); check the fit and "
    "record again",
    "clipped": "its channels sit at the amplifier rail; check the electrodes",
    "amplitude": "every window exceeds the peak-to-peak limit; raise --max-ptp if the "
    "signal is clean",
}


def _nothing_kept(rec_id: str, counts: pd.DataFrame, pre: PreprocessParams) -> str | None:
    """A sentence naming why a recording kept no window, or None if it kept some."""
    if counts["kept"].sum() > 0:
        return None
    if counts["n_windows"].sum() == 0:
        usable = (counts["duration"] * (1 - pre.transition_share)).max()
        return (
            f"{rec_id}: no window kept: its blocks are too short for one {pre.window:g} s "
            f"window ({usable:.1f} s usable after the transition)."
        )
    reason = max(REASONS, key=lambda r: counts[r].sum())
    longest = counts["duration"].max()
    if reason == "amplitude" and longest < pre.window + 2 * PAD_SECONDS:
        # Not a signal too large: the band-pass filter's edges swamp windows this short.
        return (
            f"{rec_id}: no window kept: its blocks are only {longest:.1f} s long, too short "
            f"for the filters (give blocks of at least {pre.window + 2 * PAD_SECONDS:g} s)."
        )
    return f"{rec_id}: no window kept: {_WHY_NOTHING_KEPT[reason]}."


def settings_key(pre: PreprocessParams, feat: FeatureParams) -> tuple[str, dict]:
    """Return the cache key of a pair of settings and the settings it stands for."""
    pre_values = pre.as_dict()
    pre_values.pop("min_kept")
    settings = {"version": FEATURES_VERSION, "preprocess": pre_values, "features": feat.as_dict()}
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True).encode()).hexdigest()
    return digest[:12], settings


def _stat(files: Sequence[Path]) -> list:
    return [[f.name, f.stat().st_size, f.stat().st_mtime_ns] for f in files]


def _fingerprint(files: Sequence[Path]) -> str:
    digest = hashlib.sha256()
    for f in files:
        digest.update(f.name.encode())
        digest.update(sha256(f).encode())
    return digest.hexdigest()


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path) as tmp:
        frame.to_parquet(tmp, index=False)


def _recording_id(ref: RecordingRef) -> str:
    return ref.path.name[: -len("_eeg.vhdr")]


def _cached(sidecar: Path, parquet: Path, files: list[Path]) -> dict | None:
    """Return the cached sidecar if it still describes these files, else None."""
    if not (sidecar.is_file() and parquet.is_file()):
        return None
    try:
        info = limited_json.loads(sidecar.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("blocks"), list):
        return None
    if info.get("stat") == _stat(files):
        return info
    if info.get("fingerprint") == _fingerprint(files):
        info["stat"] = _stat(files)
        atomic_write_json(sidecar, info)
        return info
    return None


def _ensure_description(root: Path) -> None:
    path = root / DERIVATIVE / "dataset_description.json"
    if not path.is_file():
        atomic_write_json(
            path,
            {
                "Name": "eeg4students features",
                "BIDSVersion": "1.9.0",
                "DatasetType": "derivative",
                "GeneratedBy": [{"Name": "eeg4students", "Version": __version__}],
            },
        )


def _recording_features(
    root: Path, ref: RecordingRef, pre: PreprocessParams, feat: FeatureParams, folder: Path
) -> tuple[pd.DataFrame, pd.DataFrame, bool, str]:
    """Features and window counts of one recording, from the cache when still valid.

    Runs in a worker: it reads the recording from the dataset path and writes
    its cache files there.
    """
    dataset = Dataset(root)
    rec_id = _recording_id(ref)
    parquet = folder / f"sub-{ref.participant}" / f"{rec_id}_features.parquet"
    sidecar = parquet.with_name(f"{rec_id}_windows.json")
    files = Dataset.files_of(ref)
    info = _cached(sidecar, parquet, files)
    if info is not None:
        try:
            return pd.read_parquet(parquet), pd.DataFrame(info["blocks"]), True, rec_id
        except Exception:  # a damaged cache entry is recomputed, never trusted
            pass
    raw = dataset.load(ref.participant, ref.session, ref.task, ref.run, preload=False)
    meta = {"participant": ref.participant, "session": ref.session, "run": ref.run}
    window = round(pre.window * raw.info["sfreq"])
    try:
        feat.check(raw.info["sfreq"], pre.window)
        frame, block_counts = blocks_to_frames(iter_blocks(raw, pre), feat, meta, rec_id, window)
    except (PreprocessError, FeatureError) as exc:
        raise PreprocessError(f"{rec_id}: {exc}") from exc
    _write_parquet(frame, parquet)
    atomic_write_json(
        sidecar,
        {
            "stat": _stat(files),
            "fingerprint": _fingerprint(files),
            "blocks": block_counts.to_dict(orient="records"),
        },
    )
    return frame, block_counts, False, rec_id


def compute_features(
    dataset: Dataset | str | Path,
    pre: PreprocessParams | None = None,
    feat: FeatureParams | None = None,
    *,
    participants: Sequence[str] | None = None,
    progress: bool = True,
) -> FeatureSet:
    """Preprocess every recording, extract features, account for quality.

    Parameters
    ----------
    dataset : Dataset | str | Path
        The dataset.
    pre : PreprocessParams | None
        Preprocessing settings (defaults if None).
    feat : FeatureParams | None
        Feature settings (defaults if None).
    participants : sequence of str | None
        Only these participants; None for all.
    progress : bool
        Show a progress bar over recordings.

    Returns
    -------
    features : FeatureSet
        The feature table of the included blocks, the per-block quality table
        and the list of excluded blocks, sessions and participants.
    """
    dataset = dataset if isinstance(dataset, Dataset) else Dataset(dataset)
    # Under the dataset's lock: a forgetting cannot run between reading a participant's
    # windows and writing the quality tables that name them.
    # All or nothing: a refusal (settings no recording can meet, a damaged file) leaves
    # the cache and its tables as they were.
    with dataset.lock(), undone_on_failure(dataset.root, *cache_paths(dataset.root)):
        return _compute(dataset, pre, feat, participants, progress)


def cache_paths(root: Path) -> tuple[Path, Path]:
    """What computing features may write: the derivative's description and the caches."""
    return root / DERIVATIVE / "dataset_description.json", root / DERIVATIVE / "features"


def _compute(dataset, pre, feat, participants, progress) -> FeatureSet:
    pre = pre or PreprocessParams()
    feat = feat or FeatureParams()
    feat.check(None, pre.window)
    refs = dataset.references()
    if participants is not None:
        unknown = sorted(set(participants) - {r.participant for r in refs})
        if unknown:
            raise DatasetError(
                f"{dataset.root} has no participant {unknown[0]!r}; "
                f"it has: {', '.join(dataset.participants()) or 'none'}."
            )
        refs = [r for r in refs if r.participant in set(participants)]
    if not refs:
        raise DatasetError(f"{dataset.root} has no recordings to extract features from.")
    recordings = dataset.recordings()
    left_out: list[str] = []
    choice = None
    if pre.channels is None:
        # Channels bad in some recordings, or missing from some: use the set that keeps the
        # most good data (a channel bad nearly everywhere would otherwise drop nearly every
        # window; one that some headsets lack would leave holes in the table).
        used = recordings[recordings["path"].isin({r.path for r in refs})]
        choice = recordings_choice(used, _eeg_names)
        if choice is not None and not choice.channels:
            raise DatasetError(
                f"The recordings of {dataset.root} share no EEG channel (headsets of different "
                "layouts); extract the features of one headset's participants with "
                "--participants, or name the channels with --channels."
            )
        if choice is not None and choice.left_out:
            left_out = choice.left_out
            pre = replace(pre, channels=tuple(choice.channels))
        else:
            choice = None
    key, settings = settings_key(pre, feat)
    _ensure_description(dataset.root)
    folder = dataset.root / DERIVATIVE / "features" / key
    atomic_write_json(folder / "params.json", settings)
    # Absolute paths: a reused worker process keeps the folder it started in, not this one's.
    root, where = dataset.root.absolute(), folder.absolute()
    jobs = (
        delayed(_recording_features)(
            root, replace(ref, path=ref.path.absolute()), pre, feat, where
        )
        for ref in refs
    )
    frames, counts, problems, cached = [], [], [], 0
    for frame, block_counts, was_cached, rec_id in progress_bar(
        Parallel(return_as="generator")(jobs),
        total=len(refs),
        desc="features",
        unit="rec",
        enabled=progress,
    ):
        cached += was_cached
        frames.append(frame)
        counts.append(block_counts)
        problem = _nothing_kept(rec_id, block_counts, pre)
        if problem:
            problems.append(problem)
    blocks = pd.concat(counts, ignore_index=True)
    if blocks["n_windows"].sum() == 0:
        usable = (blocks["duration"] * (1 - pre.transition_share)).max()
        raise PreprocessError(
            f"The {pre.window:g} s window is longer than every block's usable part (at most "
            f"{usable:.1f} s after the {pre.transition_share:.0%} transition); use a shorter "
            "--window."
        )
    quality, excluded = quality_summary(blocks, pre.min_kept)
    # What the store noticed at import (short, gaps, clipping) explains low shares.
    notes = dict(
        zip(
            recordings["path"].map(lambda p: p.name[: -len("_eeg.vhdr")]),
            recordings["notes"],
            strict=True,
        )
    )
    quality["notes"] = quality["recording"].map(notes).fillna("")
    checkpoint("features")
    if participants is None:
        # The tables on disk describe the whole dataset; a run on some participants
        # (training on a subset, forgetting's checks) returns its own without writing.
        atomic_write_text(folder / "quality.tsv", quality.to_csv(sep="\t", index=False))
        atomic_write_text(folder / "excluded.tsv", excluded.to_csv(sep="\t", index=False))
    table = pd.concat(frames, ignore_index=True)
    keep = set(quality.loc[quality["excluded"] == "", "block"])
    table = table[table["block"].isin(keep)].reset_index(drop=True)
    columns = [c for c in frames[0].columns if c not in META_COLUMNS]
    return FeatureSet(
        table, quality, excluded, columns, folder, cached, problems, pre, left_out, feat, choice
    )


def quality_by_recording(quality: pd.DataFrame) -> pd.DataFrame:
    """Summarise the per-block quality table with one line per recording.

    Parameters
    ----------
    quality : pandas.DataFrame
        ``FeatureSet.quality``.

    Returns
    -------
    table : pandas.DataFrame
        ``participant``, ``session``, ``task`` (the recording's tasks),
        ``blocks``, ``windows``, ``kept%``, one percentage per rejection
        reason, ``excluded`` and ``notes``.
    """
    sums = quality.groupby("recording", sort=False).agg(
        participant=("participant", "first"),
        session=("session", "first"),
        task=("task", lambda t: ",".join(dict.fromkeys(t))),
        blocks=("block", "count"),
        windows=("n_windows", "sum"),
        kept=("kept", "sum"),
        **{reason: (reason, "sum") for reason in REASONS},
        excluded=("excluded", lambda e: "; ".join(sorted({x for x in e if x}))),
        notes=("notes", "first"),
    )
    table = sums.reset_index(drop=True)
    total = table["windows"].clip(lower=1)
    table["kept%"] = (100 * table["kept"] / total).round(0).astype(int)
    for reason in REASONS:
        table[reason] = (100 * table[reason] / total).round(0).astype(int)
    columns = ["participant", "session", "task", "blocks", "windows", "kept%", *REASONS]
    return table[[*columns, "excluded", "notes"]]
