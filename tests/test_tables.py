"""Console tables fit 100 columns, wrap text not numbers, and show no NaN."""

from __future__ import annotations

import numpy as np
import pandas as pd

from eeg4students.tables import TABLE_WIDTH, format_table, quality_view


def _quality() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "participant": ["sim01", "sim02"],
            "session": ["1", "2"],
            "task": ["Think,Count,Recall,Breathe,Draw", "Breathe,Think,Count,Recall,Draw"],
            "blocks": [5, 5],
            "windows": [205, 205],
            "kept%": [91, 100],
            "bad_channel": [0, 0],
            "bad_annotation": [0, 0],
            "plateau": [8, 0],
            "clipped": [1, 0],
            "amplitude": [0, 0],
            "excluded": ["", ""],
            "notes": [
                "clipped AF7 0.2%, AF8 0.3%, TP10 0.2%; its timestamps are LSL clock seconds, "
                "not dates: the measurement date is unknown",
                "",
            ],
        }
    )


def test_wide_tables_fit_and_keep_every_word():
    table = _quality()
    text = format_table(quality_view(table))
    assert max(len(line) for line in text.splitlines()) <= TABLE_WIDTH
    assert len(table.to_string(index=False).splitlines()[0]) > TABLE_WIDTH  # it was too wide
    for words in ("Breathe", "plateau 8,", "clipped 1", "measurement", "205"):
        assert words in text
    assert "bad channel" not in text  # reasons with no windows are not listed


def test_numbers_are_right_aligned_and_missing_values_are_dashes():
    table = pd.DataFrame({"pipeline": ["rf", "svm"], "accuracy": [0.6449, np.nan]})
    lines = format_table(table).splitlines()
    assert lines[2].endswith("0.645") and lines[3].endswith("–")
    assert "nan" not in "\n".join(lines).lower()
    assert set(lines[1]) == {"-", " "}


def test_headers_wrap_at_underscores():
    table = pd.DataFrame({"forget_accuracy": [0.5], "test_accuracy": [0.4]})
    text = format_table(table, width=20)
    assert text.splitlines()[0].split() == ["forget", "test"]
    assert max(len(line) for line in text.splitlines()) <= 20


def test_words_are_never_split_and_a_column_shares_one_precision():
    import numpy as np
    import pandas as pd

    from eeg4students.tables import format_table

    table = pd.DataFrame(
        {
            "participant": ["a", "b"],
            "task": ["relaxed, concentrating, neutral", "concentrating"],
            "acc": [np.float32(0.66), 0.677],
            "notes": ["its timestamps are LSL clock seconds, not dates " * 3, "short"],
        }
    )
    text = format_table(table, width=60)
    words = {w.strip(",") for line in text.splitlines() for w in line.split()}
    assert "concentrating" in words and "concentratin" not in words
    assert "0.660" in text and "0.677" in text and " 0.66 " not in text
    assert max(len(line) for line in text.splitlines()) <= 60
