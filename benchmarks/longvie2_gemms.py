"""Every linear layer of one LongVie 2 CFG step, timed alone on one CUDA GPU (bf16): where the matmul time goes.

Why: after FA4 and torch.compile, matmuls are about half of a LongVie 2 step
(``benchmarks/longvie2_speed.py --profile-out``). This times each distinct linear shape of a step
(both CFG passes in one batch, as the sampler runs them) through ``F.linear`` with its bias, multiplies
by how often a step runs it, and prints the step's matmul seconds and the rate of each shape. It also
times the candidate fusions the speed work weighs:

- ``ffn_up+gelu``: the FFN up-projection and its tanh-GELU three ways: eager (cuBLAS, then a GELU kernel),
  ``torch.compile`` (cuBLAS, then one Triton bias+GELU kernel, what the compiled blocks run) and
  ``torch._addmm_activation(use_gelu=True)`` (cuBLASLt's GELU epilogue: one kernel, no extra pass);
- ``qkv fused``: one GEMM for q, k and v (the concatenated weights) against three.

    python benchmarks/longvie2_gemms.py --jsonl-out gemms.jsonl
    python benchmarks/longvie2_gemms.py --cpu-smoke      # tiny shapes on CPU: checks the script only
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attention_kernels import Timer
from longvie.config import REAL_CONFIG, TINY_CONFIG, LongVie2Config

TEXT_TOKENS, IMAGE_TOKENS = 512, 257


@dataclass(frozen=True)
class LinearShape:
    """One linear layer shape: ``rows`` tokens (both CFG passes) x ``in_features`` -> ``out_features``,
    run ``per_step`` times in one CFG step."""

    name: str
    rows: int
    in_features: int
    out_features: int
    per_step: int

    def flop(self) -> float:
        return 2.0 * self.rows * self.in_features * self.out_features


def step_linears(cfg: LongVie2Config, base_tokens: int, control_tokens: int, batch: int = 2) -> list[LinearShape]:
    """The distinct linear shapes of one step, with counts (base blocks, both control branches, fusion)."""
    d, cd, layers, cl = cfg.dim, cfg.control_dim, cfg.num_layers, cfg.control_layers
    mb, mc, mt, mi = batch * base_tokens, batch * control_tokens, batch * TEXT_TOKENS, batch * IMAGE_TOKENS
    return [
        LinearShape("base q/k/v/o + cross q/o", mb, d, d, 6 * layers),
        LinearShape("base cross text k/v", mt, d, d, 2 * layers),
        LinearShape("base cross image k/v", mi, d, d, 2 * layers),
        LinearShape("base ffn up", mb, d, cfg.ffn_dim, layers),
        LinearShape("base ffn down", mb, cfg.ffn_dim, d, layers),
        LinearShape("control q/k/v/o + cross q/o", mc, cd, cd, 6 * 2 * cl),
        LinearShape("control cross text k/v", mt, cd, cd, 2 * 2 * cl),
        LinearShape("control cross image k/v", mi, cd, cd, 2 * 2 * cl),
        LinearShape("control ffn up", mc, cd, cfg.control_ffn_dim, 2 * cl),
        LinearShape("control ffn down", mc, cfg.control_ffn_dim, cd, 2 * cl),
        LinearShape("fusion", mc, cd, d, cl),
    ]


def linear_inputs(rows: int, n_in: int, n_out: int, device: torch.device, dtype: torch.dtype,
                  ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator(device=device).manual_seed(0)
    x = torch.randn(rows, n_in, generator=g, device=device, dtype=torch.float32).to(dtype)
    w = (torch.randn(n_out, n_in, generator=g, device=device, dtype=torch.float32) * n_in ** -0.5).to(dtype)
    b = torch.randn(n_out, generator=g, device=device, dtype=torch.float32).to(dtype) * 0.02
    return x, w, b


def time_call(timer: Timer, fn: Callable[[], object], warmup: int, repeats: int) -> float:
    for _ in range(warmup):
        fn()
    timer.sync()
    return timer.seconds(fn, repeats)


def measure_linears(shapes: list[LinearShape], timer: Timer, device: torch.device, dtype: torch.dtype,
                    warmup: int, repeats: int) -> list[dict[str, object]]:
    rows = []
    for shape in shapes:
        x, w, b = linear_inputs(shape.rows, shape.in_features, shape.out_features, device, dtype)
        seconds = time_call(timer, lambda x=x, w=w, b=b: F.linear(x, w, b), warmup, repeats)
        rows.append({"kind": "linear", **asdict(shape), "ms": round(seconds * 1e3, 4),
                     "tflops": round(shape.flop() / seconds / 1e12, 1),
                     "step_ms": round(seconds * 1e3 * shape.per_step, 2)})
        del x, w, b
    return rows


def gelu_variants(rows: int, n_in: int, n_out: int, timer: Timer, device: torch.device, dtype: torch.dtype,
                  warmup: int, repeats: int, compile_too: bool) -> list[dict[str, object]]:
    """FFN up-projection + tanh GELU: eager, compiled, and cuBLASLt's epilogue (max |diff| against eager)."""
    x, w, b = linear_inputs(rows, n_in, n_out, device, dtype)

    def eager() -> torch.Tensor:
        return F.gelu(F.linear(x, w, b), approximate="tanh")

    def epilogue() -> torch.Tensor:
        return torch._addmm_activation(b, x, w.t(), use_gelu=True)

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [("eager", eager)]
    if compile_too:
        compiled = torch.compile(lambda x, w, b: F.gelu(F.linear(x, w, b), approximate="tanh"))
        variants.append(("torch.compile", lambda: compiled(x, w, b)))
    if device.type == "cuda":  # on CPU _addmm_activation's GELU is the exact one, not tanh's
        variants.append(("cublasLt epilogue", epilogue))
    reference = eager().float()
    out_rows = []
    for name, fn in variants:
        seconds = time_call(timer, fn, warmup, repeats)
        out_rows.append({"kind": "ffn_up+gelu", "variant": name, "rows": rows, "in_features": n_in,
                         "out_features": n_out, "ms": round(seconds * 1e3, 4),
                         "max_abs_diff_vs_eager": float((fn().float() - reference).abs().max())})
    return out_rows


