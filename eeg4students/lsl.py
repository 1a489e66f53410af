"""Lab Streaming Layer: record from any LSL stream, publish task markers and live labels.

``--board lsl:KEY`` records (or classifies live) the LSL stream whose name,
type or source id is KEY: muselsl or BlueMuse streaming a Muse, the OpenBCI
GUI's LSL output, an amplifier's LSL app. LSL streams describe themselves,
so nothing about the headset is typed by hand:

- the stream is found by resolving the streams on this computer's networks
  for up to ``timeout`` seconds; none or several matching KEY is an error
  listing what was seen;
- its EEG channels are those of type EEG (or untyped) whose label is not an
  auxiliary input (``AUX``); their unit comes from the header
  (``microvolts``, ``V``, MNE-LSL's powers of ten); a stream whose header
  does not say is read as volts when its first samples are all below
  :data:`VOLTS_BELOW` in magnitude (EEG in microvolts is larger) and as
  microvolts otherwise, and :attr:`LSLStream.summary` says which;
- samples are pulled with LSL's clock synchronisation (not its dejittering,
  which turns a sender's restart into a run of equal stamps): their time
  stamps are the sender's, on this computer's LSL clock, turned into Unix
  time; stamps that step back by more than :data:`JUMP_BACK_SECONDS` are
  continued from the last one and counted; they go to the same crash-safe
  partial file as BrainFlow's boards (BrainFlow's file layout: EEG rows in
  microvolts, then time stamp, then marker), and the stream's layout is
  kept in the session note so a killed recording recovers without it;
- a task marker sits on the first sample at or after the cue's time on the
  LSL clock, so the delay samples take to arrive does not shift it;
- a marker stream given with ``markers=`` is pulled alongside; each marker
  is kept with its time beside the partial file and becomes an annotation
  ``lsl/<text>``.

:class:`MarkerOutlet` publishes the protocol's cues (``task/Think/start``,
``task/Think/end``) for other programs; :class:`LabelOutlet` publishes live
labels as JSON strings stamped with the window's end on the LSL clock.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import re
import time
from pathlib import Path

import numpy as np

from eeg4students._units import microvolts_per
from eeg4students.boards import Board
from eeg4students.errors import BoardError

PREFIX = "lsl:"
#: Seconds to look for a stream on the network when no timeout is given.
RESOLVE_SECONDS = 5.0
#: A stream without units whose first samples are all smaller than this is in volts.
VOLTS_BELOW = 0.01
#: Prefix of the annotations made from a marker stream's markers.
MARKER_PREFIX = "lsl/"
#: A sender's time stamps stepping back by more than this (s) restarted: they are continued.
JUMP_BACK_SECONDS = 0.5
#: Longest marker text kept (characters).
MAX_MARKER_CHARS = 200
#: Bounds of a stream's nominal rate (Hz) and channel count.
RATE_RANGE = (20.0, 100_000.0)
MAX_CHANNELS = 512
_AUX = re.compile(r"aux", re.IGNORECASE)
_configured = False


def _lsl():
    """The liblsl bindings, told to log only fatal errors (its INFO lines are not for users)."""
    global _configured
    import mne_lsl.lsl as lsl

    if not _configured:
        lsl.set_config_content("[log]\nlevel = -3\n")
        _configured = True
    return lsl


def local_clock() -> float:
    """This computer's LSL clock, in seconds (the clock of every LSL time stamp here)."""
    return float(_lsl().local_clock())


def is_lsl(board: str) -> bool:
    """Whether a board name asks for an LSL stream (``lsl:KEY``)."""
    return board.strip().lower().startswith(PREFIX)


def stream_key(board: str) -> str:
    """The KEY of ``lsl:KEY``, checked.

    Raises
    ------
    BoardError
        If it is empty or not printable text.
    """
    key = board.strip()[len(PREFIX) :].strip()
    if not key or not key.isprintable() or len(key) > 200:
        raise BoardError(
            f"{board!r} names no LSL stream: give its name, type or source id after "
            "'lsl:', e.g. lsl:Muse or lsl:EEG."
        )
    return key


def _is_markers(info) -> bool:
    return info.sfreq == 0 or info.dtype == "string"


def _describe(info) -> str:
    rate = f"{info.sfreq:g} Hz" if info.sfreq else "irregular"
    return (
        f"{info.name!r} (type {info.stype or 'none'}, {info.n_channels} channel(s), {rate}, "
        f"source id {info.source_id or 'none'}, on {info.hostname})"
    )


