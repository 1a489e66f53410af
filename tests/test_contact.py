"""Advice for a bad electrode: the site from its 10-20 label, the fault from the verdict."""

from __future__ import annotations

import pytest

from eeg4students.contact import advice, site
from eeg4students.quality import VERDICTS


@pytest.mark.parametrize(
    ("channel", "where", "place"),
    [
        ("TP9", "ear", "behind the left ear"),
        ("TP10", "ear", "behind the right ear"),
        ("AF7", "forehead", "forehead, left"),
        ("Fp2", "forehead", "forehead, right"),
        ("Fz", "hair", "scalp, middle"),
        ("O1", "hair", "scalp, left"),
        ("EXG3", "hair", "scalp, left"),
    ],
)
def test_the_site_and_side_come_from_the_label(channel, where, place):
    assert site(channel) == where
    text = advice(channel, "railed")
    assert text.startswith(f"{channel} ({place}): loose contact - ")


def test_each_fault_says_what_to_do_and_ok_says_nothing():
    assert advice("TP9", "ok") is None
    assert advice("TP9", "no such verdict") is None
    for verdict in VERDICTS:
        if verdict != "ok":
            assert advice("TP9", verdict), verdict
    assert "wet it" in advice("TP9", "flat") and "no signal" in advice("TP9", "flat")
    assert "chargers" in advice("AF8", "line noise")
    assert "gel or saline" in advice("Cz", "too large")
