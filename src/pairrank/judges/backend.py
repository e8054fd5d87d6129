"""What a loaded judge runs on, or `auto` by the hardware: a cross-encoder on ONNX Runtime (int8) or torch, an LLM
judge's scoring in float32 or bfloat16."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pairrank.errors import ConfigError

JudgeBackend = Literal["auto", "onnx", "torch"]
BACKENDS: tuple[str, ...] = get_args(JudgeBackend)
CPU_INFO = Path("/proc/cpuinfo")
# int8 dot-product instructions (x86 VNNI, Arm's dot product): with AVX-512 VNNI (AMD EPYC Zen 4) ONNX Runtime's
# int8 judge was the faster, 29 against 35 ms a user; with AVX2 alone (Zen 1) torch was, 121 against 166 ms
INT8_DOT_PRODUCT_FLAGS = frozenset({"avx512_vnni", "avx_vnni", "asimddp"})


LLMPrecision = Literal["auto", "float32", "bfloat16"]
PRECISIONS: tuple[str, ...] = get_args(LLMPrecision)
# bfloat16 matrix instructions (AVX-512 BF16, AMX): on AMD EPYC Zen 4 a fine-tuned LLM judge re-ranked EASE's top 20
# in 3.25 s a user in bfloat16 against 6.02 s in float32, with the same NDCG@10 (amazon-scientific, 200 users)
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})


def resolve_backend(backend: str, cpu_info: Path = CPU_INFO) -> str:
    """The runtime to load a judge on: "onnx" or "torch" as asked; for "auto", torch on a GPU, else ONNX int8
    where the CPU has int8 dot-product instructions and torch where it has not (or does not say)."""
    if backend not in BACKENDS:
        raise ConfigError(f"unknown judge backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if backend != "auto":
        return backend
    import torch

    if torch.cuda.is_available():
        return "torch"
    return "onnx" if cpu_flags(cpu_info) & INT8_DOT_PRODUCT_FLAGS else "torch"


def cpu_flags(cpu_info: Path = CPU_INFO) -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (x86 `flags`, Arm `Features`); none where it cannot be read."""
    try:
        text = cpu_info.read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def resolve_precision(precision: str, cpu_info: Path = CPU_INFO) -> str:
    """The dtype an LLM judge scores in: "float32" or "bfloat16" as asked; for "auto", bfloat16 on a CPU with
    bfloat16 matrix instructions and float32 elsewhere (other CPUs emulate bfloat16, slower; on a GPU float32,
    its bfloat16 speed unmeasured here)."""
    if precision not in PRECISIONS:
        raise ConfigError(f"unknown LLM precision {precision!r}; choose one of {', '.join(PRECISIONS)}")
    if precision != "auto":
        return precision
    import torch

    if torch.cuda.is_available():
        return "float32"
    return "bfloat16" if cpu_flags(cpu_info) & BF16_FLAGS else "float32"