def find_stream(key: str, *, timeout: float = RESOLVE_SECONDS, markers: bool = False):
    """Find the LSL stream whose name, type or source id is ``key``.

    Parameters
    ----------
    key : str
        Stream name or type (any case) or source id (exact).
    timeout : float
        Seconds to keep looking (s).
    markers : bool
        Look for a marker stream (strings or irregular rate) instead of EEG.

    Returns
    -------
    info : mne_lsl.lsl.StreamInfo
        The stream's short description (as resolved, without channel details).

    Raises
    ------
    BoardError
        If no stream matches, several do, or the one that does is of the
        wrong kind; the message lists the streams seen.
    """
    lsl = _lsl()
    deadline = time.monotonic() + timeout
    seen: dict[str, object] = {}
    found: list = []
    while not found:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        for info in lsl.resolve_streams(timeout=min(1.0, max(0.2, left))):
            seen[info.uid] = info
        found = [
            info
            for info in seen.values()
            if key.lower() in (info.name.lower(), info.stype.lower()) or key == info.source_id
        ]
    if not found:
        listed = "; ".join(_describe(i) for i in seen.values())
        raise BoardError(
            f"No LSL stream named, typed or with source id {key!r} was seen in {timeout:g} s; "
            + (
                f"streams seen: {listed}."
                if seen
                else "none at all: is the program that sends it running, on this computer or "
                "network (and not blocked by a firewall)?"
            )
        )
    right = [i for i in found if _is_markers(i) == markers] or found
    if len(right) > 1:
        raise BoardError(
            f"Several LSL streams match {key!r}: {'; '.join(_describe(i) for i in right)}; "
            "name one by its source id."
        )
    info = right[0]
    if markers and not _is_markers(info):
        raise BoardError(
            f"The LSL stream {_describe(info)} is not a marker stream (string or irregular "
            "samples); give a marker stream with --markers."
        )
    if not markers and _is_markers(info):
        raise BoardError(
            f"The LSL stream {_describe(info)} is a marker stream, not EEG; give it with "
            "--markers and the EEG stream with --board lsl:NAME."
        )
    return info


def layout(full_info, key: str) -> tuple[Board, list[int], list[float | None], list[str]]:
    """The EEG channels of a stream (its full description, from an open inlet).

    Returns
    -------
    spec : Board
        The stream as a board: EEG rows, names, rate, then time stamp and
        marker rows (the partial file's layout).
    columns : list of int
        The stream's channels that are EEG, in order.
    factors : list of float | None
        Microvolts per unit of each of those channels (None: the header does
        not say).
    left_out : list of str
        Channels that are not EEG.

    Raises
    ------
    BoardError
        If the stream has no EEG channel, repeats a label, or its rate is
        not one of EEG.
    """
    n = int(full_info.n_channels)
    names = list(full_info.get_channel_names() or [None] * n)
    types = list(full_info.get_channel_types() or [None] * n)
    units = list(full_info.get_channel_units() or [None] * n)
    names = [str(name).strip() if name else f"EEG{i + 1}" for i, name in enumerate(names)]
    columns = [
        i
        for i in range(n)
        if str(types[i] or "eeg").strip().lower() == "eeg" and not _AUX.search(names[i])
    ]
    where = f"The LSL stream {_describe(full_info)}"
    if not columns:
        raise BoardError(f"{where} has no EEG channel (its channels: {', '.join(names)}).")
    chosen = [names[i] for i in columns]
    if len(set(chosen)) != len(chosen):
        raise BoardError(f"{where} gives two channels the same label; fix the sender's labels.")
    spec = board_spec(key, float(full_info.sfreq), chosen)
    factors = [microvolts_per(units[i]) for i in columns]
    return spec, columns, factors, [names[i] for i in range(n) if i not in columns]


