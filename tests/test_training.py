"""The shared training loop: checkpoints, resume after a kill, and data-parallel training under torchrun."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from pairrank.train.checkpoint import load_checkpoint

SMALL = {
    "epochs": 6,
    "patience": 6,
    "max_history": 20,
    "dim": 16,
    "hidden": 32,
    "layers": 1,
    "lr": 0.005,
    "ema_decay": 0.9,
}
WORKER = Path(__file__).with_name("ddp_worker.py")


def train_command(split: Path, out: Path, config: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "pairrank", "train", "--split", str(split), "--model", "twotower"] + [
        "--out",
        str(out),
        "--config",
        str(config),
        "--final",
        *extra,
    ]


def wait_for_epoch(folder: Path, epoch: int, process: subprocess.Popen, timeout: float = 240.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        state = load_checkpoint(folder) if (folder / "state.json").exists() else None
        if state is not None and state.epoch >= epoch:
            return
        time.sleep(0.02)
    raise AssertionError(f"no checkpoint for epoch {epoch} in {folder} (exit code {process.poll()})")


def test_killed_run_resumes_to_the_same_model(tmp_path, small_loo_split):
    config = tmp_path / "small.json"
    config.write_text(json.dumps(SMALL))
    env = {**os.environ, "PAIRRANK_QUIET": "1"}
    subprocess.run(train_command(small_loo_split, tmp_path / "whole", config), check=True, env=env)

    killed = tmp_path / "killed"
    process = subprocess.Popen(train_command(small_loo_split, killed, config), env=env)
    wait_for_epoch(killed / "checkpoints" / "select", 2, process)
    process.send_signal(signal.SIGKILL)
    process.wait()
    assert not (killed / "run.json").exists(), "the run finished before it could be killed"
    state = load_checkpoint(killed / "checkpoints" / "select")
    assert state is not None and 2 <= state.epoch < SMALL["epochs"] and not state.finished

    resumed = subprocess.run(
        train_command(small_loo_split, killed, config, "--resume"), env=env, capture_output=True, text=True
    )
    assert resumed.returncode == 0, resumed.stderr
    assert f"resuming after epoch {state.epoch}" in resumed.stderr
    whole, again = (
        load_file(str(tmp_path / "whole" / "model.safetensors")),
        load_file(str(killed / "model.safetensors")),
    )
    assert whole.keys() == again.keys()
    for key in whole:
        np.testing.assert_allclose(again[key], whole[key], rtol=1e-5, atol=1e-6, err_msg=key)
    runs = [json.loads((d / "run.json").read_text()) for d in (tmp_path / "whole", killed)]
    np.testing.assert_allclose(runs[1]["curve"], runs[0]["curve"], rtol=1e-6)
    assert runs[1]["config"]["epochs"] == runs[0]["config"]["epochs"]


def test_resume_on_a_first_run_starts_fresh_and_says_so(tmp_path, small_loo_split):
    config = tmp_path / "small.json"
    config.write_text(json.dumps({**SMALL, "epochs": 2}))
    done = subprocess.run(
        train_command(small_loo_split, tmp_path / "first", config, "--resume"), capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    assert "no checkpoint in" in done.stderr and "starting fresh" in done.stderr
    assert (tmp_path / "first" / "model.safetensors").exists()


@pytest.mark.skipif(shutil.which("torchrun", path=str(Path(sys.executable).parent)) is None, reason="no torchrun")
def test_two_processes_agree_on_weights_every_step_and_match_one(tmp_path, small_loo_split):
    config = json.dumps({**SMALL, "epochs": 4, "batch_size": 32})
    torchrun = str(Path(sys.executable).parent / "torchrun")
    reports = {}
    for n in (1, 2):
        report = tmp_path / f"ddp{n}.json"
        command = [torchrun, "--standalone", f"--nproc_per_node={n}", str(WORKER), str(small_loo_split), str(report)]
        subprocess.run([*command, config], check=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, timeout=600)
        reports[n] = json.loads(report.read_text())
    two, one = reports[2], reports[1]
    assert two["world_size"] == 2 and one["world_size"] == 1
    assert two["steps"] == one["steps"] > 4  # every rank takes a share of every global batch
    assert two["max_gap"] == 0.0
    assert two["valid_ndcg"] >= 0.8 * one["valid_ndcg"] > 0
