"""Units of EEG channels as streams and files spell them, and their factor to microvolts."""

from __future__ import annotations

#: Unit names, lower case, and how many microvolts one of them is.
MICROVOLTS_PER = {
    "microvolts": 1.0,
    "microvolt": 1.0,
    "uv": 1.0,
    "µv": 1.0,
    "μv": 1.0,
    "millivolts": 1e3,
    "millivolt": 1e3,
    "mv": 1e3,
    "volts": 1e6,
    "volt": 1e6,
    "v": 1e6,
}


def microvolts_per(unit: str | None) -> float | None:
    """How many microvolts one unit of a channel is, or None when the unit is not known.

    Parameters
    ----------
    unit : str | None
        The unit as a stream or file header gives it: a name (``microvolts``,
        ``uV``, ``V``...) or, as MNE-LSL writes it, the power of ten of volts
        (``"-6"`` for microvolts, ``"0"`` for volts).

    Returns
    -------
    factor : float | None
        Microvolts per unit.
    """
    text = (unit or "").strip().lower()
    if text in MICROVOLTS_PER:
        return MICROVOLTS_PER[text]
    try:
        power = int(text)
    except ValueError:
        return None
    return 10.0 ** (power + 6) if -9 <= power <= 0 else None
