"""XDF files (LabRecorder's recordings of Lab Streaming Layer streams), read with pyxdf.

An XDF file holds several streams, each with its own header (name, type,
channel count and labels, nominal rate, format) and time stamps on the LSL
clock of the computer that sent it. pyxdf reads them with the clock offsets
LabRecorder measured applied (every stream on the recording computer's
clock), clock resets handled, and the time stamps of regular streams
dejittered. Here:

- the **EEG stream** is the one asked for by name or type (``stream=``), else
  the only stream of type ``EEG``, else the only regular numeric stream;
  several candidates are an error that lists them; its channel labels, types
  and units come from the stream header (``desc/channels/channel``), EEG in
  volts, millivolts or microvolts scaled to microvolts;
- its samples are placed on the regular grid of the nominal rate, gaps
  filled and annotated ``BAD_gap`` (as for every format);
- **marker streams** (string streams, and numeric streams of irregular rate
  with one channel) become annotations on the same clock: each marker at the
  first EEG sample at or after its time stamp; markers outside the EEG
  stream's span are left out and counted in a note;
- the measurement date is the file header's ``datetime`` when it has one
  (LSL clock seconds are not dates);
- streams that hold no samples, and clock resets pyxdf handled, are noted.
"""

from __future__ import annotations

import logging
import warnings
from datetime import datetime
from pathlib import Path

import numpy as np

from eeg4students._units import microvolts_per
from eeg4students.errors import RecordingFormatError, RecordingNote, first_line
from eeg4students.io._raw import build_raw, regular_grid
from eeg4students.quality import bad_channels

_NUMERIC = ("float32", "double64", "int8", "int16", "int32", "int64")


def _field(info: dict, key: str, default: str = "") -> str:
    value = info.get(key)
    if isinstance(value, list) and value:
        value = value[0]
    return str(value).strip() if value is not None else default


def _channels(info: dict, n: int) -> list[dict]:
    """Label, type and unit of each channel from the stream header (defaults otherwise)."""
    found: list[dict] = []
    try:
        desc = info["desc"][0]
        entries = desc["channels"][0]["channel"]
        for entry in entries:
            found.append({k: _field(entry, k) for k in ("label", "type", "unit")})
    except (KeyError, IndexError, TypeError):
        found = []
    if len(found) != n:
        found = [{"label": "", "type": "", "unit": ""} for _ in range(n)]
    for i, channel in enumerate(found):
        channel["label"] = channel["label"] or f"ch{i + 1}"
    return found


def _describe(stream: dict) -> str:
    info = stream["info"]
    return (
        f"{_field(info, 'name')!r} (type {_field(info, 'type') or 'none'}, "
        f"{_field(info, 'channel_count')} channel(s), {_rate(stream):g} Hz, "
        f"{len(stream['time_stamps'])} samples)"
    )


def _rate(stream: dict) -> float:
    try:
        return float(_field(stream["info"], "nominal_srate", "0"))
    except ValueError:
        return 0.0


def _is_marker(stream: dict) -> bool:
    info = stream["info"]
    fmt = _field(info, "channel_format")
    return fmt == "string" or (_rate(stream) == 0 and _field(info, "channel_count") == "1")


def _is_signal(stream: dict) -> bool:
    return _field(stream["info"], "channel_format") in _NUMERIC and _rate(stream) > 0


def _choose(path: Path, streams: list[dict], wanted: str | None) -> dict:
    """The EEG stream: asked for by name or type, else the only EEG one, else the only one."""
    held = "; ".join(_describe(s) for s in streams) or "none"
    streams = [s for s in streams if len(s["time_stamps"])]
    signals = [s for s in streams if _is_signal(s)]
    if wanted is not None:
        key = wanted.strip().lower()
        chosen = [
            s
            for s in streams
            if key in (_field(s["info"], "name").lower(), _field(s["info"], "type").lower())
        ]
        if not chosen:
            raise RecordingFormatError(
                path,
                f"has no stream named or typed {wanted!r}; its streams: {held}",
            )
        chosen = [s for s in chosen if _is_signal(s)] or chosen
    else:
        chosen = [s for s in signals if _field(s["info"], "type").lower() == "eeg"] or signals
    if not chosen:
        raise RecordingFormatError(
            path,
            f"holds no regular numeric stream with samples to read as EEG; its streams: {held}",
        )
    if len(chosen) > 1:
        raise RecordingFormatError(
            path,
            "holds several streams that could be the EEG ("
            + "; ".join(_describe(s) for s in chosen)
            + "); choose one by name or type with --stream",
        )
    stream = chosen[0]
    if not _is_signal(stream):
        raise RecordingFormatError(
            path, f"its stream {_describe(stream)} is not a regular numeric stream to read as EEG"
        )
    return stream


def _start_date(header: dict) -> float | None:
    """Unix time of the file header's ``datetime``, if it has a readable one."""
    text = _field(header.get("info", {}), "datetime")
    if not text:
        return None
    try:
        return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S%z").timestamp()
    except ValueError:
        return None


