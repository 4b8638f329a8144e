"""Is cuBLAS's first choice the fastest kernel for LongVie 2's big GEMMs? Layouts, cuBLASLt's other
algorithms (autotuned through nvmath-python), and a residual add folded into the GEMM.

Why: after FA4, fused QK-norm/RoPE and the GELU epilogue, a LongVie 2 step is about half matmuls
(``benchmarks/longvie2_gemms.py``): the 5120 x 5120 projections run at about 810 TFLOP/s on an H100,
the FFN up/down projections (13,824 wide) at 725/749. ``F.linear`` takes cuBLASLt's first heuristic
answer. This script times, for each big shape of a step:

- ``torch TN``: ``F.linear`` (or ``torch._addmm_activation`` for the GELU epilogue), weights (out, in);
- ``torch NN``: the same with the weight stored transposed, (in, out) contiguous: a different problem
  to cuBLAS's heuristics;
- ``nvmath first``/``nvmath best``: cuBLASLt through nvmath-python with the same epilogue, its first
  heuristic algorithm and the fastest of up to ``--limit`` algorithms after ``Matmul.autotune``;
- ``residual``: ``x + (a @ w.T + b)`` as two kernels (what the blocks do now) against one cuBLASLt call
  with C = x, beta = 1 and the bias epilogue (nvmath), and against ``x.addmm_(a, w.T)`` (cuBLAS
  beta = 1, no bias);
- ``inductor``: ``torch.compile(mode="max-autotune-no-cudagraphs")`` of the linear (it times Triton
  templates against cuBLAS and keeps the faster; its table goes to the log).

Every variant's output is compared with ``torch TN``'s (max |diff|); a variant that cannot run records
its error instead of a time.

    python benchmarks/gemm_algorithms.py --jsonl-out algos.jsonl
    python benchmarks/gemm_algorithms.py --cpu-smoke      # tiny shapes on CPU, torch variants only
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.attention_kernels import Timer
from benchmarks.longvie2_gemms import LinearShape, linear_inputs, step_linears, time_call
from longvie.config import REAL_CONFIG, TINY_CONFIG

#: A timed call: no arguments, one tensor out.
Call = Callable[[], torch.Tensor]


@dataclass(frozen=True)
class GemmCase:
    """One of a step's linear shapes (``longvie2_gemms.step_linears``) under a short label; ``gelu`` for an FFN
    up-projection, whose GELU runs in the GEMM's epilogue."""

    name: str
    shape: LinearShape
    gelu: bool


def cases(cpu_smoke: bool) -> list[GemmCase]:
    cfg = TINY_CONFIG if cpu_smoke else REAL_CONFIG
    base_tokens, control_tokens = (48, 40) if cpu_smoke else (23 * 22 * 40, 21 * 22 * 40)
    shapes = {shape.name: shape for shape in step_linears(cfg, base_tokens, control_tokens)}
    return [
        GemmCase("base proj", shapes["base q/k/v/o + cross q/o"], False),
        GemmCase("base ffn up+gelu", shapes["base ffn up"], True),
        GemmCase("base ffn down", shapes["base ffn down"], False),
        GemmCase("control ffn up+gelu", shapes["control ffn up"], True),
        GemmCase("control ffn down", shapes["control ffn down"], False),
    ]


def torch_variants(case: GemmCase, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor,
                   ) -> list[tuple[str, Call]]:
    wt = w.t().contiguous()
    if case.gelu and x.is_cuda:
        return [("torch TN", lambda: torch._addmm_activation(b, x, w.t(), use_gelu=True)),
                ("torch NN", lambda: torch._addmm_activation(b, x, wt, use_gelu=True))]
    if case.gelu:  # CPU: _addmm_activation's GELU is the exact one; the smoke run only checks the script
        return [("torch TN", lambda: F.gelu(F.linear(x, w, b), approximate="tanh")),
                ("torch NN", lambda: F.gelu(torch.addmm(b, x, wt), approximate="tanh"))]
    return [("torch TN", lambda: F.linear(x, w, b)), ("torch NN", lambda: torch.addmm(b, x, wt))]


