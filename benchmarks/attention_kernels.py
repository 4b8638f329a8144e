"""Forward attention kernels at LongVie 2's shapes on one CUDA GPU (bf16): SDPA backends vs FlashAttention-4.

Why: attention is about 42% of a LongVie 2 step (``benchmarks/longvie2_speed.py``); this times the
kernels alone, in the layout diffusers' Wan processor hands over: q, k, v contiguous (B, L, H, D),
given to SDPA as (B, H, L, D) views (as diffusers' native backend does) and to FA4 as they are.

Shapes (batch 2 = CFG batched): ``self`` B=2 L=20240 H=40 D=128 (18,480 clip + 1,760 history
tokens); ``control_self`` B=2 L=18480 H=20 D=128 (the half-width control branches);
``cross`` Lq=20240 Lk=769 H=40 (text 512 + image 257 keys in one call); the Wan processor actually
makes two cross calls, ``cross_text`` Lk=512 and ``cross_image`` Lk=257, timed too.
``control_self_pair`` is both control branches' self-attention in one call (batch 4).
Backends: SDPA ``cudnn``, ``flash``, ``efficient`` (``torch.nn.attention.sdpa_kernel``; a backend that
raises for a shape is reported and skipped) and ``fa4`` (``longvie.fa4``'s op, when FA4 can run here).
``fa4:MxN[:rs|:nors][:ol|:nool]`` is FA4 with an explicit forward tile (M query x N key rows) and
optionally its P@V-from-registers and intra-warpgroup-overlap flags (``longvie.fa4.Fa4Tile``), e.g.
``fa4:128x176``. Each: warm-up calls (FA4 JIT-compiles its kernel on the first one; the first call's time
is reported), then ``--repeats`` timed calls between CUDA events. TFLOP/s counts 4*B*H*Lq*Lk*D per call.
``max_abs_diff`` compares the output with the first backend that worked (cudnn by default). One bf16 GEMM line
((2*20240) x 5120 @ 5120 x 13824, the FFN up-projection) gives the matmul rate for scale.

    python benchmarks/attention_kernels.py --jsonl-out attention.jsonl
    python benchmarks/attention_kernels.py --backends cudnn,fa4 --shapes self --repeats 50
    python benchmarks/attention_kernels.py --backends cudnn,fa4,fa4:128x176,fa4:192x128:nors --shapes self
    python benchmarks/attention_kernels.py --cpu-smoke        # tiny shapes, math backend, CPU: checks the script
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # longvie.fa4 without installing the package


@dataclass(frozen=True)
class AttentionShape:
    """One attention call: batch, query/key lengths, heads, head size."""

    name: str
    batch: int
    q_len: int
    kv_len: int
    heads: int
    head_dim: int

    def flop(self) -> float:
        return 4.0 * self.batch * self.heads * self.q_len * self.kv_len * self.head_dim


LONGVIE2_SHAPES = (
    AttentionShape("self", 2, 20240, 20240, 40, 128),
    AttentionShape("control_self", 2, 18480, 18480, 20, 128),
    AttentionShape("control_self_pair", 4, 18480, 18480, 20, 128),  # dense + sparse branches in one call
    AttentionShape("cross", 2, 20240, 769, 40, 128),
    AttentionShape("cross_text", 2, 20240, 512, 40, 128),
    AttentionShape("cross_image", 2, 20240, 257, 40, 128),
    AttentionShape("control_cross_text", 2, 18480, 512, 20, 128),
    AttentionShape("control_cross_image", 2, 18480, 257, 20, 128),
)
SMOKE_SHAPES = (AttentionShape("self", 2, 64, 64, 2, 16), AttentionShape("cross", 2, 64, 24, 2, 16))
SDPA_BACKENDS = ("cudnn", "flash", "efficient", "math")
#: (M, K, N) of the reference GEMM: both CFG passes' tokens through the FFN up-projection.
GEMM_MNK = (2 * 20240, 5120, 13824)
SMOKE_GEMM_MNK = (128, 32, 64)


def sdpa_call(backend: str) -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """(B, L, H, D) in and out, SDPA pinned to one backend on (B, H, L, D) views, as diffusers calls it."""
    from torch.nn.attention import SDPBackend, sdpa_kernel

    kernel = {"cudnn": SDPBackend.CUDNN_ATTENTION, "flash": SDPBackend.FLASH_ATTENTION,
              "efficient": SDPBackend.EFFICIENT_ATTENTION, "math": SDPBackend.MATH}[backend]

    def call(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        with sdpa_kernel(kernel):
            out = torch.nn.functional.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2),
                                                                   v.transpose(1, 2))
        return out.transpose(1, 2)

    return call


def fa4_call(spec: str = "fa4") -> Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]:
    """FA4 through the same custom op LongVie 2 uses (raises FlashAttention4Unavailable where it cannot run);
    ``fa4:...`` specs pin its forward tile (``longvie.fa4.Fa4Tile.parse``)."""
    from longvie.fa4 import Fa4Tile, require_fa4

    require_fa4()
    tile = Fa4Tile.parse(spec.removeprefix("fa4").removeprefix(":")) if spec != "fa4" else Fa4Tile()
    return lambda q, k, v: torch.ops.longvie.fa4_attention(q, k, v, None, *tile.op_args())


class Timer:
    """Wall time of a callable: CUDA events on a GPU, perf_counter on CPU (smoke only)."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def seconds(self, fn: Callable[[], object], repeats: int) -> float:
        """Mean seconds per call over ``repeats`` back-to-back calls."""
        if self.cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            for _ in range(repeats):
                fn()
            end.record()
            end.synchronize()
            return start.elapsed_time(end) / 1000.0 / repeats
        begin = time.perf_counter()
        for _ in range(repeats):
            fn()
        return (time.perf_counter() - begin) / repeats


