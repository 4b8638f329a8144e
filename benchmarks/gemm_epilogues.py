"""A block's residual adds inside the GEMM that feeds them (quack's CuTe-DSL GEMM epilogues) against cuBLAS + a kernel.

Why: after the sixth session's fused norms, about 170 ms of a 3.0 s LongVie 2 step on an H100 is
memory-bound work between the matmuls and attention kernels, at the bandwidth already. Each Wan block adds
three branch outputs into its residual stream: ``x + gate * (attn @ W_o^T + b)`` after self-attention,
``x + (cross @ W_o^T + b)`` after cross-attention, ``x + gate * (ffn @ W_down^T + b)`` after the
feed-forward. Today cuBLAS writes the branch output and a separate kernel (our block-norm kernel or
Inductor's) reads it back with ``x``. quack (Tri Dao's CuTe-DSL kernel library, a dependency of
FlashAttention-4) lets a GEMM's epilogue read ``x`` and write the new stream itself, so the branch output
never reaches memory. This script times, per shape of a CFG step (bf16, both passes in one batch):

- ``cublas``: ``F.linear`` alone (the matmul the step runs);
- ``cublas+residual_norm`` (self- and cross-attention output) or ``cublas+residual`` (feed-forward):
  what the step runs today (the block-norm kernel with its residual, or a compiled residual add);
- ``quack[cfg]``: quack's GEMM with the bias in its epilogue, per tile configuration (is it as fast as cuBLAS?);
- ``quack_residual[cfg]``: the residual in the epilogue, then the LayerNorm alone (attention outputs) or
  nothing (feed-forward): what the step would run;
- for the FFN up-projections: ``cublasLt_gelu`` (the GELU epilogue the step runs) against ``quack_gelu[cfg]``.

Each row gives milliseconds, TFLOP/s of the GEMM and the largest |difference| of the new stream from a
float32 reference, relative to its largest magnitude.

    python benchmarks/gemm_epilogues.py --jsonl-out epi.jsonl
    python benchmarks/gemm_epilogues.py --cpu-smoke        # the torch paths on tiny shapes: checks the script only
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attention_kernels import Timer
from benchmarks.longvie2_gemms import time_call


@dataclass(frozen=True)
class ResidualSite:
    """One residual add of a block: ``rows`` tokens x ``in_features`` -> ``dim``; ``gated``: times a gate;
    ``norm_after``: a LayerNorm of the new stream follows (the attention outputs), else nothing (the FFN)."""

    name: str
    rows: int
    in_features: int
    dim: int
    gated: bool
    norm_after: bool
    per_step: int
    gelu: bool = False  # the FFN up-projection: bias + tanh-GELU in the epilogue, no residual

    def flop(self) -> float:
        return 2.0 * self.rows * self.in_features * self.dim


def sites(cpu_smoke: bool) -> list[ResidualSite]:
    if cpu_smoke:
        return [ResidualSite("tiny attn out", 64, 32, 48, True, True, 1),
                ResidualSite("tiny ffn up", 64, 48, 96, False, False, 1, gelu=True),
                ResidualSite("tiny ffn down", 64, 96, 48, True, False, 1)]
    base, control = 2 * 20_240, 2 * 18_480
    return [
        ResidualSite("base self-attn out", base, 5120, 5120, True, True, 40),
        ResidualSite("base cross-attn out", base, 5120, 5120, False, True, 40),
        ResidualSite("base ffn up", base, 5120, 13_824, False, False, 40, gelu=True),
        ResidualSite("base ffn down", base, 13_824, 5120, True, False, 40),
        ResidualSite("control self-attn out", control, 2560, 2560, True, True, 24),
        ResidualSite("control cross-attn out", control, 2560, 2560, False, True, 24),
        ResidualSite("control ffn up", control, 2560, 6912, False, False, 24, gelu=True),
        ResidualSite("control ffn down", control, 6912, 2560, True, False, 24),
    ]


@dataclass(frozen=True)
class Operands:
    """One site's tensors: branch input ``a`` (rows, in), weight ``w`` (dim, in) and bias, stream ``x``,
    gate (dim,) float32 (ones when the site has none), the LayerNorm's affine."""

    a: torch.Tensor
    w: torch.Tensor
    bias: torch.Tensor
    x: torch.Tensor
    gate: torch.Tensor
    norm_weight: torch.Tensor
    norm_bias: torch.Tensor

    def reference_stream(self, gelu: bool) -> torch.Tensor:
        branch = self.a.float() @ self.w.float().t() + self.bias.float()
        if gelu:
            return F.gelu(branch, approximate="tanh")
        return self.x.float() + branch * self.gate


