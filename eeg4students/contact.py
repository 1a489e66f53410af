"""What to do about an electrode the signal check calls bad, in words a student can act on.

The signal check (:mod:`eeg4students.quality`) gives each channel a verdict;
this module turns a bad one into what the Muse app's "horseshoe" tells a
wearer: which sensor, where it sits, and what to try. The advice depends
on where the electrode sits (behind the ear, on the forehead, in the hair)
and on the fault (no signal, a loose contact, mains hum).
"""

from __future__ import annotations

import re

#: What each fault means for the contact.
FAULTS = {
    "flat": "no signal",
    "railed": "loose contact",
    "stuck": "no signal",
    "too large": "loose contact or movement",
    "line noise": "mains hum",
}

_EAR = re.compile(r"^(TP9|TP10|A1|A2|M1|M2|T9|T10)$", re.IGNORECASE)
_FOREHEAD = re.compile(r"^(Fp\w*|AF\w*|Nz)$", re.IGNORECASE)


def site(channel: str) -> str:
    """Where an electrode of this label sits: ``ear``, ``forehead`` or ``hair``."""
    label = channel.strip()
    if _EAR.match(label):
        return "ear"
    if _FOREHEAD.match(label):
        return "forehead"
    return "hair"


_FIX = {
    "ear": "push the sensor behind the ear onto bare skin, move hair away, wet it a little",
    "forehead": "press the band flat on the forehead, move hair away, wipe the skin",
    "hair": "part the hair under the electrode and press it onto the scalp (add gel or saline)",
}


def advice(channel: str, verdict: str) -> str | None:
    """One sentence on fixing an electrode with this verdict (None when it is ``ok``).

    Parameters
    ----------
    channel : str
        The electrode's label (10-20 name, e.g. ``TP9``).
    verdict : str
        The signal check's verdict (:data:`eeg4students.quality.VERDICTS`).

    Returns
    -------
    advice : str | None
        E.g. ``"TP9 (behind the left ear): loose contact - push the sensor
        behind the ear onto bare skin, ..."``.
    """
    if verdict == "ok" or verdict not in FAULTS:
        return None
    where = site(channel)
    if verdict == "line noise":
        fix = (
            "move away from chargers and power leads, unplug the laptop, then "
            + _FIX[where].split(",")[0]
        )
    else:
        fix = _FIX[where]
    return f"{channel} ({_place(channel, where)}): {FAULTS[verdict]} - {fix}."


def _place(channel: str, where: str) -> str:
    side = _side(channel)
    if where == "ear":
        return f"behind the {side} ear" if side else "behind the ear"
    if where == "forehead":
        return f"forehead, {side}" if side else "forehead"
    return f"scalp, {side}" if side else "scalp, middle"


def _side(channel: str) -> str:
    """``left`` for odd 10-20 numbers, ``right`` for even ones, ``""`` for the midline."""
    digits = re.findall(r"\d+", channel)
    if not digits:
        return ""
    return "left" if int(digits[-1]) % 2 else "right"