def read_xdf(path: str | Path, *, stream: str | None = None) -> object:
    """Read the EEG stream of an XDF file, with its markers as annotations.

    Parameters
    ----------
    path : str | Path
        The ``.xdf`` file.
    stream : str | None
        Name or type of the stream to read as EEG (for files with several).

    Returns
    -------
    raw : mne.io.RawArray
        The chosen stream: EEG channels in volts (others as ``misc``), on the
        regular grid of the stream's nominal rate, gaps annotated
        ``BAD_gap``, markers of every marker stream as annotations.

    Raises
    ------
    RecordingFormatError
        If the file is not XDF, holds no stream that can be EEG, several
        (without ``stream``), or the chosen one is empty.

    Warns
    -----
    RecordingNote
        Streams without samples, clock resets, markers outside the EEG,
        channels of unknown unit read as microvolts, an unknown measurement
        date.
    """
    import pyxdf

    path = Path(path)
    logger = logging.getLogger("pyxdf")
    damage = _Damage()  # pyxdf logs damage it reads past; it becomes a note
    logger.addHandler(damage)
    try:
        streams, header = pyxdf.load_xdf(
            str(path),
            synchronize_clocks=True,
            handle_clock_resets=True,
            dejitter_timestamps=True,
            verbose=False,
        )
    except Exception as exc:  # any damage in the binary chunks is the same fault
        raise RecordingFormatError(
            path, f"cannot be read as XDF ({first_line(exc)}); is it a LabRecorder file?"
        ) from exc
    finally:
        logger.removeHandler(damage)
    if damage.found:
        warnings.warn(
            RecordingNote(
                path,
                "it is damaged (cut off or overwritten); what could be read around the damage "
                f"was kept ({damage.found[0]})",
            ),
            stacklevel=2,
        )
    reset = [
        _field(s["info"], "name") for s in streams if len(s["info"].get("clock_segments", [])) > 1
    ]
    if reset:
        warnings.warn(
            RecordingNote(
                path,
                f"the clock of {', '.join(reset)} was reset during the recording; its time "
                "stamps were mapped segment by segment",
            ),
            stacklevel=2,
        )
    empty = [_field(s["info"], "name") for s in streams if len(s["time_stamps"]) == 0]
    if empty:
        warnings.warn(
            RecordingNote(path, f"streams without samples left out: {', '.join(empty)}"),
            stacklevel=2,
        )
    eeg = _choose(path, streams, stream)
    info = eeg["info"]
    n = int(_field(info, "channel_count", "0"))
    values = np.asarray(eeg["time_series"], dtype=float).reshape(-1, n)
    stamps = np.asarray(eeg["time_stamps"], dtype=float)
    rate = _rate(eeg)
    channels = _channels(info, n)
    types, unknown = [], []
    for i, channel in enumerate(channels):
        is_eeg = channel["type"].lower() in ("eeg", "") and _field(info, "type").lower() == "eeg"
        types.append("eeg" if is_eeg else "misc")
        if is_eeg:
            factor = microvolts_per(channel["unit"])
            if factor is None:
                unknown.append(channel["label"])
            values[:, i] *= factor or 1.0
    if unknown:
        warnings.warn(
            RecordingNote(
                path, f"channels of unknown unit read as microvolts: {', '.join(unknown[:8])}"
            ),
            stacklevel=2,
        )
    if "eeg" not in types:
        types = ["eeg"] * n  # a stream chosen as EEG whose header does not say so
    lines = np.arange(1, len(stamps) + 1)
    positions, gaps = regular_grid(path, stamps, rate, 2.0 / rate, lines, jitter=0.5 / rate)
    markers, outside = [], 0
    for other in streams:
        if other is eeg or not _is_marker(other) or len(other["time_stamps"]) == 0:
            continue
        for value, when in zip(other["time_series"], other["time_stamps"], strict=True):
            if when < stamps[0] or when > stamps[-1] + 1.0 / rate:
                outside += 1
                continue
            index = int(np.searchsorted(stamps, when, side="left"))
            text = str(value[0] if isinstance(value, list | np.ndarray) else value).strip()
            markers.append((min(index, len(stamps) - 1), text or "marker"))
    if outside:
        warnings.warn(
            RecordingNote(path, f"{outside} marker(s) outside the EEG stream were left out"),
            stacklevel=2,
        )
    eeg_rows = [i for i, kind in enumerate(types) if kind == "eeg"]
    bads = bad_channels(values[:, eeg_rows].T, [channels[i]["label"] for i in eeg_rows])
    start = _start_date(header)
    if start is None:
        warnings.warn(
            RecordingNote(
                path,
                "its file header has no date and LSL clock seconds are not dates: the "
                "measurement date is unknown",
            ),
            stacklevel=2,
        )
    return build_raw(
        values.T,
        [c["label"] for c in channels],
        types,
        rate,
        positions=positions,
        gaps=gaps,
        markers=markers,
        start_time=start,
        bads=bads,
    )


class _Damage(logging.Handler):
    """Keeps pyxdf's reports of damage it read past (its other messages are library words)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.found: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.found.append((record.getMessage().strip().splitlines() or ["damage"])[0])