def board_spec(key: str, sfreq: float, channels: list[str]) -> Board:
    """An LSL stream as a :class:`~eeg4students.boards.Board` (the partial file's layout).

    Parameters
    ----------
    key : str
        The KEY of ``lsl:KEY``.
    sfreq : float
        Nominal rate in Hz.
    channels : list of str
        EEG channel labels.

    Raises
    ------
    BoardError
        If the rate or the channels cannot be EEG (also for a damaged session
        note, which stores them).
    """
    lo, hi = RATE_RANGE
    if not (isinstance(sfreq, int | float) and math.isfinite(sfreq) and lo <= sfreq <= hi):
        raise BoardError(
            f"The LSL stream {key!r} has a nominal rate of {sfreq!r} Hz; EEG needs a regular "
            f"rate of {lo:g}-{hi:g} Hz."
        )
    if not (
        isinstance(channels, list)
        and 0 < len(channels) <= MAX_CHANNELS
        and all(isinstance(c, str) and c.isprintable() and 0 < len(c) <= 64 for c in channels)
    ):
        raise BoardError(f"The channels of the LSL stream {key!r} are not a list of labels.")
    k = len(channels)
    return Board(
        name=f"{PREFIX}{key}",
        board_id=-1,
        sfreq=float(sfreq),
        eeg_rows=tuple(range(k)),
        eeg_names=tuple(channels),
        timestamp_row=k,
        marker_row=k + 1,
        package_row=None,
        n_rows=k + 2,
    )


def markers_path(partial: Path) -> Path:
    """Where the markers of a marker stream recorded with ``partial`` are kept."""
    return partial.with_suffix(".markers.tsv")


def read_markers(partial: Path) -> list[tuple[float, str]]:
    """The markers kept beside a partial file: (Unix time, text); damaged lines are skipped."""
    path = markers_path(partial)
    if not path.is_file():
        return []
    kept = []
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        when, _, text = line.partition("\t")
        try:
            seconds = float(when)
        except ValueError:
            continue
        if math.isfinite(seconds) and text.strip():
            kept.append((seconds, text.strip()[:MAX_MARKER_CHARS]))
    return kept


def add_stream_markers(raw, partial: Path) -> None:
    """Annotate ``raw`` with the markers kept beside its partial file that fall inside it.

    Parameters
    ----------
    raw : mne.io.BaseRaw
        The recording read from ``partial`` (its measurement date is its
        first sample's Unix time).
    partial : Path
        The partial file.
    """
    start = raw.info["meas_date"].timestamp()
    end = raw.times[-1] + 1 / raw.info["sfreq"]
    for when, text in read_markers(partial):
        if 0 <= when - start <= end:
            raw.annotations.append(when - start, 0.0, MARKER_PREFIX + text)


def _clean(text) -> str:
    value = text[0] if isinstance(text, list | tuple) else text
    words = "".join(c if c.isprintable() and c != "\t" else " " for c in str(value))
    return words.strip()[:MAX_MARKER_CHARS]


