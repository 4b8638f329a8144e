"""LongVie 2's GPU speed switches against the plain path, on one CUDA GPU, in bf16: same numbers up to rounding?

Why: the switches the pipeline turns on by default on CUDA (FA4 with its tuned tile, the FFN's GELU in
cuBLASLt's epilogue, the fused query/key RMSNorm + RoPE, the fused block norms, the cross-attention cache,
the in-place control injection, the blocks' handoff of their last residual, batched guidance on one stream of
latents) and
``torch.compile`` change which kernels run, so they may change rounding but nothing else. CPU tests
cover their plain-torch paths; this runs the kernels themselves. A small transformer with the real
head size (128) and random weights (Wan-like scales) runs one forward with history and both control
branches, first plainly (SDPA, diffusers' modules, eager), then with each switch alone and all together;
it prints each output's largest difference from the plain one, relative to the output's largest magnitude,
next to the difference between two plain bf16 runs with SDPA's math and flash backends (what rounding alone
moves). Exit status 1 if a switched output is not finite or differs by more than ``--tolerance``.

    python benchmarks/longvie2_kernels_check.py
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from longvie.config import LongVie2Config
from longvie.fa4 import TUNED_SM90_PLAN, fa4_available
from longvie.model import LongVie2Transformer
from longvie.pipeline import attention_backend
from longvie.quack_gelu import quack_gelu_available

#: Real head size and control/base ratio, few layers: the kernels see LongVie 2's head layout.
CONFIG = LongVie2Config(num_layers=3, num_heads=4, head_dim=128, ffn_dim=1024, text_dim=64, freq_dim=256,
                        image_dim=64, control_layers=2, control_heads=2, control_ffn_dim=512)


def build(device: torch.device) -> LongVie2Transformer:
    torch.manual_seed(0)
    model = LongVie2Transformer(CONFIG).to(device)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.ndim >= 2:
                p.normal_(0.0, 0.02)
            elif "norm" in name:
                p.normal_(1.0, 0.1)
            else:
                p.normal_(0.0, 0.02)  # biases and the zero-initialised fusion: non-zero so the branches count
    return model.to(torch.bfloat16).eval()


def inputs(device: torch.device) -> dict[str, torch.Tensor]:
    g = torch.Generator(device).manual_seed(1)
    frames, h, w = 5, 16, 24

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, device=device).to(torch.bfloat16)

    def twice(tensor: torch.Tensor) -> torch.Tensor:  # as in guidance: one clip, two texts
        return torch.cat([tensor, tensor])

    return {"latents": twice(r(1, 16, frames, h, w)), "timestep": torch.full((2,), 996.0, device=device),
            "text_embeds": r(2, 512, CONFIG.text_dim), "image_embeds": twice(r(1, 257, CONFIG.image_dim)),
            "image_condition": twice(r(1, 20, frames, h, w)), "dense": twice(r(1, 36, frames, h, w)),
            "sparse": twice(r(1, 36, frames, h, w)), "history": twice(r(1, 16, 2, h, w))}


def run(model: LongVie2Transformer, batch: dict[str, torch.Tensor], attention: str, gelu: bool, qk_rope: bool,
        norms: bool = False, cross_cache: bool = False, broadcast: bool = False,
        gelu_backend: str = "cublaslt", handoff: bool = True) -> torch.Tensor:
    model.set_gelu_epilogue(gelu, gelu_backend)
    model.set_fused_qk_rope(qk_rope)
    model.set_fused_block_norms(norms)
    model.set_fused_handoff(handoff)
    tiles = TUNED_SM90_PLAN if attention == "fa4" else None
    with torch.no_grad(), attention_backend(attention, tiles):
        cache = model.cross_attention_cache(batch["text_embeds"], batch["image_embeds"]) if cross_cache else None
        if broadcast:  # everything but the text once (longvie.broadcast)
            batch = {k: v if k == "text_embeds" else v[:1] for k, v in batch.items()}
        return model(**batch, cross_cache=cache).float()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tolerance", type=float, default=0.05,
                        help="largest allowed difference from the plain output, relative to its largest magnitude")
    parser.add_argument("--no-compile", action="store_true")
    args = parser.parse_args(argv)
    if not torch.cuda.is_available():
        parser.error("needs a CUDA GPU")
    device = torch.device("cuda")
    model, batch = build(device), inputs(device)
    plain = run(model, batch, "flash", False, False)
    scale = float(plain.abs().max())
    rows = [{"variant": "SDPA math (rounding alone)", "output": run(model, batch, "math", False, False)}]
    attention = "fa4" if fa4_available() else "flash"
    rows += [{"variant": "GELU epilogue", "output": run(model, batch, "flash", True, False)}]
    if quack_gelu_available(device):
        rows.append({"variant": "GELU epilogue through quack",
                     "output": run(model, batch, "flash", True, False, gelu_backend="quack")})
    rows += [
             {"variant": "fused QK-norm + RoPE", "output": run(model, batch, "flash", False, True)},
             {"variant": "fused block norms, no handoff",
              "output": run(model, batch, "flash", False, False, True, handoff=False)},
             {"variant": "fused block norms + handoff (residual and injection in the next block's kernel, "
                         "last block on the clip's rows)", "output": run(model, batch, "flash", False, False, True)},
             {"variant": "fused block norms + handoff + QK-norm/RoPE (the last block's queries from the clip's rows)",
              "output": run(model, batch, "flash", False, True, True)},
             {"variant": "cross-attention cache", "output": run(model, batch, "flash", False, False, False, True)},
             {"variant": "broadcast guidance", "output": run(model, batch, "flash", False, False, broadcast=True)},
             {"variant": f"{attention} (tuned tile)" if attention == "fa4" else "fa4 unavailable: flash",
              "output": run(model, batch, attention, False, False)},
             {"variant": f"all: {attention} + GELU epilogue + QK-norm/RoPE + block norms + cross cache + broadcast",
              "output": run(model, batch, attention, True, True, True, True, True)}]
    if not args.no_compile:
        model.compile_blocks()
        rows.append({"variant": "all + torch.compile",
                     "output": run(model, batch, attention, True, True, True, True, True)})
        if quack_gelu_available(device):
            rows.append({"variant": "all + torch.compile, GELU through quack",
                         "output": run(model, batch, attention, True, True, True, True, True, "quack")})
    failed = False
    for row in rows:
        out = row.pop("output")
        finite = bool(torch.isfinite(out).all())
        row.update({"finite": finite, "max_diff_relative": round(float((out - plain).abs().max()) / scale, 5),
                    "device": torch.cuda.get_device_name(), "torch": torch.__version__})
        failed |= not finite or (row["variant"] != rows[0]["variant"] and row["max_diff_relative"] > args.tolerance)
        print("CHECK " + json.dumps(row), flush=True)
    print("FAILED" if failed else "OK: every switch within tolerance of the plain output")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
