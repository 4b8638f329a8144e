"""Where our VBench dimensions spend their time on a GPU: per-dimension timings of option variants and
the top CUDA kernels of one clip, on one synthetic one-minute 480x832 16 fps video held in memory.

A tool for speed work, not an acceptance figure (that is ``eval_throughput.py``). Weights: the same full-size
random weights ``eval_throughput.py`` stages. Each variant is ``dim:key=value,key=value`` with keys ``batch``
(the evaluator's batch size), ``cudnn_benchmark`` (0/1), ``channels_last`` (0/1, the model's memory format),
``half`` (0/1: fp16 weights, inputs cast, no autocast) and ``compile`` (0/1: torch.compile of the model) and,
for imaging_quality, ``scope`` (whole | parts: what its own compile covers, set on a fresh evaluator before
the model loads) and, for motion_smoothness and dynamic_degree, ``lookup`` (grid_sample | window, and triton
for RAFT: how AMT-S / RAFT read their correlation windows, on a fresh evaluator before the model loads) and
``mode`` (``default`` or a ``torch.compile`` mode such as ``reduce-overhead`` (CUDA graphs) for the
evaluator's own compile, set on a fresh evaluator before its model loads); the default variants are the ones
worth comparing. The profile of each shared evaluator prints its clip's CUDA kernel time next to the clip's
wall time: a kernel time well below the wall time means the GPU waits for the host (launches), which CUDA
graphs remove.

    python3 benchmarks/eval_profile.py --staged /tmp/bench_stage --out prof/
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import click
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "parity"))

import stage_weights
from eval_throughput import DIMENSIONS, _captioned, ensure_staged, synthetic_minute

from evaluators.feed import clip_views, in_memory_sample
from evaluators.vbench.compiling import maybe_compiled
from evaluators.vbench.window_lookup import RAFT_LOOKUP_CHOICES, check_lookup

DEFAULT_VARIANTS = (  # every dimension at its defaults, and RAFT's default Triton lookup against grid_sample
    "dynamic_degree", "dynamic_degree:lookup=grid_sample",
    "motion_smoothness", "subject_consistency", "imaging_quality",
    "aesthetic_quality", "background_consistency", "overall_consistency",
)


class _CastInputs(torch.nn.Module):
    """Runs ``model`` (already cast to ``dtype``) on floating inputs cast to ``dtype``: half weights, no autocast."""

    def __init__(self, model: torch.nn.Module, dtype: torch.dtype) -> None:
        super().__init__()
        self.inner, self.dtype = model, dtype

    def forward(self, *args, **kwargs):
        cast = [a.to(self.dtype) if torch.is_tensor(a) and a.is_floating_point() else a for a in args]
        return self.inner(*cast, **kwargs)


def apply_model_options(evaluator: object, half: bool, compile_model: bool) -> None:
    """``half``: weights in fp16 and autocast off; ``compile_model``: torch.compile of the (wrapped) model.

    After ``channels_last``: ``.half()`` keeps the memory format, and an extra compile wraps the converted model."""
    if not (half or compile_model):
        return
    if hasattr(evaluator, "_load"):
        model = evaluator._load()
        if half:
            model = _CastInputs(model.half(), torch.float16)
            evaluator.precision = "fp32"
        evaluator._model = torch.compile(model) if compile_model else model
    else:
        bundle = evaluator.model()
        visual = bundle.visual
        if half:
            visual = _CastInputs(visual.half(), torch.float16)
            evaluator.precision = "fp32"
        from dataclasses import replace

        evaluator._model = replace(bundle, visual=torch.compile(visual) if compile_model else visual)


def _sync() -> None:
    torch.cuda.synchronize()


LAST_VALUES: list[float] = []  # the clip values of the last timed video (to compare variants' numbers)


def time_video(evaluator: object, frames, sample) -> float:
    _sync()
    start = time.perf_counter()
    scorer = evaluator.begin_video(sample)
    values = [next(iter(scorer.add_clip(view).values()), float("nan"))
              for view in clip_views(sample, frames, device="cuda")]
    scorer.finish()
    _sync()
    LAST_VALUES[:] = values
    return time.perf_counter() - start


@click.command()
@click.option("--staged", type=click.Path(path_type=Path), required=True)
@click.option("--out", type=click.Path(path_type=Path), required=True)
@click.option("--variants", default=";".join(DEFAULT_VARIANTS), show_default=False,
              help="';'-separated dim:key=value,... variants")
@click.option("--seconds", default=60, show_default=True)
@click.option("--profile-top", default=15, show_default=True, help="kernels listed per dimension")
def main(staged: Path, out: Path, variants: str, seconds: int, profile_top: int) -> None:
    out.mkdir(parents=True, exist_ok=True)
    variant_list = [v for v in variants.split(";") if v]
    dims = sorted({v.split(":")[0] for v in variant_list})
    staged = ensure_staged(staged, dims, None)
    vb = staged / stage_weights.VBENCH_DIR
    frames = synthetic_minute(1, seconds * 16, 480, 832)
    sample = _captioned(in_memory_sample("video", *frames.shape[:3]))
    upload = []
    for _ in range(3):
        _sync()
        start = time.perf_counter()
        for view in clip_views(sample, frames):
            torch.from_numpy(view.frames).to("cuda")
        _sync()
        upload.append(time.perf_counter() - start)
    print(f"pageable upload of every clip once: {min(upload):.3f} s/video", flush=True)
    rows = []
    evaluators: dict[str, object] = {}
    for variant in variant_list:
        dim, _, spec = variant.partition(":")
        opts = dict(kv.split("=") for kv in spec.split(",") if kv)
        channels_last = opts.get("channels_last", "0") == "1"
        # any option that changes the model needs a fresh evaluator (its model is loaded, and compiled, once)
        fresh = bool(set(opts) - {"batch", "cudnn_benchmark"})
        evaluator = DIMENSIONS[dim](vb, "cuda", "auto") if fresh else evaluators.setdefault(
            dim, DIMENSIONS[dim](vb, "cuda", "auto"))
        if "scope" in opts:  # imaging_quality's compile_scope, before its model loads (and compiles)
            evaluator.compile_scope = opts["scope"]
        if "lookup" in opts:  # motion_smoothness / dynamic_degree correlation lookup, before the model loads
            evaluator.lookup = check_lookup(opts["lookup"], RAFT_LOOKUP_CHOICES)
        if "mode" in opts:  # torch.compile's mode for the evaluator's own compile, before its model loads
            evaluator.compile_mode = None if opts["mode"] == "default" else opts["mode"]
        if channels_last:  # the weights go channels_last BEFORE any compile (a compiled graph keeps their strides)
            if not hasattr(evaluator, "_load"):
                raise click.UsageError(f"{variant}: channels_last applies to the convolutional (checkpoint) models")
            compiled, evaluator.compiled = evaluator.compiled, False
            eager = evaluator._load().to(memory_format=torch.channels_last)
            evaluator.compiled = compiled
            evaluator._model = maybe_compiled(eager, compiled, dim, evaluator.compile_mode,
                                              getattr(evaluator, "compile_dynamic_batch", False))
        apply_model_options(evaluator, opts.get("half", "0") == "1", opts.get("compile", "0") == "1")
        evaluator.batch_size = int(opts.get("batch", evaluator.batch_size))
        torch.backends.cudnn.benchmark = opts.get("cudnn_benchmark", "0") == "1"
        warm = _captioned(in_memory_sample("warm", 81, 480, 832))
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()
        start = time.perf_counter()
        try:
            time_video(evaluator, frames[:81], warm)
            seconds_per_video = min(time_video(evaluator, frames, sample) for _ in range(2))
        except RuntimeError as exc:  # e.g. a batch too large for a cuDNN kernel: record and go on
            rows.append({"variant": variant, "error": str(exc)[:200]})
            print(json.dumps(rows[-1]), flush=True)
            continue
        rows.append({"variant": variant, "s_per_video": round(seconds_per_video, 3),
                     "setup_s": round(time.perf_counter() - start - 2 * seconds_per_video, 1),
                     "clip_values": [round(v, 6) for v in LAST_VALUES[:4]],
                     "peak_gpu_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)})
        print(json.dumps(rows[-1]), flush=True)
    for dim, evaluator in (evaluators.items() if profile_top > 0 else ()):
        warm = _captioned(in_memory_sample("warm", 81, 480, 832))
        wall = time_video(evaluator, frames[:81], warm)  # unprofiled: the profiler slows the host down
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU,
                                                torch.profiler.ProfilerActivity.CUDA]) as prof:
            time_video(evaluator, frames[:81], warm)
        table = prof.key_averages().table(sort_by="self_cuda_time_total", row_limit=profile_top)
        (out / f"prof_{dim}.txt").write_text(table)
        cuda_total = sum(e.self_device_time_total for e in prof.key_averages()) / 1e6
        print(f"{dim}: one clip, CUDA kernel time {cuda_total:.3f} s, unprofiled wall time {wall:.3f} s", flush=True)
    (out / "variants.json").write_text(json.dumps(rows, indent=1))
    print(f"{'variant':70s} {'s/video':>8s}")
    for row in rows:
        print(f"{row['variant']:70s} {row.get('s_per_video', float('nan')):8.3f}")


if __name__ == "__main__":
    main()