def random_qkv(shape: AttentionShape, device: torch.device, dtype: torch.dtype,
               seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v contiguous in (B, L, H, D); RMS-normalised-like scale so softmax is not degenerate."""
    g = torch.Generator(device=device).manual_seed(seed)

    def make(length: int) -> torch.Tensor:
        return torch.randn(shape.batch, length, shape.heads, shape.head_dim, generator=g, device=device,
                           dtype=torch.float32).to(dtype)

    return make(shape.q_len), make(shape.kv_len), make(shape.kv_len)


def measure_shape(shape: AttentionShape, backends: list[str], timer: Timer, device: torch.device,
                  dtype: torch.dtype, warmup: int, repeats: int) -> list[dict[str, object]]:
    """One row per backend for one shape (an error row where the backend cannot run it)."""
    q, k, v = random_qkv(shape, device, dtype)
    reference: torch.Tensor | None = None
    reference_name = None
    rows: list[dict[str, object]] = []
    for backend in backends:
        row: dict[str, object] = {"kind": "attention", "backend": backend, **asdict(shape)}
        try:
            call = fa4_call(backend) if backend.startswith("fa4") else sdpa_call(backend)
            timer.sync()
            first = time.perf_counter()
            out = call(q, k, v)
            timer.sync()
            row["first_call_s"] = round(time.perf_counter() - first, 3)
            for _ in range(max(warmup - 1, 0)):
                out = call(q, k, v)
            timer.sync()
            seconds = timer.seconds(lambda call=call: call(q, k, v), repeats)
        except Exception as exc:  # no kernel for this shape/GPU, FA4 not installed: record and go on
            row["error"] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:240] if str(exc) else ''}"
            rows.append(row)
            continue
        if reference is None:
            reference, reference_name = out.detach().float(), backend
        row.update({"ms": round(seconds * 1e3, 3), "tflops": round(shape.flop() / seconds / 1e12, 1),
                    "repeats": repeats, "reference": reference_name,
                    "max_abs_diff": float((out.float() - reference).abs().max())})
        rows.append(row)
        del out
    return rows


def measure_gemm(mnk: tuple[int, int, int], timer: Timer, device: torch.device, dtype: torch.dtype,
                 warmup: int, repeats: int) -> dict[str, object]:
    """The bf16 matmul rate at a LongVie 2 FFN shape, for scale."""
    m, k, n = mnk
    a = torch.randn(m, k, device=device).to(dtype)
    b = torch.randn(k, n, device=device).to(dtype)
    for _ in range(warmup):
        a @ b
    timer.sync()
    seconds = timer.seconds(lambda: a @ b, repeats)
    return {"kind": "gemm", "backend": "torch.matmul", "name": f"gemm_{m}x{k}x{n}", "m": m, "k": k, "n": n,
            "ms": round(seconds * 1e3, 3), "tflops": round(2.0 * m * k * n / seconds / 1e12, 1), "repeats": repeats}


def format_table(rows: list[dict[str, object]]) -> str:
    lines = [f"{'shape':<18} {'backend':<18} {'ms':>10} {'TFLOP/s':>9} {'max|diff|':>10} {'first call s':>13}"]
    for row in rows:
        if "error" in row:
            lines.append(f"{row['name']!s:<18} {row['backend']!s:<18} error: {row['error']}")
            continue
        diff = f"{row['max_abs_diff']:.2e}" if "max_abs_diff" in row else "-"
        first = f"{row['first_call_s']:.3f}" if "first_call_s" in row else "-"
        lines.append(f"{row['name']!s:<18} {row['backend']!s:<18} {row['ms']:>10.3f} {row['tflops']:>9.1f} "
                     f"{diff:>10} {first:>13}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> list[dict[str, object]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backends", default="cudnn,flash,efficient,fa4",
                        help=f"comma-separated among {', '.join(SDPA_BACKENDS)}, fa4; the first that works is the "
                             "reference for max_abs_diff")
    parser.add_argument("--shapes", default=None, help="comma-separated shape names (default: all)")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--jsonl-out", default=None, help="append one JSON line per row here")
    parser.add_argument("--cpu-smoke", action="store_true",
                        help="tiny shapes on CPU with the math backend (checks the script, times nothing useful)")
    args = parser.parse_args(argv)

    backends = [b for b in args.backends.split(",") if b]
    unknown = [b for b in backends if b not in (*SDPA_BACKENDS, "fa4") and not b.startswith("fa4:")]
    if unknown:
        parser.error(f"unknown backends {unknown}; choose among {', '.join(SDPA_BACKENDS)}, fa4")
    if args.cpu_smoke:
        device, dtype, shapes, mnk = torch.device("cpu"), torch.float32, SMOKE_SHAPES, SMOKE_GEMM_MNK
        backends = ["math", *(b for b in backends if b.startswith("fa4"))]  # fa4 shows its unavailable error row
    else:
        if not torch.cuda.is_available():
            parser.error("needs a CUDA GPU (use --cpu-smoke to check the script on CPU)")
        device, dtype, shapes, mnk = torch.device("cuda"), torch.bfloat16, LONGVIE2_SHAPES, GEMM_MNK
    if args.shapes:
        wanted = args.shapes.split(",")
        missing = [w for w in wanted if w not in {s.name for s in shapes}]
        if missing:
            parser.error(f"unknown shapes {missing}; choose among {[s.name for s in shapes]}")
        shapes = tuple(s for s in shapes if s.name in wanted)

    timer = Timer(device)
    context = {"device": "cpu (smoke)" if args.cpu_smoke else torch.cuda.get_device_name(),
               "torch": torch.__version__, "dtype": str(dtype).removeprefix("torch.")}
    rows: list[dict[str, object]] = []
    for shape in shapes:
        for row in measure_shape(shape, backends, timer, device, dtype, args.warmup, args.repeats):
            rows.append({**row, **context})
            print("ATTN " + json.dumps(rows[-1]), flush=True)
    rows.append({**measure_gemm(mnk, timer, device, dtype, args.warmup, args.repeats), **context})
    print("ATTN " + json.dumps(rows[-1]), flush=True)
    if args.jsonl_out:
        with open(args.jsonl_out, "a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"\n{context['device']}, torch {context['torch']}, {context['dtype']}, {args.repeats} timed repeats")
    print(format_table([r for r in rows if r["kind"] == "attention"]))
    gemm = rows[-1]
    print(f"reference GEMM {gemm['name']}: {gemm['ms']:.3f} ms, {gemm['tflops']:.1f} TFLOP/s")
    return rows


if __name__ == "__main__":
    main()
