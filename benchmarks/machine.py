"""The machine line that every benchmark result records."""

from __future__ import annotations

import os
from pathlib import Path

import torch


def describe() -> str:
    """`nproc` cores, the CPU model and the RAM, and the GPU that torch sees, if any."""
    cores = len(os.sched_getaffinity(0))
    ram_gib = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    cpuinfo = Path("/proc/cpuinfo").read_text().splitlines()
    model = next((line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), "?")
    gpu = f", GPU: {torch.cuda.get_device_name(0)}" if torch.cuda.is_available() else ""
    return f"{cores} cores (`nproc`; {model}), {ram_gib:.0f} GiB RAM{gpu}"
