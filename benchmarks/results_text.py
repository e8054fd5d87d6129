"""The lines every benchmark result file shares: its header (title, command, machine, time) and paired tests."""

from __future__ import annotations

import time
from pathlib import Path

from machine import describe

from pairrank.eval.stats import PairedTest


def header(title: str, command: str, notes: str) -> list[str]:
    """The Markdown header: title, the command that reproduces the file, the machine and time, then `notes`."""
    return [
        f"# {title}",
        "",
        f"Command: `{command}`  ",
        f"Machine: {describe()}; {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}  ",
        notes,
    ]


def paired_text(test: PairedTest | dict) -> str:
    """`+0.0021, 95% CI [-0.0048, +0.0087], p (randomisation) 0.537, 610 users` (a - b of the test's metric)."""
    test = test if isinstance(test, PairedTest) else PairedTest(**test)
    return (
        f"{test.mean_difference:+.4f}, {test.level:.0%} CI [{test.ci_low:+.4f}, {test.ci_high:+.4f}], "
        f"p (randomisation) {test.p_randomisation:.3g}, {test.n_users} users"
    )


def out_option(out: Path | None, default: Path | None, root: Path) -> str:
    """` --out PATH` for a command line when `out` is not the script's default (relative to `root` when inside it)."""
    if out is None or out == default:
        return ""
    return f" --out {out.relative_to(root) if out.is_relative_to(root) else out}"
