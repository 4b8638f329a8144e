"""Wan self-attention's query/key RMSNorm + RoPE on one CUDA GPU: ``longvie.qk_rope``'s Triton kernel against
``torch.compile`` of diffusers' own code (what the compiled LongVie 2 blocks ran before), at LongVie 2's shapes.

Prints ms per call, the achieved memory rate (query and key read once and written once) and the largest
difference from diffusers' compiled path in bf16 ulps (relative to max(|x|, 1)).

    python benchmarks/qk_rope_kernel.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attention_kernels import Timer
from benchmarks.longvie2_gemms import time_call
from longvie.qk_rope import qk_norm_rope_triton

#: (name, batch, tokens, heads): both CFG passes; base (history + clip tokens) and a control branch.
SHAPES = (("base", 2, 20240, 40), ("control", 2, 18480, 20))


def diffusers_path(heads: int, eps: float) -> torch.nn.Module:
    """norm_q / norm_k and Wan's rotary embedding exactly as diffusers' WanAttnProcessor runs them."""
    from diffusers.models.transformers import transformer_wan

    attn = transformer_wan.WanAttention(dim=heads * 128, heads=heads, dim_head=128, eps=eps)

    class Path(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.norm_q, self.norm_k = attn.norm_q, attn.norm_k

        def forward(self, q: torch.Tensor, k: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor):
            def rope(x: torch.Tensor) -> torch.Tensor:
                x1, x2 = x.unflatten(-1, (-1, 2)).unbind(-1)
                out = torch.empty_like(x)
                out[..., 0::2] = x1 * cos[..., 0::2] - x2 * sin[..., 1::2]
                out[..., 1::2] = x1 * sin[..., 1::2] + x2 * cos[..., 0::2]
                return out.type_as(x)

            return (rope(self.norm_q(q).unflatten(2, (heads, -1))), rope(self.norm_k(k).unflatten(2, (heads, -1))))

    return Path()


def measure(name: str, batch: int, length: int, heads: int, timer: Timer, repeats: int) -> list[dict[str, object]]:
    device = torch.device("cuda")
    g = torch.Generator(device).manual_seed(0)
    q, k = (torch.randn(batch, length, heads * 128, generator=g, device=device).mul(4).to(torch.bfloat16)
            for _ in range(2))
    angles = torch.rand(1, length, 1, 128, generator=g, device=device) * 6
    cos, sin = angles.cos(), angles.sin()
    path = diffusers_path(heads, 1e-6).to(device, torch.bfloat16)
    rows = []
    with torch.no_grad():
        path.norm_q.weight.normal_(1.0, 0.1, generator=g)
        path.norm_k.weight.normal_(1.0, 0.1, generator=g)
        compiled = torch.compile(path)
        variants = (("torch.compile of diffusers", lambda: compiled(q, k, cos, sin)),
                    ("triton", lambda: qk_norm_rope_triton(q, k, path.norm_q.weight, path.norm_k.weight, 1e-6,
                                                           cos, sin, heads)))
        ref, out = variants[0][1](), variants[1][1]()
        ulps = max(float(((o.float() - r.float()).abs() / r.float().abs().clamp(min=1)).max()) / 2**-7
                   for o, r in zip(out, ref, strict=True))
        for variant, fn in variants:
            seconds = time_call(timer, fn, 3, repeats)
            moved = 4 * q.numel() * q.element_size()
            rows.append({"shape": name, "batch": batch, "tokens": length, "heads": heads, "variant": variant,
                         "ms": round(seconds * 1e3, 3), "tb_per_s": round(moved / seconds / 1e12, 2),
                         "max_diff_bf16_ulps": round(ulps, 2) if variant == "triton" else 0.0,
                         "device": torch.cuda.get_device_name(), "torch": torch.__version__})
            print("QKROPE " + json.dumps(rows[-1]), flush=True)
    return rows


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU (the CPU checks are tests/test_longvie_qk_rope.py)")
    timer = Timer(torch.device("cuda"))
    return [row for shape in SHAPES for row in measure(*shape, timer, args.repeats)]


if __name__ == "__main__":
    main()
