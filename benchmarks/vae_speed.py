"""The Wan VAE's share of a LongVie 2 clip, by dtype and cuDNN setting: real-size VAE, random weights.

Why: a clip's VAE work (five 81-frame encodes at 352x640: the first frame + 80 zeros, the depth and
track videos and their first frames + zeros; the 5-frame history encode; the 81-frame decode) used to be
timed by ``longvie2_speed.py`` in bf16 (about 5 s on an H100) while the pipeline loaded the VAE in float32,
as diffusers' Wan I2V examples do; upstream LongVie 2 (DiffSynth-Studio) runs it in the pipeline dtype,
bf16. This times both dtypes and the switches of ``longvie.vae_runtime`` (the pipeline's own code for
them), plus settings the pipeline does not use, and says how far each variant's latents and frames move
from the plain run of the same dtype (rounding only: the variants do the same arithmetic) and from the
first variant.

Variants are ``+``-joined tokens: ``bf16``, ``fp32`` or ``fp16`` (the VAE's dtype; fp32 convolutions use TF32
tensor cores, PyTorch's default for cuDNN), ``bench`` (``torch.backends.cudnn.benchmark``: cuDNN times
its algorithms once per shape, in the untimed warm-up pass; not used by the pipeline), ``cl`` (channels-last
weights and inputs: NDHWC, the pipeline's ``vae_channels_last``), ``batched`` (the five encodes in one batch,
as the pipeline's ``batched_vae``), ``compile`` (the encoder and the decoder compiled, the pipeline's
``compile_vae``; the warm-up pass compiles). Each variant runs one untimed pass, then ``--repeats`` timed passes; the
fastest is reported. One JSON line per variant.

    python benchmarks/vae_speed.py --variants bf16,bf16+bench,bf16+cl,bf16+cl+bench,fp32,fp32+bench
    python benchmarks/vae_speed.py --smoke
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from longvie.config import DTYPES
from longvie.vae_runtime import VaeRuntime, prepare_vae, vae_calls, vae_input

SWITCHES = ("bench", "cl", "batched", "compile")


@dataclass(frozen=True)
class VaeVariant:
    """One way of running the VAE: its dtype and the switches that may change the kernels."""

    name: str
    dtype: str
    cudnn_benchmark: bool
    channels_last: bool
    batched: bool
    compiled: bool

    @classmethod
    def parse(cls, spec: str) -> VaeVariant:
        tokens = [t for t in spec.split("+") if t]
        dtypes = [t for t in tokens if t in DTYPES]
        unknown = [t for t in tokens if t not in DTYPES and t not in SWITCHES]
        if unknown or len(dtypes) > 1:
            raise SystemExit(f"bad variant {spec!r}: tokens are one of {list(DTYPES)} and any of {list(SWITCHES)}")
        return cls(spec, dtypes[0] if dtypes else "bf16", "bench" in tokens, "cl" in tokens, "batched" in tokens,
                   "compile" in tokens)

    def runtime(self) -> VaeRuntime:
        """The pipeline's switches of this variant."""
        return VaeRuntime(dtype=DTYPES[self.dtype], channels_last=self.channels_last, compiled=self.compiled)


@dataclass(frozen=True)
class ClipVideos:
    """A clip's VAE inputs, (1, 3, T, H, W) in [-1, 1]: the five encodes, the history frames, the latents to decode."""

    encodes: tuple[torch.Tensor, ...]
    history: torch.Tensor
    latents: torch.Tensor


def clip_videos(frames: int, height: int, width: int, device: torch.device) -> ClipVideos:
    g = torch.Generator(device).manual_seed(0)
    video = torch.rand(1, 3, frames, height, width, generator=g, device=device) * 2 - 1
    track = torch.rand(1, 3, frames, height, width, generator=g, device=device) * 2 - 1

    def first_then_zeros(v: torch.Tensor) -> torch.Tensor:
        out = torch.zeros_like(v)
        out[:, :, :1] = v[:, :, :1]
        return out

    latents = torch.randn(1, 16, 1 + (frames - 1) // 4, height // 8, width // 8, generator=g, device=device)
    return ClipVideos(encodes=(first_then_zeros(video), video, first_then_zeros(video), track,
                               first_then_zeros(track)),
                      history=video[:, :, :5].contiguous(), latents=latents)


def run_clip(vae: torch.nn.Module, clip: ClipVideos, variant: VaeVariant,
             sync: Callable[[], None]) -> tuple[float, float, list[torch.Tensor], torch.Tensor]:
    """(encode seconds, decode seconds, the five latents, the decoded frames) of one clip."""
    runtime = variant.runtime()
    groups = [torch.cat(clip.encodes)] if variant.batched else list(clip.encodes)
    with torch.no_grad(), vae_calls(runtime), torch.backends.cudnn.flags(
            enabled=True, benchmark=variant.cudnn_benchmark, deterministic=False, allow_tf32=True):
        sync()
        start = time.perf_counter()
        latents = [vae.encode(vae_input(group, runtime)).latent_dist.mode() for group in groups]
        vae.encode(vae_input(clip.history, runtime)).latent_dist.mode()
        sync()
        encoded = time.perf_counter()
        frames = vae.decode(vae_input(clip.latents, runtime)).sample
        sync()
        decoded = time.perf_counter()
    return encoded - start, decoded - encoded, list(torch.cat(latents).split(1)), frames


def profile_clip(vae: torch.nn.Module, clip: ClipVideos, variant: VaeVariant, path: str) -> None:
    """The clip's 25 costliest GPU kernels under this variant, appended to ``path``."""
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CUDA]) as prof:
        run_clip(vae, clip, variant, torch.cuda.synchronize)
    table = prof.key_averages().table(sort_by="cuda_time_total", row_limit=25, max_name_column_width=90)
    with open(path, "a") as handle:
        handle.write(f"== {variant.name}\n{table}\n")


