"""Model cards: what a saved model was trained on, read as untrusted input.

A card (``card.json`` beside ``model.skops``) lists the participants,
sessions and recordings (with the SHA-256 of each file) a model saw, its
preprocessing and feature settings, channels, sampling rate and classes.
Forgetting relies on it to find and retrain every model that saw a person,
``predict`` and ``live`` on it to prepare their input; a card comes from
anywhere a model folder came from, so :func:`read_card` checks every field's
type, every list's length and every number's range before anything uses it.
"""

from __future__ import annotations

from pathlib import Path

from eeg4students import _json as limited_json
from eeg4students._numbers import within
from eeg4students.adaptation import ADAPTATIONS
from eeg4students.errors import EEG4StudentsError, ModelError
from eeg4students.features import FeatureParams
from eeg4students.names import CERTIFIED_RANGES, MODEL_NAMES
from eeg4students.preprocess import PreprocessParams

#: Largest card read (bytes); a card lists recordings and digests, a few hundred kB at most.
MAX_CARD_BYTES = 16 * 1024 * 1024
#: Most entries of a card's lists: classes, feature columns, channels, participants,
#: recordings, blocks of one recording, files of one recording, exports, unlearning records.
CARD_LIMITS = {
    "classes": 1_000,
    "feature_columns": 20_000,
    "channels": 256,
    "participants": 100_000,
    "recordings": 200_000,
    "blocks": 10_000,
    "files": 32,
    "exports": 1_000,
    "unlearning": 10_000,
}
#: Longest text in a card (a label, a column, a file name, a digest).
MAX_CARD_TEXT = 512

#: Fields every card has, with the JSON types they must have.
_CARD_FIELDS = {
    "name": str,
    "model": str,
    "classes": list,
    "feature_columns": list,
    "channels": list,
    "sfreq": (int, float),
    "preprocess": dict,
    "features": dict,
    "trained_on": dict,
}


def read_card(card_file: Path) -> dict:
    """Read and check a model card.

    Parameters
    ----------
    card_file : Path
        ``card.json``.

    Returns
    -------
    card : dict

    Raises
    ------
    ModelError
        Naming the file and the first field that is missing or wrong.
    """
    card = limited_json.read_object(
        card_file,
        error=ModelError,
        message="{path} is not valid JSON for a model card ({why}); restore the card or train "
        "the model again.",
        max_bytes=MAX_CARD_BYTES,
    )
    for key, kind in _CARD_FIELDS.items():
        if not isinstance(card.get(key), kind) or isinstance(card.get(key), bool):
            what = getattr(kind, "__name__", "number")
            raise ModelError(
                f"{card_file}: the field {key!r} is missing or not a {what}; restore the card "
                "or train the model again."
            )
    for key in ("classes", "feature_columns", "channels"):
        _texts(card_file, key, card[key], CARD_LIMITS[key])
    if not card["classes"] or not card["feature_columns"]:
        raise ModelError(f"{card_file}: the classes or feature columns are empty.")
    if not within(card["sfreq"], 1e-6, 100_000):
        _fail(card_file, "sfreq", "must be a sampling rate in Hz, above 0 and at most 100000")
    if card["model"] not in MODEL_NAMES:
        _fail(card_file, "model", f"names {card['model'][:40]!r}, not a model of eeg4students")
    _check_trained_on(card_file, card["trained_on"])
    _check_optional(card_file, card)
    if card.get("adapt") is not None and card["adapt"] not in ADAPTATIONS:
        raise ModelError(
            f"{card_file}: the adaptation {card['adapt']!r} is unknown (use "
            f"{', '.join(ADAPTATIONS)}); restore the card or train the model again."
        )
    card_preprocess(card, card_file)
    card_features(card, card_file)
    return card


def card_preprocess(card: dict, card_file: Path) -> PreprocessParams:
    """The card's preprocessing settings, checked (:class:`PreprocessParams` bounds them)."""
    values = dict(card["preprocess"])
    if values.get("channels") is not None:
        values["channels"] = tuple(values["channels"])
    try:
        return PreprocessParams(**values)
    except (TypeError, ValueError, EEG4StudentsError) as exc:
        raise ModelError(f"{card_file}: the preprocessing settings are invalid ({exc}).") from exc


def card_features(card: dict, card_file: Path) -> FeatureParams:
    """The card's feature settings, checked (:class:`FeatureParams` bounds them)."""
    values = card["features"]
    try:
        return FeatureParams(
            bands=tuple((str(b[0]), float(b[1]), float(b[2])) for b in values["bands"]),
            relative=bool(values["relative"]),
            ratios=tuple((str(r[0]), str(r[1])) for r in values["ratios"]),
            segment=float(values["segment"]),
            covariance=values.get("covariance", False) is True,
        )
    except (KeyError, TypeError, ValueError, IndexError, EEG4StudentsError) as exc:
        raise ModelError(f"{card_file}: the feature settings are invalid ({exc}).") from exc


def _fail(card_file: Path, field: str, problem: str):
    raise ModelError(
        f"{card_file}: the field {field!r} {problem}; restore the card or train the model again."
    )


