"""Simulated participants recorded under a protocol, for demos and tests.

The generative model
--------------------
Each simulated participant ``p`` has fixed traits drawn from a seeded
generator: an individual alpha frequency (IAF, 8.5-11.5 Hz), an aperiodic
exponent ``chi`` (1.0-1.8), a per-channel gain, and an alpha strength that
is larger over temporal/posterior sites than over frontal ones.

The background EEG of a channel is Gaussian noise with power spectrum

    P(f) = g_c * [ 1 / (1 + f)^chi  +  a_c * N(f; IAF, 1 Hz) * m(t) ]
           * exp( sum_b  E[task, b, c] * w_b(f) )

where ``w_b`` are smooth indicators of the bands delta 1-4, theta 4-8,
alpha 8-13, beta 13-30 and gamma 30-45 Hz, ``m(t)`` is a slow log-normal
envelope (alpha comes in bursts), and ``E`` is the task effect in natural-log
power. ``E = E_population + E_participant + E_session``: a small effect
shared by everybody (e.g. alpha up while breathing slowly, theta up while
counting), a larger participant-specific effect (std 0.3), and a small
session-specific perturbation. Because the participant-specific part
dominates, a classifier trained on one person transfers poorly to another,
as with real EEG.

On top of that, each session has an electrode-contact gain per channel
(broadband, std 0.25 in log power) and a slow drift of power across the
session, so a model trained on one session loses accuracy on another; and a
slow DC wander (< 0.3 Hz) and a little line noise (50 Hz) are added.

Artifacts, with rates per minute drawn per participant:

- blinks (10-20/min): 0.3 s bumps of 80-250 uV on frontal channels (AF*,
  Fp*, F*), a few percent of that elsewhere;
- muscle bursts (1-3/min, doubled while drawing): 20-100 Hz noise of
  15-40 uV for 0.3-1.5 s, strongest on temporal channels (T*, TP*);
- lost contact: about two plateaus per recording, where one channel repeats
  its last value for 1.5-5 s;
- clipping: about one movement per recording, a 1.5 mV swing that the
  amplifier clips at its rail (1000 uV for the Muse).

Finally samples are quantised to the device resolution (0.488 uV for the
Muse), so plateaus repeat exactly as on a real headset.

Blocks are annotated ``task/<Name>`` (see :mod:`eeg4students.events`). Every
number comes from generators seeded by ``(seed, participant, session)``:
the same arguments give the same samples, in any order of generation.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import mne
import numpy as np
from joblib import Parallel, delayed

from eeg4students._compat import unlocked
from eeg4students._progress import progress_bar
from eeg4students.errors import EEG4StudentsError
from eeg4students.events import task_description
from eeg4students.protocol import Protocol, load_protocol
from eeg4students.store import Dataset, RecordingRef

MUSE_CHANNELS = ("TP9", "AF7", "AF8", "TP10")
BANDS = {"delta": (1, 4), "theta": (4, 8), "alpha": (8, 13), "beta": (13, 30), "gamma": (30, 45)}
#: Shared (population) task effects in natural-log power per band.
POPULATION_EFFECTS = {
    "Think": {"beta": 0.10},
    "Count": {"theta": 0.15, "alpha": -0.20, "beta": 0.10},
    "Recall": {"theta": 0.10, "alpha": -0.10},
    "Breathe": {"alpha": 0.30, "beta": -0.10, "delta": 0.10},
    "Draw": {"alpha": -0.20, "beta": 0.15, "gamma": 0.20},
}
#: RMS (uV) of the aperiodic background of a channel with unit gains.
BACKGROUND_UV = 12.0
#: Height of the alpha peak relative to the aperiodic spectrum's scale.
ALPHA_PEAK = 0.05
_BASE_DATE = datetime(2026, 1, 12, 9, 0, tzinfo=UTC)


@dataclass(frozen=True)
class Montage:
    """Channels and device properties of a simulated headset.

    Attributes
    ----------
    ch_names : tuple of str
        Electrode names.
    sfreq : float
        Sampling rate in Hz.
    rail_uv : float | None
        Amplifier rail in uV (None: never clips).
    resolution_uv : float | None
        Quantisation step in uV (None: not quantised).
    """

    ch_names: tuple[str, ...] = MUSE_CHANNELS
    sfreq: float = 256.0
    rail_uv: float | None = 1000.0
    resolution_uv: float | None = 1000.0 / 2048

    @property
    def device(self) -> str:
        """Device name stored with the recordings."""
        return "simulated"


MUSE = Montage()


def board_montage(board: str) -> Montage:
    """The channels, sampling rate and rail of a BrainFlow headset, for simulating it.

    A class simulated with a board's layout trains models that ``live`` and
    ``record`` can use with that board (e.g. ``synthetic`` for rehearsals).

    Parameters
    ----------
    board : str
        A friendly board name (see :func:`eeg4students.boards.board_names`).

    Returns
    -------
    montage : Montage
    """
    from eeg4students.boards import get_board

    if board.strip().lower() == "playback":
        raise EEG4StudentsError(
            "The playback board replays a recording of another headset; simulate that "
            "headset instead (e.g. --board muse_2)."
        )
    spec = get_board(board)
    return Montage(
        ch_names=tuple(spec.eeg_names),
        sfreq=float(spec.sfreq),
        rail_uv=spec.rail_uv,
        resolution_uv=None,
    )


def _region(name: str) -> str:
    upper = name.upper()
    if upper.startswith(("FP", "AF", "F")) and not upper.startswith("FT"):
        return "frontal"
    if upper.startswith(("T", "FT")):
        return "temporal"
    if upper.startswith(("O", "P", "CP")):
        return "posterior"
    return "central"


def _band_weights(freqs: np.ndarray) -> dict[str, np.ndarray]:
    """Smooth (0.5 Hz sigmoid edges) band indicators over ``freqs``."""

    def edge(f0: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(freqs - f0) / 0.5))

    return {band: edge(lo) - edge(hi) for band, (lo, hi) in BANDS.items()}


def _smooth_noise(rng: np.random.Generator, n: int, sfreq: float, cutoff: float) -> np.ndarray:
    """Unit-variance Gaussian noise low-passed below ``cutoff`` Hz."""
    spectrum = np.fft.rfft(rng.standard_normal(n))
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    spectrum[(freqs == 0) | (freqs > cutoff)] = 0
    out = np.fft.irfft(spectrum, n)
    std = out.std()
    # Segments shorter than one period of the cutoff have no slow component.
    return out / std if std > 1e-9 else np.zeros(n)


@dataclass(frozen=True)
class _Participant:
    iaf: float
    chi: float
    gain: np.ndarray  # (n_channels,)
    alpha: np.ndarray  # (n_channels,)
    effects: dict[str, np.ndarray]  # task -> (n_bands, n_channels), log power
    blink_rate: float
    muscle_rate: float


def _participant(seed: int, index: int, tasks: Sequence[str], montage: Montage) -> _Participant:
    rng = np.random.default_rng([seed, index, 0])
    n_ch = len(montage.ch_names)
    region_alpha = {"frontal": 0.6, "temporal": 1.0, "posterior": 1.5, "central": 1.0}
    alpha = np.array([region_alpha[_region(c)] for c in montage.ch_names])
    alpha = alpha * rng.uniform(1.5, 4.0) * rng.lognormal(0, 0.2, n_ch)
    pop_rng = np.random.default_rng([seed, 10**6])
    effects = {}
    for task in tasks:
        prior = POPULATION_EFFECTS.get(task, {})
        population = np.array([prior.get(b, 0.0) for b in BANDS]) + pop_rng.normal(0, 0.05, 5)
        individual = rng.normal(0, 0.3, (len(BANDS), n_ch))
        effects[task] = population[:, None] + individual
    return _Participant(
        iaf=rng.uniform(8.5, 11.5),
        chi=rng.uniform(1.0, 1.8),
        gain=rng.lognormal(0, 0.15, n_ch),
        alpha=alpha,
        effects=effects,
        blink_rate=rng.uniform(10, 20),
        muscle_rate=rng.uniform(1, 3),
    )


def _background(
    rng: np.random.Generator,
    n: int,
    who: _Participant,
    effect: np.ndarray | None,
    contact: np.ndarray,
    montage: Montage,
) -> np.ndarray:
    """Background EEG (uV) of one segment, shape (n_channels, n)."""
    sfreq = montage.sfreq
    freqs = np.fft.rfftfreq(n, 1 / sfreq)
    weights = _band_weights(freqs)
    aperiodic = 1.0 / (1.0 + freqs) ** who.chi
    peak = np.exp(-0.5 * ((freqs - who.iaf) / 1.0) ** 2)
    # irfft of unit complex Gaussian coefficients shaped by S has variance
    # 2 * mean(S) / n; this scale gives the aperiodic part BACKGROUND_UV RMS.
    scale = BACKGROUND_UV * np.sqrt(n / (2 * aperiodic.mean()))
    envelope = np.exp(0.3 * _smooth_noise(rng, n, sfreq, 0.2))
    out = np.empty((len(montage.ch_names), n))
    for c in range(len(montage.ch_names)):
        log_gain = np.zeros_like(freqs)
        if effect is not None:
            for b, band in enumerate(BANDS):
                log_gain += effect[b, c] * weights[band]
        shape = np.exp(log_gain) * who.gain[c] * contact[c]
        parts = []
        for spectrum in (aperiodic, who.alpha[c] * peak * ALPHA_PEAK):
            coef = rng.standard_normal(len(freqs)) + 1j * rng.standard_normal(len(freqs))
            parts.append(np.fft.irfft(coef * np.sqrt(spectrum * shape), n))
        out[c] = parts[0] + parts[1] * envelope
    return out * scale


def _add_artifacts(
    rng: np.random.Generator,
    data: np.ndarray,
    who: _Participant,
    muscle_boost: np.ndarray,
    montage: Montage,
) -> None:
    """Add blinks, muscle bursts and clipping movements to ``data`` (uV) in place."""
    n_ch, n = data.shape
    sfreq = montage.sfreq
    minutes = n / sfreq / 60
    regions = [_region(c) for c in montage.ch_names]
    frontal = np.array([1.0 if r == "frontal" else 0.04 for r in regions])
    temporal = np.array([1.0 if r == "temporal" else 0.3 for r in regions])
    t = np.arange(int(0.8 * sfreq)) / sfreq
    for start in rng.integers(0, n - len(t), rng.poisson(who.blink_rate * minutes)):
        bump = rng.uniform(80, 250) * np.exp(-0.5 * ((t - 0.4) / 0.07) ** 2)
        data[:, start : start + len(t)] += frontal[:, None] * bump
    n_bursts = rng.poisson(who.muscle_rate * minutes * muscle_boost.mean())
    # Burst places follow the task's muscle rate (inverse-CDF sampling).
    cdf = np.cumsum(muscle_boost)
    places = np.searchsorted(cdf, rng.random(n_bursts) * cdf[-1])
    for start in places.tolist():
        length = min(int(rng.uniform(0.3, 1.5) * sfreq), n - start)
        if length < 8:
            continue
        spectrum = np.fft.rfft(rng.standard_normal((n_ch, length)), axis=1)
        freqs = np.fft.rfftfreq(length, 1 / sfreq)
        spectrum[:, (freqs < 20) | (freqs > 100)] = 0
        burst = np.fft.irfft(spectrum, length, axis=1)
        burst *= rng.uniform(15, 40) / (burst.std() + 1e-12)
        data[:, start : start + length] += temporal[:, None] * burst * np.hanning(length)
    for start in rng.integers(0, n, rng.poisson(1.0)):
        length = min(int(rng.uniform(0.5, 1.5) * sfreq), n - start)
        swing = 1500.0 * np.sin(np.linspace(0, np.pi, length)) * rng.choice([-1, 1])
        data[:, start : start + length] += rng.uniform(0.5, 1.2, (n_ch, 1)) * swing


def _add_plateaus(rng: np.random.Generator, data: np.ndarray, sfreq: float) -> None:
    """Hold one channel at its last value for 1.5-5 s, about twice per recording."""
    n_ch, n = data.shape
    for _ in range(rng.poisson(2.0)):
        c = int(rng.integers(n_ch))
        length = int(rng.uniform(1.5, 5.0) * sfreq)
        start = int(rng.integers(1, max(2, n - length)))
        data[c, start : start + length] = data[c, start - 1]


def simulate_recording(
    participant: int,
    session: int,
    *,
    seed: int = 0,
    protocol: Protocol | None = None,
    montage: Montage = MUSE,
    task_seconds: float | None = None,
    line_freq: float = 50.0,
) -> mne.io.RawArray:
    """Simulate one session of one participant under a protocol.

    Parameters
    ----------
    participant : int
        Participant index (0-based); fixes the participant's traits.
    session : int
        Session number (1-based); picks the protocol's task order and the
        session's contact and drift.
    seed : int
        Seed of the whole simulated cohort.
    protocol : Protocol | None
        The protocol; None uses EEG4Students.
    montage : Montage
        Channels, sampling rate, rail and resolution (default: Muse, 256 Hz).
    task_seconds : float | None
        Override the protocol's block length (seconds), e.g. for quick tests.
    line_freq : float
        Mains frequency (Hz) of the simulated room.

    Returns
    -------
    raw : mne.io.RawArray
        EEG in volts, shape (n_channels, n_times), with ``task/<Name>``
        annotations on each block and a measurement date.
    """
    if participant < 0 or session < 1:
        raise EEG4StudentsError(
            f"Participant index must be >= 0 and session >= 1, not {participant} and {session}."
        )
    protocol = (protocol or load_protocol()).with_timing(task_seconds)
    sfreq = montage.sfreq
    who = _participant(seed, participant, protocol.task_names, montage)
    rng = np.random.default_rng([seed, participant, session])
    n_ch = len(montage.ch_names)
    contact = rng.lognormal(0, 0.25, n_ch)
    order = protocol.order(session)
    lead = int(protocol.lead_in_seconds * sfreq)
    block = int(protocol.task_seconds * sfreq)
    rest = int(protocol.rest_seconds * sfreq)
    n_total = lead + len(order) * block + (len(order) - 1) * rest + lead
    drift = rng.normal(0, 0.15) * np.linspace(-1, 1, n_total)
    segments, onsets, boost = [], [], np.ones(n_total)
    position = 0

    def add(length: int, task: str | None) -> None:
        nonlocal position
        effect = None
        if task is not None:
            effect = who.effects[task] + rng.normal(0, 0.1, who.effects[task].shape)
        segments.append(_background(rng, length, who, effect, contact, montage))
        if task == "Draw":
            boost[position : position + length] = 2.0
        position += length

    add(lead, None)
    for i, task in enumerate(order):
        onsets.append(position / sfreq)
        add(block, task)
        add(rest if i < len(order) - 1 else lead, None)
    data = np.concatenate(segments, axis=1)
    # Slow changes across the session: power drift and electrode DC wander.
    data *= np.exp(drift / 2)[None, :]
    data += 20.0 * np.vstack([_smooth_noise(rng, n_total, sfreq, 0.3) for _ in range(n_ch)])
    t = np.arange(n_total) / sfreq
    data += rng.uniform(0.5, 3.0, (n_ch, 1)) * np.sin(2 * np.pi * line_freq * t)
    _add_artifacts(rng, data, who, boost, montage)
    if montage.rail_uv is not None:
        np.clip(data, -montage.rail_uv, montage.rail_uv, out=data)
    if montage.resolution_uv:
        data = np.round(data / montage.resolution_uv) * montage.resolution_uv
    _add_plateaus(rng, data, sfreq)

    info = mne.create_info(list(montage.ch_names), sfreq, "eeg")
    raw = mne.io.RawArray(data * 1e-6, info, verbose="error")
    date = _BASE_DATE + timedelta(
        days=7 * (session - 1), hours=participant % 8, minutes=(participant // 8)
    )
    raw.set_meas_date(date)
    with unlocked(raw.info):
        raw.info["line_freq"] = line_freq
        raw.info["device_info"] = {"model": montage.device}
    raw.set_annotations(
        mne.Annotations(
            onsets,
            [protocol.task_seconds] * len(onsets),
            [task_description(task) for task in order],
            orig_time=raw.info["meas_date"],
        )
    )
    return raw


def participant_label(index: int) -> str:
    """BIDS label of simulated participant ``index`` (``sim01``, ``sim02``...)."""
    return f"sim{index + 1:02d}"


def simulate_classroom(
    n_participants: int = 8,
    n_sessions: int = 2,
    **options,
) -> Iterator[tuple[str, str, mne.io.RawArray]]:
    """Simulate a class: every participant for every session.

    Parameters
    ----------
    n_participants, n_sessions : int
        Cohort size and sessions per participant.
    **options
        Passed to :func:`simulate_recording` (``seed``, ``protocol``,
        ``montage``, ``task_seconds``, ``line_freq``).

    Yields
    ------
    participant : str
        BIDS label, e.g. ``"sim01"``.
    session : str
        Session label, ``"1"``, ``"2"``...
    raw : mne.io.RawArray
        The recording.
    """
    if n_participants < 1 or n_sessions < 1:
        raise EEG4StudentsError(
            "A simulated class needs at least one participant and one session, "
            f"not {n_participants} and {n_sessions}."
        )
    for p in range(n_participants):
        for s in range(1, n_sessions + 1):
            yield participant_label(p), str(s), simulate_recording(p, s, **options)


def simulate_to_dataset(
    root: str | Path,
    n_participants: int = 8,
    n_sessions: int = 2,
    *,
    progress: bool = True,
    **options,
) -> list[RecordingRef]:
    """Simulate a class and store it as a BIDS dataset.

    Parameters
    ----------
    root : str | Path
        Dataset folder (created if new or empty).
    n_participants, n_sessions : int
        Cohort size and sessions per participant.
    progress : bool
        Show a progress bar.
    **options
        Passed to :func:`simulate_recording`.

    Returns
    -------
    refs : list of RecordingRef
        Where each recording was stored (task label ``eeg4students``).
    """
    if n_participants < 1 or n_sessions < 1:
        raise EEG4StudentsError(
            "A simulated class needs at least one participant and one session, "
            f"not {n_participants} and {n_sessions}."
        )
    dataset = Dataset.create(
        root,
        name="eeg4students simulated classroom",
        authors=["eeg4students simulator"],
        license="CC0",
    )
    pairs = [(p, s) for p in range(n_participants) for s in range(1, n_sessions + 1)]
    # Absolute: a reused worker process keeps the folder it started in, not this one's.
    root = dataset.root.absolute()
    jobs = (delayed(_simulate_one)(root, p, s, options) for p, s in pairs)
    refs = list(
        progress_bar(
            Parallel(return_as="generator")(jobs),
            total=len(pairs),
            desc="simulate",
            unit="rec",
            enabled=progress,
        )
    )
    # Writers may finish in any order; the table of participants does not depend on it.
    dataset.sort_participants()
    return [replace(ref, path=dataset.root / ref.path.relative_to(root)) for ref in refs]


def _simulate_one(root: Path, participant: int, session: int, options: dict) -> RecordingRef:
    """Simulate one recording and store it (runs in a worker, writes to the dataset path)."""
    raw = simulate_recording(participant, session, **options)
    protocol = (options.get("protocol") or load_protocol()).with_timing(
        options.get("task_seconds")
    )
    return Dataset(root).add_recording(
        raw,
        participant_label(participant),
        str(session),
        "eeg4students",
        run=1,
        source_format="simulated",
        task_fields=protocol.bids_task_fields(session),
    )