def transposed_operands(x: torch.Tensor, w: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """cuBLASLt's bias runs along M, so the features must be M: compute (x @ w.T).T = w @ x.T with both
    operands column-major (w stored (in, out)); the column-major (out, rows) result, transposed, is the
    row-major (rows, out) output."""
    return w.t().contiguous().t(), x.t()


def nvmath_variants(case: GemmCase, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, limit: int,
                    iterations: int, log: Callable[[str], None]) -> list[tuple[str, Call]]:
    """cuBLASLt's first heuristic algorithm and its autotuned best, with the bias (+GELU) epilogue."""
    from nvmath.linalg.advanced import Matmul, MatmulEpilog, MatmulPlanPreferences

    epilog = MatmulEpilog.GELU_BIAS if case.gelu else MatmulEpilog.BIAS
    a, b_op = transposed_operands(x, w)
    mm = Matmul(a, b_op)
    mm.plan(preferences=MatmulPlanPreferences(limit=limit), epilog=epilog, epilog_inputs={"bias": b})
    first = mm.algorithms[0]
    variants: list[tuple[str, Call]] = [
        ("nvmath first", lambda: mm.execute(algorithm=first).t())]
    mm.autotune(iterations=iterations)
    log(f"{case.name}: {len(mm.algorithms)} algorithms after autotune; best id "
        f"{mm.algorithms[0].algorithm_id}, first heuristic id {first.algorithm_id}")
    best = mm.algorithms[0]
    variants.append(("nvmath best", lambda: mm.execute(algorithm=best).t()))
    return variants


def residual_variants(case: GemmCase, x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, use_nvmath: bool,
                      limit: int, iterations: int) -> list[tuple[str, Call, Call]]:
    """(name, timed call, result getter): residual + linear as two kernels, as cuBLASLt C + bias, as addmm_."""
    g = torch.Generator(device=x.device).manual_seed(1)
    shape = case.shape
    resid = torch.randn(shape.rows, shape.out_features, generator=g, device=x.device, dtype=torch.float32).to(x.dtype)
    work = resid.clone()
    out: dict[str, torch.Tensor] = {}

    def two_kernels() -> torch.Tensor:
        out["two"] = resid + F.linear(x, w, b)
        return out["two"]

    def inplace() -> torch.Tensor:
        work.copy_(resid)  # timed separately below and subtracted
        return work.addmm_(x, w.t())

    variants = [("residual: linear + add", two_kernels, lambda: out["two"]),
                ("residual: addmm_ beta=1 (no bias, copy subtracted)", inplace, lambda: work + b)]
    if use_nvmath:
        try:
            lt = _residual_lt(x, w, b, resid, out, limit, iterations)
        except Exception as exc:  # the caller records the error as the variant's row
            lt = _raiser(exc)
        variants.append(("residual: cuBLASLt C + bias (nvmath best)", lt, lambda: out["lt"]))
    return variants


def _raiser(exc: Exception) -> Call:
    def call() -> torch.Tensor:
        raise exc
    return call


def _residual_lt(x: torch.Tensor, w: torch.Tensor, b: torch.Tensor, resid: torch.Tensor, out: dict[str, torch.Tensor],
                 limit: int, iterations: int) -> Call:
    """One cuBLASLt call: resid + x @ w.T + b (C = resid, beta = 1, bias epilogue), autotuned."""
    from nvmath.linalg.advanced import Matmul, MatmulEpilog, MatmulPlanPreferences

    a, b_op = transposed_operands(x, w)
    mm = Matmul(a, b_op, c=resid.t(), beta=1.0)
    mm.plan(preferences=MatmulPlanPreferences(limit=limit), epilog=MatmulEpilog.BIAS, epilog_inputs={"bias": b})
    mm.autotune(iterations=iterations)
    best = mm.algorithms[0]

    def lt() -> torch.Tensor:
        out["lt"] = mm.execute(algorithm=best).t()
        return out["lt"]
    return lt


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--limit", type=int, default=16, help="cuBLASLt algorithms nvmath autotunes over")
    parser.add_argument("--iterations", type=int, default=5, help="nvmath autotune iterations per algorithm")
    parser.add_argument("--no-nvmath", action="store_true")
    parser.add_argument("--no-inductor", action="store_true")
    parser.add_argument("--jsonl-out", default=None)
    parser.add_argument("--cpu-smoke", action="store_true", help="tiny shapes on CPU, torch variants only")
    args = parser.parse_args(argv)
    if args.cpu_smoke:
        device, dtype = torch.device("cpu"), torch.float32
        use_nvmath, use_inductor = False, False
    else:
        if not torch.cuda.is_available():
            parser.error("needs a CUDA GPU (use --cpu-smoke to check the script on CPU)")
        device, dtype = torch.device("cuda"), torch.bfloat16
        use_nvmath, use_inductor = not args.no_nvmath, not args.no_inductor
    timer = Timer(device)
    context = {"device": "cpu (smoke)" if args.cpu_smoke else torch.cuda.get_device_name(), "torch": torch.__version__}
    rows: list[dict[str, Any]] = []

    def record(case: GemmCase, variant: str, fn: Call, reference: torch.Tensor,
               result: Call | None = None, subtract_s: float = 0.0) -> None:
        shape = case.shape
        row: dict[str, Any] = {"case": case.name, "variant": variant, "rows": shape.rows, "n_in": shape.in_features,
                               "n_out": shape.out_features, **context}
        try:
            seconds = time_call(timer, fn, args.warmup, args.repeats) - subtract_s
            value = (result or fn)()
            row.update(ms=round(seconds * 1e3, 4), tflops=round(case.shape.flop() / seconds / 1e12, 1),
                       max_abs_diff=float((value.float() - reference).abs().max()))
        except Exception as exc:  # a benchmark row records why a variant could not run
            row["error"] = f"{type(exc).__name__}: {exc}"[:300]
        rows.append(row)
        print("ALGO " + json.dumps(row), flush=True)

    for case in cases(args.cpu_smoke):
        x, w, b = linear_inputs(case.shape.rows, case.shape.in_features, case.shape.out_features, device, dtype)
        variants = torch_variants(case, x, w, b)
        reference = variants[0][1]().float()
        for name, fn in variants:
            record(case, name, fn, reference)
        if use_nvmath:
            try:
                for name, fn in nvmath_variants(case, x, w, b, args.limit, args.iterations, print):
                    record(case, name, fn, reference)
            except Exception as exc:
                record(case, "nvmath", _raiser(exc), reference)
        if use_inductor and not case.gelu:
            compiled = torch.compile(lambda x, w, b: F.linear(x, w, b), mode="max-autotune-no-cudagraphs")
            record(case, "inductor max-autotune", lambda c=compiled, x=x, w=w, b=b: c(x, w, b), reference)
        if not case.gelu and case.name.startswith("base"):
            residual = residual_variants(case, x, w, b, use_nvmath, args.limit, args.iterations)
            reference = (residual[0][1]()).float()
            probe = torch.empty(case.shape.rows, case.shape.out_features, device=device, dtype=dtype)
            copy_s = time_call(timer, lambda p=probe, r=reference: p.copy_(r), args.warmup, args.repeats)
            for name, fn, result in residual:
                record(case, name, fn, reference, result, copy_s if "addmm_" in name else 0.0)
        del x, w, b
    if args.jsonl_out:
        with open(args.jsonl_out, "a") as handle:
            handle.writelines(json.dumps(row) + "\n" for row in rows)
    print(f"\n{context['device']}, torch {context['torch']}, {args.repeats} timed repeats")
    for r in rows:
        timing = (f"{r['ms']:>9.3f} ms {r['tflops']:>7.1f} TFLOP/s  diff {r['max_abs_diff']:.3g}" if "ms" in r
                  else r["error"])
        print(f"{r['case']:<22} {r['variant']:<46} {timing}")
    return rows


if __name__ == "__main__":
    main()
