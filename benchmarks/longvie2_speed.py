"""LongVie 2 speed and memory on one GPU: real-size transformer with random bf16 weights.

The numbers the model produces do not matter here, the time does: one 81-frame clip at
352x640 is 21 latent frames of 44x80 (18,480 tokens) plus 2 history latent frames (1,760
tokens), 50 Euler steps with CFG (batched into one forward of batch 2 unless --no-batched-cfg),
the dense and sparse control branches in both passes. The VAE (real size, random weights)
encodes every clip input (first frame + 80 zeros, depth and track videos, their first frames, in
one by one as the pipeline does by default, or in one batch with --vae-batched as its ``batched_vae``;
5 history frames) and
decodes the 81 frames, as the pipeline runs it (``longvie.vae_runtime``): bf16 (``--vae-dtype``), channels-last,
compiled with ``--compile``; one untimed pass first (``vae_warmup_s``). The text and CLIP encoders are not timed (once
per clip, well under a second on the GPU); say so when quoting.

Modes: ``none`` (everything resident), ``group`` (diffusers' leaf-level group offloading with
CUDA streams: weights live in pinned CPU memory and are prefetched; for GPUs of 48 GB).
``--measure-steps N`` times N steps and extrapolates to ``--steps``; the output says so. The clip's once-per-clip
work inside the sampler (its cross-attention caches) is timed apart and counted once, not per step.

Speed switches (``--attention``, ``--fa4-tile``, ``--gelu-epilogue``, ``--fused-qk-rope``, ``--fused-norms``,
``--cross-cache``, ``--broadcast-guidance``, ``--compile``, ``--no-handoff``,
``--compile-mode``, ``--fuse-qkv``) can be compared in one process with ``--variants`` (one model build):
each variant is ``+``-joined tokens among ``auto | cudnn | flash | efficient`` (SDPA backend) or ``fa4``
(FlashAttention-4, ``longvie.fa4``; Hopper/Blackwell with flash-attn-4 installed; a variant whose
backend cannot run prints an error row), ``tile=PLAN`` (FA4's self-attention tiles, ``longvie.fa4.Fa4TilePlan``,
parts joined by ``/``, e.g. ``tile=40=192x128:nors/20=128x176`` or ``tile=auto``),
``gelu`` (FFN up-projection + GELU as one cuBLASLt call, ``longvie.fused``), ``qkrope`` (self-attention's
query/key RMSNorm + RoPE as one Triton kernel, ``longvie.qk_rope``), ``norms`` (each block's LayerNorms with
their residual adds and modulation as Triton kernels, ``longvie.block_norms``), ``handoff`` (with ``norms``: each
base block's last residual and the control injection added by the next block's first kernel, the last block on the
clip's rows only, ``LongVie2Transformer.set_fused_handoff``), ``kvcache`` (cross-attention
keys and values once per clip, ``longvie.cross_cache``), ``bcast`` (batched guidance on one stream of
latents, the first blocks' self-attention once, ``longvie.broadcast``), ``fuse`` (diffusers' fused
QKV / KV projections), ``compile`` (torch.compile of every transformer block, ``--compile-mode``); put
compiled variants last (compiling cannot be undone; switching ``gelu``, ``qkrope``, ``norms`` or the tiles
recompiles).
One JSON line per variant is printed and appended to ``--jsonl-out``.

Example:
    python benchmarks/longvie2_speed.py --mode none --json-out speed.json
    python benchmarks/longvie2_speed.py --mode group --measure-steps 3
    python benchmarks/longvie2_speed.py --skip-vae --measure-steps 3 \
        --variants auto,cudnn,flash,cudnn+fuse,cudnn+compile --jsonl-out variants.jsonl
    python benchmarks/longvie2_speed.py --skip-vae --measure-steps 3 --variants cudnn,fa4,cudnn+compile,fa4+compile
    python benchmarks/longvie2_speed.py --skip-vae --measure-steps 3 \
        --variants fa4+compile,fa4+compile+gelu,fa4+compile+gelu+tile=128x176
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.longvie2_step_timing import profile_step, time_steps
from longvgenbench.errors import OptionError
from longvie.config import DTYPES, GELU_BACKENDS, REAL_CONFIG, TINY_CONFIG, LongVie2Config, SamplerConfig
from longvie.fa4 import Fa4TilePlan
from longvie.model import LongVie2Transformer
from longvie.pipeline import ATTENTION_BACKENDS
from longvie.sampler import Conditioning
from longvie.vae_runtime import VaeRuntime, prepare_vae, vae_calls, vae_input


def transformer_flops(cfg: LongVie2Config, frames: int, height: int, width: int, history_frames: int,
                      context_tokens: int = 769) -> float:
    """FLOPs (2 x multiply-adds) of one forward of batch 1: linear layers and attention matmuls."""
    hw = (height // cfg.patch_size[1]) * (width // cfg.patch_size[2])
    n_cur, n_all = frames * hw, (frames + history_frames) * hw

    def block(n: int, dim: int, ffn: int) -> float:
        self_attn = 4 * n * dim * dim + 2 * n * n * dim  # q, k, v, o + QK^T and AV
        cross = 2 * n * dim * dim + 2 * context_tokens * dim * dim + 2 * n * context_tokens * dim  # q, o; k, v
        ffn_macs = 2 * n * dim * ffn
        return 2.0 * (self_attn + cross + ffn_macs)  # context_tokens includes the image tokens

    total = cfg.num_layers * block(n_all, cfg.dim, cfg.ffn_dim)
    total += 2 * cfg.control_layers * block(n_cur, cfg.control_dim, cfg.control_ffn_dim)
    total += 2.0 * n_all * cfg.in_channels * 4 * cfg.dim  # patch embedding
    total += 2.0 * 2 * n_cur * cfg.in_channels * 4 * cfg.dim  # dense + sparse patch embedding
    total += 2.0 * (2 * n_cur * cfg.dim * cfg.control_dim + cfg.control_layers * n_cur * cfg.control_dim * cfg.dim)
    return total


def random_model(device: torch.device, cfg: LongVie2Config) -> LongVie2Transformer:
    from diffusers.models.transformers.transformer_wan import WanRotaryPosEmbed

    with torch.device("meta"):
        model = LongVie2Transformer(cfg)
    model = model.to_empty(device=device).to(torch.bfloat16)
    generator = torch.Generator(device).manual_seed(0)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("bias"):
                p.zero_()
            elif p.ndim == 1:
                p.fill_(1.0)
            else:
                p.normal_(0.0, 0.02, generator=generator)
    model.base.rope = WanRotaryPosEmbed(cfg.head_dim, cfg.patch_size, cfg.rope_max_seq_len).to(device)
    return model.eval()


def random_conditioning(cfg: LongVie2Config, sampler: SamplerConfig, device: torch.device) -> Conditioning:
    f, h, w = 1 + (sampler.num_frames - 1) // 4, sampler.height // 8, sampler.width // 8
    g = torch.Generator(device).manual_seed(1)

    def r(*shape: int) -> torch.Tensor:
        return torch.randn(*shape, generator=g, device=device, dtype=torch.bfloat16)

    return Conditioning(text=r(1, 512, cfg.text_dim), negative_text=r(1, 512, cfg.text_dim),
                        image_embeds=r(1, 257, cfg.image_dim), image_condition=r(1, 20, f, h, w),
                        dense=r(1, 36, f, h, w), sparse=r(1, 36, f, h, w), history=r(1, 16, 2, h, w))


def time_vae(sampler: SamplerConfig, device: torch.device, tiling: bool, batched: bool,
             runtime: VaeRuntime) -> dict[str, Any]:
    """VAE seconds of one clip, run as the pipeline runs it (``runtime``: dtype, channels-last, compiled): its five
    81-frame encodes (in one batch when ``batched``, as the pipeline's ``batched_vae``), the history encode, and the
    decode. One untimed pass first (cuDNN's first calls; compiling), reported apart as ``vae_warmup_s``: a long
    video pays it once, not per clip. Then two timed passes; the second is the figure, both are listed."""
    from diffusers import AutoencoderKLWan

    vae = AutoencoderKLWan().to(device).eval()
    prepare_vae(vae, runtime)
    if tiling:
        vae.enable_tiling()
    h, w, t = sampler.height, sampler.width, sampler.num_frames
    x = torch.rand(1, 3, t, h, w, device=device) * 2 - 1
    first = torch.zeros_like(x)
    first[:, :, :1] = x[:, :, :1]
    clip_videos = (first, x, first, x, first)  # first frame + zeros, depth, its first frame, track, its first frame
    groups = [torch.cat(clip_videos)] if batched else list(clip_videos)
    latents = torch.randn(1, 16, 1 + (t - 1) // 4, h // 8, w // 8, device=device)

    def one_clip() -> tuple[float, float]:
        torch.cuda.synchronize()
        start = time.perf_counter()
        with torch.no_grad(), vae_calls(runtime):
            for video in (*groups, x[:, :, :5]):
                vae.encode(vae_input(video, runtime)).latent_dist.mode()
            torch.cuda.synchronize()
            mid = time.perf_counter()
            vae.decode(vae_input(latents, runtime)).sample.float().mean().item()
        torch.cuda.synchronize()
        return mid - start, time.perf_counter() - mid

    warm = time.perf_counter()
    one_clip()
    warmup_s = time.perf_counter() - warm
    passes = [one_clip() for _ in range(2)]  # two, so that a recompile in the first shows (the second is reported)
    return {"vae_encode_s": round(passes[-1][0], 2), "vae_decode_s": round(passes[-1][1], 2),
            "vae_warmup_s": round(warmup_s, 1), "vae_encode_s_passes": [round(e, 2) for e, _ in passes],
            "vae_decode_s_passes": [round(d, 2) for _, d in passes]}


def set_fused_projections(model: LongVie2Transformer, fused: bool) -> None:
    """diffusers' fused QKV (self-attention) and KV (cross-attention, text and image) projections."""
    for block in model.transformer_blocks():
        for attn in (block.attn1, block.attn2):
            attn.fuse_projections() if fused else attn.unfuse_projections()


def quack_configs(backend: str) -> dict[str, object]:
    """The quack tiles the FFN up-projections ran with (for the JSON), when quack ran them."""
    if backend != "quack":
        return {}
    from longvie.quack_gelu import chosen_configs

    return {"quack_gelu_configs": chosen_configs()}


def parse_variant(spec: str) -> dict[str, object]:
    tokens = [t for t in spec.split("+") if t]
    attention = [t for t in tokens if t in ATTENTION_BACKENDS]
    tiles = [t.removeprefix("tile=") for t in tokens if t.startswith("tile=")]
    switches = ("fuse", "compile", "gelu", "qgelu", "qkrope", "norms", "handoff", "kvcache", "bcast")
    unknown = [t for t in tokens if t not in ATTENTION_BACKENDS and t not in switches and not t.startswith("tile=")]
    if unknown or len(attention) > 1 or len(tiles) > 1:
        raise SystemExit(f"bad variant {spec!r}: tokens are {list(ATTENTION_BACKENDS)}, tile=PLAN, gelu, qgelu "
                         "(gelu through quack), qkrope, norms, handoff (with norms), kvcache, bcast, fuse, compile "
                         "(one backend, one tile)")
    if "handoff" in tokens and "norms" not in tokens:
        raise SystemExit(f"bad variant {spec!r}: handoff needs norms")
    try:
        tile = Fa4TilePlan.parse(tiles[0]) if tiles else Fa4TilePlan()
    except ValueError as exc:
        raise SystemExit(f"bad variant {spec!r}: {exc}") from exc
    backend = attention[0] if attention else "auto"
    if tile != Fa4TilePlan() and backend != "fa4":
        raise SystemExit(f"bad variant {spec!r}: tile= needs fa4")
    return {"name": spec, "attention": backend, "fa4_tile": tile,
            "gelu_epilogue": "gelu" in tokens or "qgelu" in tokens,
            "gelu_backend": "quack" if "qgelu" in tokens else "cublaslt", "fused_qk_rope": "qkrope" in tokens,
            "fused_norms": "norms" in tokens, "fused_handoff": "handoff" in tokens,
            "cross_cache": "kvcache" in tokens, "broadcast_guidance": "bcast" in tokens, "fuse": "fuse" in tokens,
            "compile": "compile" in tokens}


def run_variants(args: argparse.Namespace, model: LongVie2Transformer, noise: torch.Tensor, cond: Conditioning,
                 flops_step: float, sync: object, smoke: bool) -> None:
    compiled = False
    for spec in args.variants.split(","):
        variant = parse_variant(spec)
        if compiled and not variant["compile"]:
            raise SystemExit("put compiled variants last: compiling cannot be undone")
        set_fused_projections(model, bool(variant["fuse"]))
        model.set_gelu_epilogue(bool(variant["gelu_epilogue"]), str(variant["gelu_backend"]))
        model.set_fused_qk_rope(bool(variant["fused_qk_rope"]))
        model.set_fused_block_norms(bool(variant["fused_norms"]))
        model.set_fused_handoff(bool(variant["fused_handoff"]))
        model.set_cross_attention_cache(bool(variant["cross_cache"]))
        model.set_broadcast_guidance(bool(variant["broadcast_guidance"]))
        if variant["compile"] and not compiled:
            model.compile_blocks(args.compile_mode)
            compiled = True
        if not smoke:
            torch.cuda.reset_peak_memory_stats()
        measured = args.measure_steps or args.steps
        try:
            timing = time_steps(model, noise, cond, measured, not args.no_batched_cfg,
                                                str(variant["attention"]), sync, variant["fa4_tile"])
        except (RuntimeError, OptionError) as exc:  # e.g. no cuDNN kernel for these shapes; fa4 not installed
            row = {**variant, "error": str(exc).splitlines()[0][:300]}
        else:
            per_step = timing.per_step()
            row = {**variant, "compile_mode": args.compile_mode if variant["compile"] else None,
                   "device": "cpu (smoke)" if smoke else torch.cuda.get_device_name(), "torch": torch.__version__,
                   "measured_steps": measured, "warmup_s": round(timing.warmup_seconds, 1),
                   "per_clip_setup_s": round(timing.setup_seconds, 3), "seconds_per_step": round(per_step, 3),
                   "step_min_s": round(min(timing.step_seconds), 3),
                   "step_max_s": round(max(timing.step_seconds), 3),
                   "projected_dit_seconds_per_clip": round(timing.projected_dit_seconds(args.steps), 1),
                   "achieved_tflops": round(flops_step / per_step / 1e12, 1),
                   "peak_gpu_memory_gib": 0.0 if smoke else round(torch.cuda.max_memory_allocated() / 2**30, 2),
                   **quack_configs(str(variant["gelu_backend"])), **timing.per_step_record()}
        row["fa4_tile"] = str(row["fa4_tile"]).replace(",", "/")  # the plan as a variant token writes it
        print("VARIANT " + json.dumps(row), flush=True)
        if args.jsonl_out:
            with open(args.jsonl_out, "a") as handle:
                handle.write(json.dumps(row) + "\n")
    set_fused_projections(model, False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=["none", "group"], default="none")
    parser.add_argument("--steps", type=int, default=50)
    parser.add_argument("--measure-steps", type=int, default=None, help="time this many steps and extrapolate")
    parser.add_argument("--no-batched-cfg", action="store_true")
    parser.add_argument("--compile", action="store_true", help="torch.compile every transformer block")
    parser.add_argument("--compile-mode", default=None,
                        help="torch.compile mode (default, max-autotune-no-cudagraphs, ...)")
    parser.add_argument("--attention", choices=list(ATTENTION_BACKENDS), default="auto",
                        help="SDPA backend (torch.nn.attention.sdpa_kernel); auto lets PyTorch choose; "
                             "fa4: FlashAttention-4 (longvie.fa4)")
    parser.add_argument("--fa4-tile", default="default", help="FA4's self-attention tiles with --attention fa4 "
                        "(longvie.fa4.Fa4TilePlan): MxN[:rs|:nors][:ol|:nool] for all, 40=192x128:nors,20=128x176 by "
                        "head count, auto (the pipeline's default: measured best on Hopper); default: FA4's own")
    parser.add_argument("--gelu-epilogue", action="store_true",
                        help="FFN up-projection + GELU as one cuBLASLt call (longvie.fused; the pipeline's default)")
    parser.add_argument("--gelu-backend", choices=GELU_BACKENDS, default="cublaslt",
                        help="with --gelu-epilogue: whose GEMM runs it, cuBLASLt's epilogue or quack's CuTe-DSL GEMM "
                             "(longvie.quack_gelu; Hopper only, tiles pinned for LongVie 2's FFN shapes)")
    parser.add_argument("--fused-qk-rope", action="store_true",
                        help="self-attention's query/key RMSNorm + RoPE as one Triton kernel (longvie.qk_rope; the "
                             "pipeline's default)")
    parser.add_argument("--fused-norms", action="store_true",
                        help="each block's LayerNorms with their residual adds and modulation as Triton kernels "
                             "(longvie.block_norms; the pipeline's default)")
    parser.add_argument("--no-handoff", action="store_true",
                        help="with --fused-norms: no handoff between blocks (set_fused_handoff(False)). With it, the "
                             "last block's skipped history rows stay in the FLOP count (TFLOP/s counts them as done)")
    parser.add_argument("--broadcast-guidance", action="store_true",
                        help="batched guidance as one stream of latents with two texts: everything before the first "
                             "cross-attention once (longvie.broadcast; the pipeline's default). The FLOP count "
                             "stays the model's, so TFLOP/s counts the skipped work as done")
    parser.add_argument("--cross-cache", action="store_true",
                        help="cross-attention keys and values once per clip (longvie.cross_cache; the pipeline's "
                             "default)")
    parser.add_argument("--fuse-qkv", action="store_true", help="diffusers' fused QKV/KV attention projections")
    parser.add_argument("--variants", default=None,
                        help="compare variants in one process, e.g. auto,cudnn,flash,cudnn+fuse,cudnn+compile")
    parser.add_argument("--jsonl-out", default=None, help="append one JSON line per variant here")
    parser.add_argument("--vae-tiling", action="store_true")
    parser.add_argument("--skip-vae", action="store_true")
    parser.add_argument("--vae-batched", action="store_true",
                        help="encode a clip's five 81-frame videos in one batch (the pipeline's batched_vae=true)")
    parser.add_argument("--vae-compare", action="store_true",
                        help="also time the encodes the other way (batched / one by one) and report both")
    parser.add_argument("--vae-dtype", choices=list(DTYPES), default="bf16",
                        help="the VAE's dtype (the pipeline's vae_dtype; its default for bf16 runs is bf16)")
    parser.add_argument("--no-vae-channels-last", action="store_true",
                        help="the VAE in NCDHW (the pipeline's vae_channels_last=false)")
    parser.add_argument("--no-compile-vae", action="store_true",
                        help="with --compile, leave the VAE uncompiled (the pipeline's compile_vae=false)")
    parser.add_argument("--json-out", default=None)
    parser.add_argument("--smoke", action="store_true", help="tiny config on CPU: checks the script only")
    parser.add_argument("--profile-out", default=None,
                        help="after timing, profile one more step: top kernels to this file, seconds per kernel "
                             "group (attention, matmul, fused elementwise, other) into the JSON")
    args = parser.parse_args()

    smoke = args.smoke
    device = torch.device("cpu" if smoke else "cuda")
    cfg = TINY_CONFIG if smoke else REAL_CONFIG
    sampler = SamplerConfig(steps=args.steps, height=32 if smoke else 352, width=48 if smoke else 640,
                            num_frames=9 if smoke else 81)
    sync = (lambda: None) if smoke else torch.cuda.synchronize
    if not smoke:
        torch.cuda.reset_peak_memory_stats()
    built = time.perf_counter()
    model = random_model(device, cfg)
    if args.mode == "group":
        from diffusers.hooks import apply_group_offloading

        model.to("cpu")
        torch.cuda.empty_cache()
        apply_group_offloading(model, onload_device=device, offload_device=torch.device("cpu"),
                               offload_type="leaf_level", use_stream=True)
    build_s = time.perf_counter() - built
    cond = random_conditioning(cfg, sampler, device)
    f, h, w = cond.image_condition.shape[2:]
    noise = torch.randn(1, 16, f, h, w, device=device)
    flops_step = 2 * transformer_flops(cfg, f, h, w, history_frames=2)  # CFG: two passes
    if args.variants:
        print(f"model built in {build_s:.1f} s", flush=True)
        run_variants(args, model, noise, cond, flops_step, sync, smoke)
        return
    try:
        tile = Fa4TilePlan.parse(args.fa4_tile)
    except ValueError as exc:
        parser.error(str(exc))
    if args.fuse_qkv:
        set_fused_projections(model, True)
    model.set_gelu_epilogue(args.gelu_epilogue, args.gelu_backend)
    model.set_fused_qk_rope(args.fused_qk_rope)
    model.set_fused_block_norms(args.fused_norms)
    model.set_fused_handoff(not args.no_handoff)
    model.set_cross_attention_cache(args.cross_cache)
    model.set_broadcast_guidance(args.broadcast_guidance)
    if args.compile:
        model.compile_blocks(args.compile_mode)

    measured = args.measure_steps or args.steps
    if not smoke:
        torch.cuda.reset_peak_memory_stats()
    timing = time_steps(model, noise, cond, measured, not args.no_batched_cfg,
                                               args.attention, sync, tile)
    per_step = timing.per_step()
    dit_s = timing.projected_dit_seconds(args.steps)
    peak_dit_gib = 0.0 if smoke else torch.cuda.max_memory_allocated() / 2**30

    kernel_groups = {} if not args.profile_out or smoke else {"profiled_step_kernel_seconds": profile_step(
        model, noise, cond, not args.no_batched_cfg, args.attention, args.profile_out, tile)}
    vae_runtime = VaeRuntime(dtype=DTYPES[args.vae_dtype], channels_last=not args.no_vae_channels_last,
                             compiled=args.compile and not args.no_compile_vae)
    vae: dict[str, Any] = {} if args.skip_vae or smoke else time_vae(sampler, device, args.vae_tiling,
                                                                       args.vae_batched, vae_runtime)
    if vae and args.vae_compare:  # the other way too, same process, after the first
        other = time_vae(sampler, device, args.vae_tiling, not args.vae_batched, vae_runtime)
        vae["vae_encode_s_" + ("one_by_one" if args.vae_batched else "batched")] = other["vae_encode_s"]
    clip_s = dit_s + vae.get("vae_encode_s", 0.0) + vae.get("vae_decode_s", 0.0)  # warm-ups not counted
    result = {
        "device": "cpu (smoke)" if smoke else torch.cuda.get_device_name(), "torch": torch.__version__,
        "mode": args.mode, "batched_cfg": not args.no_batched_cfg, "compile": args.compile,
        "compile_mode": args.compile_mode,
        "attention": args.attention, "fa4_tile": str(tile), "gelu_epilogue": args.gelu_epilogue,
        "gelu_backend": args.gelu_backend, **quack_configs(args.gelu_backend),
        "fused_qk_rope": args.fused_qk_rope, "fused_norms": args.fused_norms, "cross_cache": args.cross_cache,
        "broadcast_guidance": args.broadcast_guidance, "fused_handoff": args.fused_norms and not args.no_handoff,
        "fuse_qkv": args.fuse_qkv, "steps": args.steps, "vae_dtype": args.vae_dtype,
        "vae_encodes": "a clip's five 81-frame videos in one batch" if args.vae_batched else "one by one",
        "vae_channels_last": vae_runtime.channels_last, "compile_vae": vae_runtime.compiled,
        "measured_steps": measured, "extrapolated": measured != args.steps,
        "build_s": round(build_s, 1), "per_clip_setup_s": round(timing.setup_seconds, 3),
        "seconds_per_step": round(per_step, 3),
        "step_min_s": round(min(timing.step_seconds), 3), "step_max_s": round(max(timing.step_seconds), 3),
        "dit_seconds_per_clip": round(dit_s, 1), **vae, "seconds_per_clip": round(clip_s, 1),
        "peak_gpu_memory_gib_dit": round(peak_dit_gib, 2),
        "peak_gpu_memory_gib": 0.0 if smoke else round(torch.cuda.max_memory_allocated() / 2**30, 2),
        "pflop_per_step": round(flops_step / 1e15, 3),
        "achieved_tflops": round(flops_step / per_step / 1e12, 1),
        "not_timed": "umT5 text encoder and CLIP image encoder (once per clip)", **kernel_groups,
        **timing.per_step_record(),
    }
    print(json.dumps(result, indent=1))
    if args.json_out:
        with open(args.json_out, "w") as handle:
            json.dump(result, handle, indent=1)


if __name__ == "__main__":
    main()
