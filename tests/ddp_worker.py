"""Run under torchrun by test_training.py: TwoTower on a small split, checking before every step
(and after the last) that all ranks hold identical weights. Rank 0 writes a JSON report.

    torchrun --standalone --nproc_per_node 2 tests/ddp_worker.py SPLITDIR REPORT.json CONFIG_JSON
"""

from __future__ import annotations

import json
import sys

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from pairrank.data.split_data import SplitData
from pairrank.data.split_io import Split
from pairrank.models.twotower import TwoTowerRanker, TwoTowerTask
from pairrank.models.validation import validation_ndcg


def weight_gap(network: nn.Module) -> float:
    """Largest absolute difference between this rank's weights and any other rank's (0 without DDP)."""
    if not dist.is_initialized():
        return 0.0
    flat = torch.cat([p.detach().flatten() for p in network.parameters()])
    gathered = [torch.zeros_like(flat) for _ in range(dist.get_world_size())]
    dist.all_gather(gathered, flat)
    return max(float((g - flat).abs().max()) for g in gathered)


class CheckedTask(TwoTowerTask):
    steps = 0
    max_gap = 0.0

    def loss(self, module: nn.Module, batch: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        CheckedTask.steps += 1
        CheckedTask.max_gap = max(CheckedTask.max_gap, weight_gap(self.network))
        return super().loss(module, batch, rng)


class CheckedRanker(TwoTowerRanker):
    def _task(self, train, valid) -> TwoTowerTask:
        return CheckedTask(self, train, valid)


def main(split_dir: str, report: str, config: str) -> None:
    data = SplitData.from_split(Split.read(split_dir))
    valid = data.dataset(data.split.valid)
    model = CheckedRanker(json.loads(config)).fit(data.dataset(data.split.train), valid)
    final_gap = weight_gap(model.net)
    if not dist.is_initialized() or dist.get_rank() == 0:
        result = {
            "world_size": dist.get_world_size() if dist.is_initialized() else 1,
            "steps": CheckedTask.steps,
            "max_gap": max(CheckedTask.max_gap, final_gap),
            "valid_ndcg": validation_ndcg(model, valid),
            "curve": model.curve,
        }
        with open(report, "w") as f:
            json.dump(result, f)


if __name__ == "__main__":
    main(*sys.argv[1:4])
