"""EEG-like signals for rehearsing a classroom with BrainFlow's synthetic board.

BrainFlow's synthetic board sends one sine per channel, from 5 Hz and 30 uV
on the first to 80 Hz and over 1,000 uV on the last (one at the mains
frequency), so a rehearsal would always show most channels as needing a fix
and never an "all good" class. In a classroom each synthetic headset's EEG
rows are replaced, as they arrive and before they are written, by a signal
in EEG's range: per channel, 1/f-like background (a first-order
autoregressive process) and an alpha rhythm whose amplitude waxes and
wanes, different for every headset and channel. The board's own time
stamps, package numbers and markers are kept.

A teacher rehearses fixing a contact with :meth:`RehearsalSignal.loosen`: the
channel then swings by several hundred microvolts, as a sensor off the skin
does, the signal check calls it ``too large`` and the page says what to do;
:meth:`RehearsalSignal.fix` puts it back.
"""

from __future__ import annotations

import zlib

import numpy as np
from scipy.signal import lfilter

#: Autoregressive coefficient of the background (its spectrum falls off like 1/f^2
#: above a few Hz, as EEG's does roughly).
AR = 0.95
#: Swing (uV, peak) and rate (Hz) of a loosened contact: over the live signal check's
#: 500 uV peak-to-peak limit.
LOOSE_UV = 450.0
LOOSE_HZ = 0.8


class RehearsalSignal:
    """EEG-like samples for one synthetic headset, in microvolts.

    Parameters
    ----------
    n_channels : int
        EEG channels of the board.
    sfreq : float
        Sampling rate (Hz).
    name : str
        The headset's participant label: it seeds the signal, so every
        headset differs and a rerun is the same.
    """

    def __init__(self, n_channels: int, sfreq: float, name: str) -> None:
        rng = np.random.default_rng(zlib.crc32(name.encode()))
        self.sfreq = float(sfreq)
        #: Background noise sd (uV) of each channel's innovations.
        self._noise = rng.uniform(1.8, 3.0, n_channels)
        self._alpha = rng.uniform(3.0, 9.0, n_channels)
        self._alpha_hz = rng.uniform(9.0, 11.0, n_channels)
        self._phase = rng.uniform(0, 2 * np.pi, (2, n_channels))
        self._state = np.zeros((n_channels, 1))
        self._rng = rng
        self._t = 0
        #: Channels whose contact is loosened (indices).
        self.loose: set[int] = set()

    def next(self, n: int) -> np.ndarray:
        """The next ``n`` samples, shape (n_channels, n), in microvolts."""
        innovations = self._rng.normal(0.0, 1.0, (len(self._noise), n)) * self._noise[:, None]
        background, self._state = lfilter([1.0], [1.0, -AR], innovations, axis=1, zi=self._state)
        t = (self._t + np.arange(n)) / self.sfreq
        waxing = 1 + 0.6 * np.sin(2 * np.pi * 0.1 * t[None, :] + self._phase[1][:, None])
        alpha = (
            self._alpha[:, None]
            * waxing
            * np.sin(2 * np.pi * self._alpha_hz[:, None] * t[None, :] + self._phase[0][:, None])
        )
        signal = background + alpha
        for channel in self.loose:
            signal[channel] += LOOSE_UV * np.sin(2 * np.pi * LOOSE_HZ * t)
        self._t += n
        return signal

    def rewrite(self, data: np.ndarray, rows: list[int]) -> None:
        """Replace the EEG rows of a BrainFlow data chunk in place (other rows kept)."""
        if data.shape[1]:
            data[rows] = self.next(data.shape[1])

    def loosen(self, channel: int) -> None:
        """Make a channel's contact loose (its signal swings by hundreds of uV)."""
        self.loose.add(int(channel))

    def fix(self) -> None:
        """Put every loosened contact back."""
        self.loose.clear()