def _texts(card_file: Path, field: str, values, limit: int, *, unique: bool = True) -> None:
    if not isinstance(values, list) or not all(
        isinstance(v, str) and 0 < len(v) <= MAX_CARD_TEXT for v in values
    ):
        _fail(card_file, field, "must be a list of short texts")
    if len(values) > limit:
        _fail(card_file, field, f"holds {len(values):,} entries, more than {limit:,}")
    if unique and len(set(values)) != len(values):
        _fail(card_file, field, "names an entry twice")


def _whole(card_file: Path, field: str, value, high: int = 10**12) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        _fail(card_file, field, f"must be a whole number from 0 to {high:,}")


def _check_trained_on(card_file: Path, trained: dict) -> None:
    _texts(
        card_file,
        "trained_on.participants",
        trained.get("participants"),
        CARD_LIMITS["participants"],
    )
    recordings = trained.get("recordings")
    if not isinstance(recordings, list) or len(recordings) > CARD_LIMITS["recordings"]:
        _fail(card_file, "trained_on.recordings", "must be a list of recordings")
    for i, rec in enumerate(recordings):
        where = f"trained_on.recordings[{i}]"
        if not isinstance(rec, dict):
            _fail(card_file, where, "must be a recording")
        for key in ("participant", "session", "task", "recording"):
            if not isinstance(rec.get(key), str) or not 0 < len(rec[key]) <= MAX_CARD_TEXT:
                _fail(card_file, f"{where}.{key}", "must be a short text")
        _whole(card_file, f"{where}.run", rec.get("run"), 9999)
        files = rec.get("files")
        if (
            not isinstance(files, dict)
            or len(files) > CARD_LIMITS["files"]
            or not all(
                isinstance(k, str)
                and len(k) <= MAX_CARD_TEXT
                and isinstance(v, str)
                and len(v) == 64
                for k, v in files.items()
            )
        ):
            _fail(card_file, f"{where}.files", "must map file names to SHA-256 digests")
        if "blocks" in rec:
            _texts(card_file, f"{where}.blocks", rec["blocks"], CARD_LIMITS["blocks"])
        source = rec.get("source_sha256")
        if source is not None and not (isinstance(source, str) and len(source) == 64):
            _fail(card_file, f"{where}.source_sha256", "must be a SHA-256 digest")
    _whole(card_file, "trained_on.n_windows", trained.get("n_windows"))
    counts = trained.get("windows_per_participant")
    if not isinstance(counts, dict) or len(counts) > CARD_LIMITS["participants"]:
        _fail(card_file, "trained_on.windows_per_participant", "must map participants to counts")
    for person, n in counts.items():
        _whole(card_file, f"trained_on.windows_per_participant[{person!r}]", n)


def _check_optional(card_file: Path, card: dict) -> None:
    if card.get("model_params") is not None and not isinstance(card["model_params"], dict):
        _fail(card_file, "model_params", "must be a mapping of settings")
    unlearnable = card.get("unlearnable")
    if unlearnable is not None:
        form = unlearnable if isinstance(unlearnable, dict) else {}
        if form.get("kind") == "certified":
            for key, (low, high) in CERTIFIED_RANGES.items():
                if key in form and not within(form[key], low, high):
                    _fail(card_file, f"unlearnable.{key}", f"must be from {low:g} to {high:g}")
        else:
            q, shards = form.get("q", 0.25), form.get("shards", 4)
            if (
                form.get("kind") != "sharded"
                or not within(q, 1e-9, 1)
                or not isinstance(shards, int)
                or not within(shards, 1, 100)
            ):
                _fail(
                    card_file,
                    "unlearnable",
                    "must be the sharded form (0 < q <= 1, 1-100 shards) or the certified form",
                )
    certificate = card.get("certificate")
    if certificate is not None and (
        not isinstance(certificate, dict)
        or len(certificate) > 8
        or not all(
            (isinstance(v, str) and len(v) <= 4 * MAX_CARD_TEXT)
            or (
                isinstance(v, dict)
                and len(v) <= 16
                and all(isinstance(x, str | int | float) for x in v.values())
            )
            for v in certificate.values()
        )
    ):
        _fail(card_file, "certificate", "must describe the certified models briefly")
    ranking = card.get("tmv_ranking")
    if ranking is not None:
        _texts(card_file, "tmv_ranking", ranking, 16)
    scores = card.get("tmv_scores")
    if scores is not None and (
        not isinstance(scores, dict)
        or len(scores) > 16
        or not all(isinstance(v, int | float) and not isinstance(v, bool) for v in scores.values())
    ):
        _fail(card_file, "tmv_scores", "must map base names to scores")
    _texts(card_file, "exports", card.get("exports", []), CARD_LIMITS["exports"], unique=False)
    records = card.get("unlearning", [])
    if (
        not isinstance(records, list)
        or len(records) > CARD_LIMITS["unlearning"]
        or not all(isinstance(r, dict) for r in records)
    ):
        _fail(card_file, "unlearning", "must be a list of records")