class LSLStream:
    """An LSL inlet whose samples go to a partial file as they arrive.

    It has the interface of the recorder's BrainFlow stream (``start``,
    ``flush``, ``recent``, ``marker``, ``stop``, ``samples``, ``dropped``,
    ``last_new``), so a session records from either.

    Parameters
    ----------
    board : str
        ``lsl:KEY``.
    partial : Path | None
        The partial file; None keeps samples in memory only (live use).
    timeout : float | None
        Seconds to look for the stream and wait for its first samples.
    markers : str | None
        Name, type or source id of a marker stream to record alongside.
    recent_seconds : float
        Seconds of the newest EEG kept in memory (:meth:`recent`).
    """

    def __init__(
        self,
        board: str,
        partial: Path | None,
        *,
        timeout: float | None = None,
        markers: str | None = None,
        recent_seconds: float = 4.0,
    ) -> None:
        self.key = stream_key(board)
        self.partial = partial
        self.timeout = float(timeout) if timeout else RESOLVE_SECONDS
        self.markers_key = markers
        self.recent_seconds = recent_seconds
        self.samples = 0
        self.dropped = 0
        self.last_new = time.monotonic()
        self.newest_stamp: float | None = None
        self.summary = ""
        self.spec: Board | None = None
        self._inlet = self._marker_inlet = None
        self._pending: list[tuple[float, float]] = []
        self._shift = 0.0
        self._last_pulled: float | None = None
        #: Times the sender's time stamps jumped back (restarted, looped) and were continued.
        self.jumps = 0
        self._waiting: tuple[np.ndarray, np.ndarray] | None = None

    def start(self) -> Board:
        """Find and open the stream (and the marker stream); wait for the first samples.

        Returns
        -------
        spec : Board
            The stream's layout.

        Raises
        ------
        BoardError
            If a stream is not found, cannot be opened, or sends nothing.
        """
        lsl = _lsl()
        # Clock synchronisation only: dejittering and "monotize" turn a sender's jump back
        # (a restarted or looping sender) into a long run of equal time stamps.
        flags = ("clocksync",)
        info = find_stream(self.key, timeout=self.timeout)
        marker_info = None
        if self.markers_key:
            marker_info = find_stream(self.markers_key, timeout=self.timeout, markers=True)
        try:
            self._inlet = lsl.StreamInlet(info, max_buffered=360, processing_flags=flags)
            self._inlet.open_stream(timeout=self.timeout)
            if marker_info is not None:
                self._marker_inlet = lsl.StreamInlet(marker_info, processing_flags=flags)
                self._marker_inlet.open_stream(timeout=self.timeout)
        except (TimeoutError, RuntimeError) as exc:
            self.stop()
            raise BoardError(
                f"Cannot open the LSL stream {_describe(info)} ({exc}); is its sender still "
                "running?"
            ) from exc
        spec, self._columns, factors, left_out = layout(self._inlet.get_sinfo(), self.key)
        self.spec = spec
        self.to_unix = time.time() - lsl.local_clock()
        data, stamps = self._first_samples()
        said = "from its header"
        if any(f is None for f in factors):
            volts = float(np.max(np.abs(data[:, self._columns]))) < VOLTS_BELOW
            guess = 1e6 if volts else 1.0
            said = f"read as {'volts' if volts else 'microvolts'} (its header gives no unit)"
            factors = [guess if f is None else f for f in factors]
        self._factors = np.asarray(factors, dtype=float)[:, None]
        self._waiting = (data, stamps)
        self._recent = np.empty((len(self._columns), 0))
        self.summary = (
            f"LSL stream {info.name!r}: {len(self._columns)} EEG channels "
            f"({', '.join(spec.eeg_names)}) at {spec.sfreq:g} Hz, units {said}"
            + (f"; left out: {', '.join(left_out)}" if left_out else "")
        )
        self.last_new = time.monotonic()
        return spec

    def _first_samples(self) -> tuple[np.ndarray, np.ndarray]:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            data, stamps = self._pull()
            if stamps.size:
                return data, stamps
            time.sleep(0.02)
        self.stop()
        raise BoardError(
            f"The LSL stream {self.key!r} was found but sent no samples in {self.timeout:g} s; "
            "is its headset streaming?"
        )

    def _pull(self) -> tuple[np.ndarray, np.ndarray]:
        parts, times = [], []
        while True:
            try:
                data, stamps = self._inlet.pull_chunk(timeout=0.0, max_samples=4096)
            except TimeoutError:  # the sender is gone: no samples, the stall timeout decides
                break
            if not len(stamps):
                break
            # Copies: MNE-LSL returns views of buffers the next pull overwrites.
            parts.append(np.array(data, dtype=float))
            times.append(np.array(stamps, dtype=float))
        if not parts:
            return np.empty((0, int(self._inlet.n_channels))), np.empty(0)
        return np.concatenate(parts), self._continued(np.concatenate(times))

    def _continued(self, stamps: np.ndarray) -> np.ndarray:
        """Time stamps that jump back by more than :data:`JUMP_BACK_SECONDS` continue instead.

        A sender that restarts or loops a file starts its time stamps again;
        the samples after the jump are placed right after those before it.
        """
        stamps = stamps + self._shift
        before = stamps[0] if self._last_pulled is None else self._last_pulled
        while True:
            previous = np.concatenate([[before], stamps[:-1]])
            back = np.flatnonzero(stamps < previous - JUMP_BACK_SECONDS)
            if not back.size:
                break
            i = int(back[0])
            step = previous[i] + 1 / self.spec.sfreq - stamps[i]
            stamps[i:] += step
            self._shift += step
            self.jumps += 1
        self._last_pulled = float(stamps[-1])
        return stamps

    def flush(self) -> int:
        """Pull what arrived, write it to the partial file; return the samples written."""
        if self._waiting is not None:
            data, stamps = self._waiting
            self._waiting = None
            more, later = self._pull()
            data, stamps = np.concatenate([data, more]), np.concatenate([stamps, later])
        else:
            data, stamps = self._pull()
        self._keep_markers()
        if not stamps.size:
            return 0
        eeg = data[:, self._columns].T * self._factors
        rows = np.vstack([eeg, stamps + self.to_unix, self._marker_row(stamps)])
        if self.partial is not None:
            from brainflow.data_filter import DataFilter

            DataFilter.write_file(np.ascontiguousarray(rows), str(self.partial), "a")
            with contextlib.suppress(FileNotFoundError), self.partial.open("rb+") as fh:
                os.fsync(fh.fileno())
        self.samples += stamps.size
        self.newest_stamp = float(stamps[-1])
        self.last_new = time.monotonic()
        keep = round(self.recent_seconds * self.spec.sfreq)
        self._recent = np.concatenate([self._recent, eeg], axis=1)[:, -keep:]
        return int(stamps.size)

    def _marker_row(self, stamps: np.ndarray) -> np.ndarray:
        """Each pending task marker on the first sample at or after its time (a free one)."""
        row = np.zeros(stamps.size)
        later = []
        for when, value in self._pending:
            i = int(np.searchsorted(stamps, when, side="left"))
            while i < stamps.size and row[i]:
                i += 1
            if i == stamps.size:
                later.append((when, value))
            else:
                row[i] = value
        self._pending = later
        return row

    def _keep_markers(self) -> None:
        if self._marker_inlet is None:
            return
        try:
            values, stamps = self._marker_inlet.pull_chunk(timeout=0.0, max_samples=1024)
        except TimeoutError:
            return
        if not len(stamps) or self.partial is None:
            return
        lines = [
            f"{when + self.to_unix:.6f}\t{text}\n"
            for value, when in zip(values, stamps, strict=True)
            if (text := _clean(value))
        ]
        with markers_path(self.partial).open("a", encoding="utf-8") as fh:
            fh.writelines(lines)
            fh.flush()
            os.fsync(fh.fileno())

    def recent(self, n: int) -> np.ndarray:
        """The last ``n`` samples of EEG (microvolts), shape (n_eeg, <= n)."""
        return self._recent[:, -n:]

    def newest(self, n: int) -> tuple[np.ndarray, float | None]:
        """Pull, then the last ``n`` samples and the LSL time just after the newest one."""
        self.flush()
        end = None if self.newest_stamp is None else self.newest_stamp + 1 / self.spec.sfreq
        return self.recent(n), end

    def marker(self, value: float) -> None:
        """Put a task marker on the first sample at or after now (LSL clock)."""
        self._pending.append((local_clock(), float(value)))

    def stop(self) -> None:
        """Write what is left and close the inlets."""
        try:
            if self._inlet is not None and self.spec is not None:
                with contextlib.suppress(TimeoutError, RuntimeError):
                    self.flush()
        finally:
            for inlet in (self._inlet, self._marker_inlet):
                if inlet is not None:
                    with contextlib.suppress(Exception):
                        inlet.close_stream()
            self._inlet = self._marker_inlet = None