def operands(site: ResidualSite, device: torch.device, dtype: torch.dtype) -> Operands:
    g = torch.Generator(device=device).manual_seed(0)

    def randn(*shape: int, scale: float = 1.0) -> torch.Tensor:
        return torch.randn(*shape, generator=g, device=device, dtype=torch.float32) * scale

    gate = randn(site.dim, scale=0.1) if site.gated else torch.ones(site.dim, device=device)
    return Operands(a=randn(site.rows, site.in_features).to(dtype),
                    w=randn(site.dim, site.in_features, scale=site.in_features ** -0.5).to(dtype),
                    bias=randn(site.dim, scale=0.02).to(dtype), x=randn(site.rows, site.dim).to(dtype),
                    gate=gate.contiguous(), norm_weight=1 + randn(site.dim, scale=0.1),
                    norm_bias=randn(site.dim, scale=0.1))


def torch_variants(site: ResidualSite, ops: Operands) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    """cuBLAS alone, and cuBLAS + the kernel the step runs today; each returns the new stream (or the GEMM)."""
    from longvie.block_norms import residual_layernorm_reference, residual_layernorm_triton

    layernorm = residual_layernorm_triton if ops.x.device.type == "cuda" else residual_layernorm_reference
    gate3 = ops.gate.view(1, 1, -1) if site.gated else None
    x3 = ops.x.unsqueeze(0)

    def linear() -> torch.Tensor:
        return F.linear(ops.a, ops.w, ops.bias)

    def residual_norm() -> torch.Tensor:
        stream, _ = layernorm(x3, linear().unsqueeze(0), gate3, ops.norm_weight, ops.norm_bias, None, None, 1e-6)
        return stream[0]

    def residual_eager(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor) -> torch.Tensor:
        return (x.float() + y.float() * gate).to(x.dtype)

    add = torch.compile(residual_eager) if ops.x.device.type == "cuda" else residual_eager

    def residual() -> torch.Tensor:
        return add(ops.x, linear(), ops.gate)

    if site.gelu:
        out = [("cublas", linear)]
        if ops.x.device.type == "cuda":  # on CPU _addmm_activation's GELU is the exact one
            out.append(("cublasLt_gelu", lambda: torch._addmm_activation(ops.bias, ops.a, ops.w.t(), use_gelu=True)))
        return out
    return [("cublas", linear), ("cublas+residual_norm" if site.norm_after else "cublas+residual",
                                 residual_norm if site.norm_after else residual)]


@dataclass(frozen=True)
class QuackConfig:
    """A quack SM90 tile configuration, written ``128x256c2x1``: tile M x N, ``c`` cooperative or ``p``
    pingpong, cluster M x N; or ``tuned``."""

    spec: str

    def build(self) -> Any:
        """The ``GemmConfig``; None for ``tuned`` (quack's autotuner sweeps its SM90 space on first call)."""
        from quack.gemm_config import GemmConfig

        if self.spec == "tuned":
            return None

        tile, rest = self.spec.split("x", 1)
        tile_n, kind_cluster = rest[:-4], rest[-4:]
        kind, cluster = kind_cluster[0], kind_cluster[1:]
        cm, cn = cluster.split("x")
        return GemmConfig(tile_m=int(tile), tile_n=int(tile_n), pingpong=kind == "p", cluster_m=int(cm),
                          cluster_n=int(cn), is_dynamic_persistent=False, device_capacity=9)


def quack_mods() -> dict[str, Any]:
    """The three epilogues: bias only, the (gated) residual, and the pipeline's own bias + tanh-GELU
    (``longvie.quack_gelu``, so the bench times the kernel the pipeline runs)."""
    from quack.epilogue.frontend import gemm_epilogue
    from quack.epilogue.ops import RowVecLoad

    from longvie.quack_gelu import gelu_epilogue_mod

    @gemm_epilogue(ops={"bias": RowVecLoad("bias")})
    def bias_epilogue(acc, bias):
        return {"D": acc + bias}

    @gemm_epilogue(ops={"gate": RowVecLoad("gate"), "bias": RowVecLoad("bias")})
    def gated_residual_epilogue(acc, c, gate, bias):
        return {"D": c + gate * (acc + bias)}

    return {"bias": bias_epilogue, "residual": gated_residual_epilogue, "gelu": gelu_epilogue_mod()}