def qkv_fused(rows: int, dim: int, timer: Timer, device: torch.device, dtype: torch.dtype, warmup: int,
              repeats: int) -> list[dict[str, object]]:
    """Three q/k/v projections against one GEMM of the concatenated weights."""
    x, w, b = linear_inputs(rows, dim, 3 * dim, device, dtype)
    ws, bs = w.chunk(3), b.chunk(3)
    three = time_call(timer, lambda: [F.linear(x, wi, bi) for wi, bi in zip(ws, bs, strict=True)], warmup, repeats)
    one = time_call(timer, lambda: F.linear(x, w, b), warmup, repeats)
    flop = 2.0 * rows * dim * 3 * dim
    return [{"kind": "qkv", "variant": name, "rows": rows, "dim": dim, "ms": round(s * 1e3, 4),
             "tflops": round(flop / s / 1e12, 1)} for name, s in (("three GEMMs", three), ("one fused GEMM", one))]


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--no-compile", action="store_true", help="skip the torch.compile GELU variant")
    parser.add_argument("--jsonl-out", default=None, help="append one JSON line per row here")
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU (checks the script only)")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device, dtype, cfg, base_tokens, control_tokens = torch.device("cpu"), torch.float32, TINY_CONFIG, 48, 40
    else:
        if not torch.cuda.is_available():
            parser.error("needs a CUDA GPU (use --cpu-smoke to check the script on CPU)")
        device, dtype, cfg = torch.device("cuda"), torch.bfloat16, REAL_CONFIG
        base_tokens, control_tokens = 23 * 22 * 40, 21 * 22 * 40  # 2 history + 21 clip latent frames of 22x40
    timer = Timer(device)
    context = {"device": "cpu (smoke)" if args.cpu_smoke else torch.cuda.get_device_name(), "torch": torch.__version__}
    shapes = step_linears(cfg, base_tokens, control_tokens)
    rows = measure_linears(shapes, timer, device, dtype, args.warmup, args.repeats)
    b = 2
    rows += gelu_variants(b * base_tokens, cfg.dim, cfg.ffn_dim, timer, device, dtype, args.warmup, args.repeats,
                          not args.no_compile)
    rows += gelu_variants(b * control_tokens, cfg.control_dim, cfg.control_ffn_dim, timer, device, dtype,
                          args.warmup, args.repeats, not args.no_compile)
    rows += qkv_fused(b * base_tokens, cfg.dim, timer, device, dtype, args.warmup, args.repeats)
    rows += qkv_fused(b * control_tokens, cfg.control_dim, timer, device, dtype, args.warmup, args.repeats)
    rows = [{**row, **context} for row in rows]
    for row in rows:
        print("GEMM " + json.dumps(row), flush=True)
    if args.jsonl_out:
        with open(args.jsonl_out, "a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    linear = [r for r in rows if r["kind"] == "linear"]
    print(f"\n{context['device']}, torch {context['torch']}, {args.repeats} timed repeats")
    for r in linear:
        print(f"{r['name']:<32} {r['rows']:>6} x {r['in_features']:>5} -> {r['out_features']:>5}  x{r['per_step']:<4}"
              f" {r['ms']:>9.3f} ms {r['tflops']:>7.1f} TFLOP/s  {r['step_ms']:>8.1f} ms/step")
    total_ms = sum(float(r["step_ms"]) for r in linear)
    total_flop = sum(shape.flop() * shape.per_step for shape in shapes)
    print(f"linear layers of one step: {total_ms:.1f} ms, {total_flop / total_ms / 1e9:.1f} TFLOP/s")
    for r in rows:
        if r["kind"] != "linear":
            print(json.dumps({k: v for k, v in r.items() if k not in ("device", "torch")}))
    return rows


if __name__ == "__main__":
    main()