def relative_difference(ours: list[torch.Tensor], reference: list[torch.Tensor]) -> float:
    """Largest |difference| over the largest |reference|, over all tensors (float32)."""
    diff = max(float((a.float() - b.float()).abs().max()) for a, b in zip(ours, reference, strict=True))
    scale = max(float(b.float().abs().max()) for b in reference)
    return diff / scale if scale else diff


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", default="bf16,bf16+bench,bf16+cl,bf16+cl+bench,fp32,fp32+bench",
                        help="comma-separated variants (see above); the first is the reference for the differences")
    parser.add_argument("--repeats", type=int, default=2, help="timed passes per variant (the fastest is reported)")
    parser.add_argument("--frames", type=int, default=81)
    parser.add_argument("--height", type=int, default=352)
    parser.add_argument("--width", type=int, default=640)
    parser.add_argument("--jsonl-out", default=None, help="append one JSON line per variant here")
    parser.add_argument("--profile", default=None, help="after timing, profile one clip of each variant: its "
                        "costliest kernels are appended to this file")
    parser.add_argument("--smoke", action="store_true",
                        help="a tiny VAE and 9 frames of 32x48 on CPU: checks the script")
    args = parser.parse_args()

    from diffusers import AutoencoderKLWan

    variants = [VaeVariant.parse(spec) for spec in args.variants.split(",")]
    device = torch.device("cpu" if args.smoke else "cuda")
    sync: Callable[[], None] = (lambda: None) if args.smoke else torch.cuda.synchronize
    frames, height, width = (9, 32, 48) if args.smoke else (args.frames, args.height, args.width)
    clip = clip_videos(frames, height, width, device)
    first: list[torch.Tensor] | None = None  # the first variant's outputs
    plain: dict[str, list[torch.Tensor]] = {}  # each dtype's first variant's outputs
    for variant in variants:
        torch.manual_seed(0)  # the same random weights for every variant
        vae = (AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2]) if args.smoke else AutoencoderKLWan())
        vae = vae.to(device).eval()
        prepare_vae(vae, variant.runtime())
        warm = time.perf_counter()
        run_clip(vae, clip, variant, sync)  # warm-up (cuDNN's own timing with bench, compiling with compile)
        warm_s = time.perf_counter() - warm
        timed = [run_clip(vae, clip, variant, sync) for _ in range(max(1, args.repeats))]
        encode_s = min(t[0] for t in timed)
        decode_s = min(t[1] for t in timed)
        outputs = [*timed[0][2], timed[0][3]]
        finite = all(bool(torch.isfinite(t).all()) for t in outputs)
        first = first if first is not None else [t.float() for t in outputs]
        plain.setdefault(variant.dtype, [t.float() for t in outputs])
        row = {**asdict(variant), "device": "cpu (smoke)" if args.smoke else torch.cuda.get_device_name(),
               "torch": torch.__version__, "cudnn": torch.backends.cudnn.version(),
               "warmup_s": round(warm_s, 1), "frames": frames, "height": height, "width": width, "repeats": len(timed),
               "encode_s": round(encode_s, 3), "decode_s": round(decode_s, 3),
               "vae_s_per_clip": round(encode_s + decode_s, 3),
               "encode_s_all": [round(t[0], 3) for t in timed], "decode_s_all": [round(t[1], 3) for t in timed],
               "max_rel_diff_same_dtype": relative_difference(outputs, plain[variant.dtype]),
               "max_rel_diff_vs_first": relative_difference(outputs, first), "finite": finite}
        print("VAE " + json.dumps(row), flush=True)
        if args.jsonl_out:
            with open(args.jsonl_out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
        if args.profile and not args.smoke:
            profile_clip(vae, clip, variant, args.profile)
        del vae
        if not args.smoke:
            torch.cuda.empty_cache()


if __name__ == "__main__":
    main()
