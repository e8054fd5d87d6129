"""Benchmark reports: Markdown table and a self-contained HTML page with a bar chart."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path
from typing import Any

from rich.table import Table

from pairrank.eval.stats import PairedTest

REPORT_METRICS = (
    "ndcg@10",
    "recall@10",
    "precision@10",
    "map@10",
    "mrr@10",
    "hitrate@10",
    "ndcg@20",
    "recall@20",
    "coverage@10",
)
CHART_METRICS = ("ndcg@10", "recall@10", "map@10", "mrr@10", "ndcg@20", "recall@20")
COVERAGE = "coverage@10"


def markdown_table(rows: list[dict[str, Any]], metrics: tuple[str, ...] = REPORT_METRICS) -> str:
    header = ["model", *metrics, "train s"]
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    best = {m: max(r.get(m, float("-inf")) for r in rows) for m in metrics}
    for r in rows:
        cells = [r["model"]]
        for m in metrics:
            value = f"{r[m]:.4f}"
            cells.append(f"**{value}**" if r[m] == best[m] and len(rows) > 1 else value)
        cells.append(f"{r['train_seconds']:.1f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rich_table(rows: list[dict[str, Any]], title: str, metrics: tuple[str, ...] = REPORT_METRICS) -> Table:
    """The benchmark table for the terminal."""
    table = Table(title=title)
    table.add_column("model")
    for m in (*metrics, "train s"):
        table.add_column(m, justify="right")
    for r in rows:
        table.add_row(r["model"], *(f"{r[m]:.4f}" for m in metrics), f"{r['train_seconds']:.1f}")
    return table


def paired_table(outcome: PairedTest) -> Table:
    """A paired comparison of two systems for the terminal."""
    table = Table(title=f"{outcome.metric}: a - b over {outcome.n_users:,} test users")
    # p: sign-flip randomisation test, paired t-test, Wilcoxon signed-rank
    for column in ("mean a", "mean b", "a - b", f"{outcome.level:.0%} CI", "p rand", "p t", "p wilcoxon"):
        table.add_column(column, justify="right")
    table.add_row(
        f"{outcome.mean_a:.4f}",
        f"{outcome.mean_b:.4f}",
        f"{outcome.mean_difference:+.4f}",
        f"[{outcome.ci_low:+.4f}, {outcome.ci_high:+.4f}]",
        f"{outcome.p_randomisation:.4g}",
        f"{outcome.p_ttest:.4g}",
        f"{outcome.p_wilcoxon:.4g}",
    )
    return table


def _chart_png(rows: list[dict[str, Any]]) -> str:
    """Grouped bars per metric with bootstrap 95% error bars, and catalogue coverage beside them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax, coverage_ax) = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110, gridspec_kw={"width_ratios": [4, 1]})
    width = 0.8 / max(len(rows), 1)
    x = np.arange(len(CHART_METRICS))
    for i, r in enumerate(rows):
        values = np.array([r[m] for m in CHART_METRICS])
        intervals = r.get("ci95", {})
        low = np.array([intervals.get(m, [v, v])[0] for m, v in zip(CHART_METRICS, values)])
        high = np.array([intervals.get(m, [v, v])[1] for m, v in zip(CHART_METRICS, values)])
        errors = np.vstack([values - low, high - values])
        ax.bar(x + i * width, values, width, yerr=errors, capsize=2, label=r["model"], error_kw={"lw": 0.8})
        coverage_ax.bar(i, r[COVERAGE], 0.8, color=f"C{i}")
    ax.set_xticks(x + width * (len(rows) - 1) / 2, CHART_METRICS)
    ax.set_ylabel("score (test, full ranking); bars: bootstrap 95% CI")
    ax.legend(fontsize=8, ncol=min(len(rows), 4))
    ax.grid(axis="y", alpha=0.3)
    coverage_ax.set_xticks(range(len(rows)), [r["model"] for r in rows], rotation=45, ha="right", fontsize=8)
    coverage_ax.set_title(f"{COVERAGE}\n(share of the catalogue)", fontsize=9)
    coverage_ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _cell(row: dict[str, Any], metric: str, best: float) -> str:
    """A metric's mean, its 95% interval beneath when known, in bold where it is the best of the column."""
    value = f"{row[metric]:.4f}"
    interval = row.get("ci95", {}).get(metric)
    if interval is not None:
        value += f"<br><small>[{interval[0]:.4f}, {interval[1]:.4f}]</small>"
    return f"<td><b>{value}</b></td>" if row[metric] == best else f"<td>{value}</td>"


def html_report(summary: dict[str, Any]) -> str:
    rows = summary["results"]
    best = {m: max(r[m] for r in rows) for m in REPORT_METRICS} if len(rows) > 1 else {}
    head = "".join(f"<th>{html.escape(h)}</th>" for h in ("model", *REPORT_METRICS, "train s", "recommend s"))
    body = "".join(
        "<tr><td>"
        + html.escape(r["model"])
        + "</td>"
        + "".join(_cell(r, m, best.get(m, float("nan"))) for m in REPORT_METRICS)
        + f"<td>{r['train_seconds']:.1f}</td><td>{r['recommend_seconds']:.1f}</td></tr>"
        for r in rows
    )
    fitting = "refit on train+valid" if summary["final"] else "fit on train"
    title = f"PairRank benchmark: {html.escape(summary['protocol'])} ({html.escape(summary['split'])})"
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1200px}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}td:first-child{{text-align:left}}</style></head>
<body><h1>{title}</h1>
<p>Full ranking over the catalogue, train+valid items excluded; models {fitting}. Under each mean: its
bootstrap 95% confidence interval over users. Bold: the best model for that metric.</p>
<img alt="metrics with 95% intervals, and catalogue coverage" src="data:image/png;base64,{_chart_png(rows)}">
<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>
</body></html>
"""


def write_reports(summary: dict[str, Any], out: Path) -> None:
    """results.md and report.html beside results.json."""
    out = Path(out)
    md = f"# Benchmark: {summary['protocol']}\n\nSplit: `{summary['split']}`\n\n{markdown_table(summary['results'])}\n"
    (out / "results.md").write_text(md)
    (out / "report.html").write_text(html_report(summary))
