"""The lines benchmark result files share: the header (title, command, machine, time), paired tests, and the
pipeline's recorded figures on a split."""

from __future__ import annotations

import re
import time
from pathlib import Path

from machine import describe

from pairrank.eval.stats import PairedTest

RESULTS = Path(__file__).resolve().parent / "results"


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


def recorded_line(dataset: str, protocol: str) -> str:
    """The pipeline's and TwoTower's test NDCG@10 on a split of the benchmarks, as the pipeline benchmark recorded
    them in `results/pipeline-DATASET.md` or `pipeline-DATASET-PROTOCOL.md` ('-' where none)."""
    for name in (f"pipeline-{dataset}.md", f"pipeline-{dataset}-{protocol}.md"):
        path = RESULTS / name
        section = path.read_text().partition(f"## {protocol}\n")[2].partition("\n## ")[0] if path.exists() else ""
        if section:
            break
    figures = {}
    for model in ("pipeline", "twotower"):
        found = re.search(rf"^\| (?:\*\*)?{model}(?:\*\*)? \| ([0-9.]+) \|", section, re.MULTILINE)
        figures[model] = found.group(1) if found else "-"
    return (
        f"Recorded on the same split (`results/{name}`), test NDCG@10: "
        f"pipeline {figures['pipeline']}, twotower {figures['twotower']}."
    )
