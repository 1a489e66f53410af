"""Which EEG channels to use when some are bad in some recordings: the most good data.

Consumer and low-cost headsets often record channels that carry nothing: an
OpenBCI board with 2 of its 8 inputs wired, a channel connected in a few
sessions and flat in the rest, a Muse sensor that lost contact. A window is
only usable if every channel it uses is good in its recording, so one
channel that is bad in most recordings can throw away nearly all the data.

:func:`choose_channels` picks, from the channels every recording has, the
set that keeps the most good data: the number of channels times the
recording time in which all of them are good (the import marks a channel
bad when it is flat or at the amplifier rail; see
:mod:`eeg4students.quality`). A channel bad in every recording never helps;
one bad in most recordings costs more recordings than it adds; one bad in
a single recording of forty is kept and that recording left out. Ties keep
more channels. With up to :data:`EXACT_UP_TO` channels every set is tried;
beyond, the best prefix of the channels ordered by their good time.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

#: Channel counts up to which every subset is tried (2 ** 16 sets).
EXACT_UP_TO = 16


@dataclass
class ChannelChoice:
    """The channels chosen, and what was left out for them.

    Attributes
    ----------
    channels : list of str
        The channels used, in the recordings' order.
    available : list of str
        Every EEG channel all recordings have.
    bad_in : dict of str to int
        Per channel left out, in how many recordings it is bad.
    missing_in : dict of str to int
        Per channel some recordings lack (another headset, another montage),
        how many lack it: such a channel is left out.
    lost : list of str
        Recordings (their ``sub-..._run-R`` names) in which a chosen channel
        is bad: they keep no window.
    n_recordings : int
        Recordings considered.
    """

    channels: list[str]
    available: list[str]
    bad_in: dict[str, int] = field(default_factory=dict)
    lost: list[str] = field(default_factory=list)
    n_recordings: int = 0
    missing_in: dict[str, int] = field(default_factory=dict)

    @property
    def left_out(self) -> list[str]:
        """The channels not used, in the recordings' order."""
        return [c for c in self.available if c not in self.channels]

    def describe(self) -> str:
        """One sentence: which channels, and why the others were left out."""
        n = self.n_recordings
        reasons = []
        for channel in self.left_out:
            if channel in self.missing_in:
                reasons.append(f"{channel} (not in {self.missing_in[channel]} of {n})")
                continue
            count = self.bad_in.get(channel, 0)
            reasons.append(f"{channel} (bad in {'all' if count == n else count} of {n})")
        kept = n - len(self.lost)
        text = (
            f"Channels {', '.join(self.channels)}: the most good data ({len(self.channels)} "
            f"channels x {kept} of {n} recordings); left out {', '.join(reasons)}"
        )
        if self.lost:
            text += f"; {len(self.lost)} recording(s) with a chosen channel bad keep no window"
        return text + ". --channels chooses others."


def _popcount(values: np.ndarray) -> np.ndarray:
    counts = np.zeros(values.shape, dtype=np.int64)
    work = values.copy()
    while work.any():
        counts += work & 1
        work >>= 1
    return counts


def choose_channels(
    names: list[str], bad: list[set[str]], weights: list[float], recording_ids: list[str]
) -> ChannelChoice:
    """The channel set that keeps the most good data (see the module docstring).

    Parameters
    ----------
    names : list of str
        The EEG channels every recording has, in order.
    bad : list of set of str
        Per recording, its channels marked bad.
    weights : list of float
        Per recording, its length (s): how much data it holds.
    recording_ids : list of str
        Per recording, its name (for :attr:`ChannelChoice.lost`).

    Returns
    -------
    choice : ChannelChoice
    """
    n = len(names)
    masks = np.array(
        [sum(1 << i for i, c in enumerate(names) if c in b) for b in bad], dtype=np.int64
    )
    weight = np.asarray(weights, dtype=float)
    unique, where = np.unique(masks, return_inverse=True)
    per_mask = np.bincount(where, weights=weight, minlength=len(unique))
    if n <= EXACT_UP_TO:
        subsets = np.arange(1, 1 << n, dtype=np.int64)
    else:  # prefixes of the channels ordered by their good time
        good = [weight[(masks >> i) & 1 == 0].sum() for i in range(n)]
        order = sorted(range(n), key=lambda i: (-good[i], i))
        subsets = np.cumsum([1 << i for i in order]).astype(np.int64)
    usable = np.zeros(len(subsets))
    for mask, total in zip(unique, per_mask, strict=True):
        usable += np.where(subsets & mask == 0, total, 0.0)
    size = _popcount(subsets)
    # Most good data first, then more channels, then the lowest-numbered set.
    best = subsets[np.lexsort((subsets, -size, -(size * usable)))[0]]
    chosen = [c for i, c in enumerate(names) if best >> i & 1]
    lost = [rid for rid, m in zip(recording_ids, masks, strict=True) if m & best]
    bad_in = {c: sum(c in b for b in bad) for c in names if c not in chosen}
    return ChannelChoice(chosen, list(names), bad_in, lost, len(bad))


def recordings_choice(recordings: pd.DataFrame, read_names) -> ChannelChoice | None:
    """Choose the channels of a dataset's recordings; None when no channel is bad anywhere.

    Parameters
    ----------
    recordings : pandas.DataFrame
        :meth:`eeg4students.store.Dataset.recordings`: ``path``,
        ``bad_channels`` and ``duration_s`` are used.
    read_names : callable
        ``read_names(vhdr) -> list of str``: a recording's EEG channels.

    Returns
    -------
    choice : ChannelChoice | None
        None when every recording has the same channels, all of them good
        (all are used); a choice with no channel when the recordings share
        none (headsets of different layouts).
    """
    bad = [set(b) for b in recordings["bad_channels"]]
    names = [read_names(vhdr) for vhdr in recordings["path"]]
    if not names or any(n is None for n in names):
        return None
    union = list(dict.fromkeys(c for n in names for c in n))
    common = [c for c in union if all(c in n for n in names)]
    if not any(bad) and len(common) == len(union):
        return None
    missing = {c: sum(c not in n for n in names) for c in union if c not in common}
    ids = [p.name[: -len("_eeg.vhdr")] for p in recordings["path"]]
    if not common:
        return ChannelChoice([], union, {}, [], len(names), missing)
    choice = choose_channels(common, bad, recordings["duration_s"].astype(float).tolist(), ids)
    choice.available, choice.missing_in = union, missing
    return choice