def quack_variants(site: ResidualSite, ops: Operands, configs: list[QuackConfig],
                   ) -> list[tuple[str, Callable[[], torch.Tensor]]]:
    from longvie.block_norms import residual_layernorm_triton

    mods = quack_mods()
    bias32 = ops.bias.float().contiguous()
    weight_kn = ops.w.t()
    out: list[tuple[str, Callable[[], torch.Tensor]]] = []
    for config in configs:
        built = config.build()

        def plain(built: Any = built) -> torch.Tensor:
            return mods["bias"](ops.a, weight_kn, config=built, tuned=built is None, bias=bias32)["D"]

        def residual(built: Any = built) -> torch.Tensor:
            stream = mods["residual"](ops.a, weight_kn, ops.x, config=built, tuned=built is None, gate=ops.gate,
                                      bias=bias32)["D"]
            if site.norm_after:
                residual_layernorm_triton(stream.unsqueeze(0), None, None, ops.norm_weight, ops.norm_bias,
                                          None, None, 1e-6)
            return stream

        def gelu(built: Any = built) -> torch.Tensor:
            return mods["gelu"](ops.a, weight_kn, config=built, tuned=built is None, bias=bias32)["D"]

        if site.gelu:
            out += [(f"quack[{config.spec}]", plain), (f"quack_gelu[{config.spec}]", gelu)]
        else:
            out += [(f"quack[{config.spec}]", plain), (f"quack_residual[{config.spec}]", residual)]
    return out


def measure(site: ResidualSite, ops: Operands, variants: list[tuple[str, Callable[[], torch.Tensor]]],
            timer: Timer, warmup: int, repeats: int) -> list[dict[str, object]]:
    reference = ops.reference_stream(site.gelu)
    linear_reference = ops.a.float() @ ops.w.float().t() + ops.bias.float()
    rows = []
    for name, fn in variants:
        row: dict[str, object] = {"site": site.name, "variant": name, **asdict(site)}
        try:
            begin = time.perf_counter()
            result = fn()
            timer.sync()
            row["first_call_s"] = round(time.perf_counter() - begin, 2)
            seconds = time_call(timer, fn, warmup, repeats)
        except Exception as exc:
            row["error"] = f"{type(exc).__name__}: {exc}"[:400]
            row["trace_tail"] = traceback.format_exc()[-1200:]
            rows.append(row)
            print(json.dumps(row), flush=True)
            continue
        want = reference if ("residual" in name or "gelu" in name) else linear_reference
        row.update(ms=round(seconds * 1e3, 4), tflops=round(site.flop() / seconds / 1e12, 1),
                   step_ms=round(seconds * 1e3 * site.per_step, 2),
                   rel_diff=float((result.float() - want).abs().max() / want.abs().max()))
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", default="128x256c2x1,256x128c2x1,128x192p2x1,256x192c2x1",
                        help="quack tile configurations, comma-separated (tile M x N, c/p, cluster M x N)")
    parser.add_argument("--sites", default="", help="only the sites whose name contains one of these (comma-separated)")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--no-quack", action="store_true", help="the torch paths only")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU, torch paths only")
    parser.add_argument("--jsonl-out", type=Path)
    args = parser.parse_args(argv)
    device = torch.device("cpu" if args.cpu_smoke else "cuda")
    dtype = torch.float32 if args.cpu_smoke else torch.bfloat16
    timer = Timer(device)
    configs = [QuackConfig(spec) for spec in args.configs.split(",") if spec]
    wanted = [s for s in args.sites.split(",") if s]
    rows: list[dict[str, object]] = []
    for site in sites(args.cpu_smoke):
        if wanted and not any(w in site.name for w in wanted):
            continue
        ops = operands(site, device, dtype)
        variants = torch_variants(site, ops)
        if not (args.cpu_smoke or args.no_quack):
            variants += quack_variants(site, ops, configs)
        rows += measure(site, ops, variants, timer, args.warmup, args.repeats)
        del ops
    if args.jsonl_out:
        args.jsonl_out.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


if __name__ == "__main__":
    main()
