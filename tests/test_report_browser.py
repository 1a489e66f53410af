"""The evaluation report as a reader sees it: its headline table rendered in Chromium.

``make test`` installs Debian's Chromium; without it these tests skip and say so.
"""

from __future__ import annotations

import pytest
from test_classroom_browser import CHROMIUM, browser  # noqa: F401 - the fixture
from test_evaluation import FEATURES, _meta

from eeg4students.evaluation import evaluate
from eeg4students.report import write_report

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        CHROMIUM is None, reason="Debian's chromium is not installed (make test installs it)"
    ),
]


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    table = _meta(participants=("p1", "p2", "p3"), n=10)
    small = {"rf": {"n_estimators": 10}}  # TMV's forest too: the table's layout is tested
    result = evaluate(
        table, FEATURES, ["lda", "tmv"], "time-blocked", n_splits=3, model_params=small
    )
    return write_report(result, tmp_path_factory.mktemp("report") / "out")


def test_the_headline_table_reads_as_laid_out(browser, report):  # noqa: F811
    page = browser.new_page()
    page.goto(report.as_uri())
    table = page.locator("table.e4s").first
    headers = table.locator("thead th")
    names = [h.strip() for h in headers.all_text_contents()]
    # The row labels are a column of their own, under their own header; every pipeline
    # has its column, tmv's two votes included.
    assert names == ["participant", "lda", "tmv-block", "tmv-causal"]
    rows = table.locator("tbody tr")
    assert rows.count() == 4  # three participants and the mean
    for r in range(rows.count()):
        cells = rows.nth(r).locator("th, td")
        assert cells.count() == len(names)
        texts = [t.strip() for t in cells.all_text_contents()]
        assert texts[0] in ("p1", "p2", "p3", "mean")
        for text in texts[1:]:  # every pipeline's cell is filled: a number or a dash
            assert text == "–" or (len(text.split(".")[1]) == 3 and 0 <= float(text) <= 1)
        # Numbers sit right under their headers (both right-aligned), labels left.
        for c in range(1, len(names)):
            head, cell = headers.nth(c).bounding_box(), cells.nth(c).bounding_box()
            assert abs((head["x"] + head["width"]) - (cell["x"] + cell["width"])) < 1.5
            align = cells.nth(c).evaluate("e => getComputedStyle(e).textAlign")
            assert align == "right"
            assert headers.nth(c).evaluate("e => getComputedStyle(e).textAlign") == "right"
        label = cells.nth(0).bounding_box()
        assert label["x"] < cells.nth(1).bounding_box()["x"]
        assert cells.nth(0).evaluate("e => getComputedStyle(e).textAlign") == "left"
    page.close()
