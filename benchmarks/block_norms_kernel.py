"""A Wan block's three LayerNorm steps on one CUDA GPU: ``longvie.block_norms``' Triton kernel against
``torch.compile`` of diffusers' own expressions (what the compiled LongVie 2 blocks ran before), at LongVie 2's
shapes, and the kernel's warps per row swept.

The three steps of ``WanTransformerBlock.forward``:

- ``norm1``: ``LayerNorm(x) * (1 + scale) + shift`` (read x, write the normalised rows);
- ``res+norm2``: ``x + attn * gate``, then the affine LayerNorm (read x and attn, write both results);
- ``res+norm3``: ``x + cross``, then ``LayerNorm * (1 + scale) + shift`` (the same traffic).

Prints ms per call, the achieved memory rate (the bytes above, bf16) and the largest difference from the
compiled path in bf16 ulps (relative to max(|x|, 1)).

    python benchmarks/block_norms_kernel.py
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attention_kernels import Timer
from benchmarks.longvie2_gemms import time_call
from longvie.block_norms import residual_layernorm_triton

#: (name, batch, tokens, dim): both CFG passes; base (history + clip tokens) and a control branch.
SHAPES = (("base", 2, 20240, 5120), ("control", 2, 18480, 2560))
EPS = 1e-6


def diffusers_steps() -> dict[str, Callable[..., tuple[torch.Tensor, ...]]]:
    """The three steps as diffusers writes them (``FP32LayerNorm``: float32 LayerNorm, cast back)."""
    ln = torch.nn.functional.layer_norm

    def norm1(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return ((ln(x.float(), x.shape[-1:], None, None, EPS) * (1 + scale) + shift).type_as(x),)

    def res_norm2(x: torch.Tensor, y: torch.Tensor, gate: torch.Tensor, w: torch.Tensor,
                  b: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = (x.float() + y * gate).type_as(x)
        return x, ln(x.float(), x.shape[-1:], w.float(), b.float(), EPS).type_as(x)

    def res_norm3(x: torch.Tensor, y: torch.Tensor, scale: torch.Tensor,
                  shift: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = x + y
        return x, (ln(x.float(), x.shape[-1:], None, None, EPS) * (1 + scale) + shift).type_as(x)

    return {"norm1": norm1, "res+norm2": res_norm2, "res+norm3": res_norm3}


def measure(name: str, batch: int, length: int, dim: int, timer: Timer, repeats: int,
            warps: list[int]) -> list[dict[str, object]]:
    device = torch.device("cuda")
    g = torch.Generator(device).manual_seed(0)
    x, y = (torch.randn(batch, length, dim, generator=g, device=device).mul(4).to(torch.bfloat16) for _ in range(2))
    table = torch.randn(batch, 6, dim, generator=g, device=device) * 0.3  # (scale_shift_table + temb).chunk(6)
    shift, scale, gate = table[:, 0:1], table[:, 1:2], table[:, 2:3]
    w = (torch.rand(dim, generator=g, device=device) + 0.5).to(torch.bfloat16)
    b = (torch.randn(dim, generator=g, device=device) * 0.1).to(torch.bfloat16)
    steps = diffusers_steps()
    cases = {  # step: (compiled diffusers call, kernel call with a warp count, bytes moved)
        "norm1": (lambda c: c(x, scale, shift),
                  lambda nw: residual_layernorm_triton(x, None, None, None, None, scale, shift, EPS, nw)[1:], 2),
        "res+norm2": (lambda c: c(x, y, gate, w, b),
                      lambda nw: residual_layernorm_triton(x, y, gate, w, b, None, None, EPS, nw), 4),
        "res+norm3": (lambda c: c(x, y, scale, shift),
                      lambda nw: residual_layernorm_triton(x, y, None, None, None, scale, shift, EPS, nw), 4),
    }
    rows = []
    with torch.no_grad():
        for step, (compiled_call, kernel_call, passes) in cases.items():
            compiled = torch.compile(steps[step])
            reference = compiled_call(compiled)
            variants: list[tuple[str, Callable[[], object]]] = [
                ("torch.compile of diffusers", lambda c=compiled, f=compiled_call: f(c))]
            variants += [(f"triton {nw} warps", lambda nw=nw, f=kernel_call: f(nw)) for nw in warps]
            for variant, fn in variants:
                out = fn()
                ulps = max(float(((o.float() - r.float()).abs() / r.float().abs().clamp(min=1)).max()) / 2**-7
                           for o, r in zip(out, reference, strict=True))
                seconds = time_call(timer, fn, 3, repeats)
                moved = passes * x.numel() * x.element_size()
                rows.append({"shape": name, "step": step, "batch": batch, "tokens": length, "dim": dim,
                             "variant": variant, "ms": round(seconds * 1e3, 3),
                             "tb_per_s": round(moved / seconds / 1e12, 2), "max_diff_bf16_ulps": round(ulps, 2),
                             "device": torch.cuda.get_device_name(), "torch": torch.__version__})
                print("NORMS " + json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--warps", default="4,8,16", help="comma-separated warps per row to sweep")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU (the CPU checks are tests/test_longvie_block_norms.py)")
    timer = Timer(torch.device("cuda"))
    warps = [int(w) for w in args.warps.split(",")]
    rows = [row for shape in SHAPES for row in measure(*shape, timer, args.repeats, warps)]
    print()
    for r in rows:
        print(f"{r['shape']:<8} {r['step']:<10} {r['variant']:<28} {r['ms']:>8.3f} ms {r['tb_per_s']:>6.2f} TB/s "
              f"{r['max_diff_bf16_ulps']:>6.2f} ulps")
    return rows


if __name__ == "__main__":
    main()