def check_stream_name(name: str) -> str:
    """A name for a stream this toolkit publishes, stripped.

    Raises
    ------
    BoardError
        If it is empty, longer than 200 characters or not printable text.
    """
    stripped = name.strip()
    if not stripped or not stripped.isprintable() or len(stripped) > 200:
        raise BoardError(f"{name!r} cannot name an LSL stream: give printable text.")
    return stripped


class MarkerOutlet:
    """A string marker stream other programs (PsychoPy, LabRecorder) receive.

    Parameters
    ----------
    name : str
        The stream's name.
    kind : str
        Its type.
    """

    def __init__(self, name: str, kind: str = "Markers") -> None:
        lsl = _lsl()
        name = check_stream_name(name)
        info = lsl.StreamInfo(name, kind, 1, 0.0, "string", f"eeg4students-{name}")
        self.name = name
        self._outlet = lsl.StreamOutlet(info)

    def push(self, text: str, when: float | None = None) -> None:
        """Send one marker, time-stamped ``when`` on the LSL clock (default: now)."""
        self._outlet.push_sample([text], timestamp=local_clock() if when is None else when)

    def close(self) -> None:
        """Stop publishing."""
        self._outlet = None


class LabelOutlet(MarkerOutlet):
    """Live labels as JSON strings, each stamped with its window's end on the LSL clock."""

    def __init__(self, name: str) -> None:
        super().__init__(name, kind="Predictions")

    def send(self, update: dict, window_end: float) -> None:
        """Publish one live update (label, bases' labels, probabilities, rejection)."""
        fields = ("label", "top", "second", "probabilities", "rejected")
        message = {k: update.get(k) for k in fields}
        message["window_end"] = window_end
        self.push(json.dumps(message, default=str), when=window_end)
