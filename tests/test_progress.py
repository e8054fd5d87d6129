"""Progress in a log (output not a terminal): plain lines with the step, its count and the seconds."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from pairrank import progress


@pytest.fixture
def log(monkeypatch) -> io.StringIO:
    """What progress prints, as a log (not a terminal) would get it."""
    written = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=written, force_terminal=False, width=200))
    monkeypatch.delenv("PAIRRANK_QUIET", raising=False)
    return written


def test_a_log_gets_plain_lines_for_start_each_description_periodic_counts_and_the_end(log, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 3600.0)  # no periodic line during the epochs
    with progress.progress_bar("twotower", total=3) as bar:
        for epoch in (1, 2, 3):
            bar.advance()
            bar.describe(f"twotower: epoch {epoch} valid ndcg@10 0.0{epoch}00")
    lines = log.getvalue().splitlines()
    assert [re.sub(r"\(\d+\.\d s\)", "(s)", line) for line in lines] == [
        "twotower: 0/3 (s)",
        "twotower: epoch 1 valid ndcg@10 0.0100: 1/3 (s)",
        "twotower: epoch 2 valid ndcg@10 0.0200: 2/3 (s)",
        "twotower: epoch 3 valid ndcg@10 0.0300: 3/3 (s)",
    ]  # the end repeats nothing already said

    log.truncate(0), log.seek(0)
    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 0.0)  # a line at every count
    with progress.progress_bar("encoding 4 texts", total=4) as bar:
        bar.advance(2)
        bar.advance(2)
    assert [line.split(" (")[0] for line in log.getvalue().splitlines()] == [
        "encoding 4 texts: 0/4",
        "encoding 4 texts: 2/4",
        "encoding 4 texts: 4/4",
    ]


def test_quiet_prints_nothing(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(progress, "console", Console(file=log, force_terminal=False))
    monkeypatch.setenv("PAIRRANK_QUIET", "1")
    with progress.progress_bar("x", total=2) as bar:
        bar.advance()
        bar.describe("y")
    assert log.getvalue() == ""


def test_an_epoch_counted_with_its_result_gives_one_line_that_names_that_epoch(log, monkeypatch):
    monkeypatch.setattr(progress, "PLAIN_EVERY_SECONDS", 0.0)  # a periodic line is always due
    with progress.progress_bar("twotower", total=2) as bar:
        for epoch in (1, 2):
            bar.advance(description=f"twotower: epoch {epoch} valid ndcg@10 0.0{epoch}00")
    assert [line.split(" (")[0] for line in log.getvalue().splitlines()] == [
        "twotower: 0/2",
        "twotower: epoch 1 valid ndcg@10 0.0100: 1/2",
        "twotower: epoch 2 valid ndcg@10 0.0200: 2/2",
    ]  # never an epoch's count beside the previous epoch's result
