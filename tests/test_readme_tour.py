"""The README's tour runs as written: every bash and python block, in order, on the bundled data and examples/.

A block is skipped only when the line before its fence says `<!-- tour: skip ... -->` (the Quickstart's
`make demo` / `make test`). The blocks run in a fresh folder that links `datasets`, `examples` and `.venv`
from the repository, so `runs/` starts empty and nothing is written into the checkout.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FENCE = re.compile(r"^```(\w+)\n(.*?)^```", re.S | re.M)
SKIP = "<!-- tour: skip"
BLOCK_SECONDS = 900


@dataclass
class Block:
    language: str
    code: str
    line: int  # of the opening fence in README.md


def tour_blocks(readme: str) -> list[Block]:
    blocks = []
    for match in FENCE.finditer(readme):
        before = readme[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        if match.group(1) in ("bash", "python") and not before.startswith(SKIP):
            blocks.append(Block(match.group(1), match.group(2), readme.count("\n", 0, match.start()) + 1))
    return blocks


def test_the_readme_has_a_tour_and_skips_only_what_it_marks():
    readme = (ROOT / "README.md").read_text()
    blocks = tour_blocks(readme)
    assert len(blocks) >= 4 and {b.language for b in blocks} == {"bash", "python"}
    assert readme.count(SKIP) == len(FENCE.findall(readme)) - len(blocks)


@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("tour")
    for name in ("datasets", "examples", ".venv"):
        if (ROOT / name).exists():
            (folder / name).symlink_to(ROOT / name)
    return folder


def run_block(block: Block, workdir: Path) -> subprocess.CompletedProcess:
    bin_dir = str(Path(sys.executable).parent)  # pairrank and torchrun of this environment come first
    env = {**os.environ, "PATH": bin_dir + os.pathsep + os.environ["PATH"], "PAIRRANK_QUIET": "1"}
    command = ["bash", "-euo", "pipefail", "-c", block.code] if block.language == "bash" else [sys.executable]
    return subprocess.run(
        command,
        input=block.code if block.language == "python" else None,
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=BLOCK_SECONDS,
    )


@pytest.mark.timeout(BLOCK_SECONDS * 6)
def test_every_tour_block_runs_in_order(workdir):
    for block in tour_blocks((ROOT / "README.md").read_text()):
        done = run_block(block, workdir)
        assert done.returncode == 0, (
            f"README.md block at line {block.line} ({block.language}) failed:\n{done.stdout[-3000:]}\n"
            f"{done.stderr[-3000:]}"
        )
    runs = workdir / "runs"
    assert (runs / "tt" / "model.safetensors").exists() and (runs / "tt-ddp" / "model.safetensors").exists()
    assert (runs / "bench" / "report.html").exists() and (runs / "ease-api" / "config.json").exists()
