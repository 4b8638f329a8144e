"""RAFT's Triton correlation lookup computes exactly the window arithmetic, and plugs into the pair runner.

The kernel itself runs under Triton's CPU interpreter (``TRITON_INTERPRET=1``, in a subprocess, since the
variable is read when the kernel is built); on CPU the op runs the plain-torch reference, so the runner's
numbers with ``lookup="triton"`` equal those with ``lookup="window"`` there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torchvision.models.optical_flow import raft_large

from evaluators.vbench import raft_pairs, triton_lookup
from evaluators.vbench.dynamic import TOP_FRACTION, DynamicDegreeEvaluator
from evaluators.vbench.smoothness import MotionSmoothnessEvaluator
from longvgenbench.errors import OptionError

ROOT = Path(__file__).resolve().parent.parent

_INTERPRETED = """
import json, sys, torch
from evaluators.vbench import triton_lookup
cases = json.loads(sys.argv[1])
errors = []
for seed, (batch, height, width, levels, radius, dtype) in enumerate(cases):
    g = torch.Generator().manual_seed(seed)
    maps, h, w = [], height, width
    for _ in range(levels):
        maps.append(torch.randn(batch * height * width, 1, h, w, generator=g).to(getattr(torch, dtype)))
        h, w = max(1, h // 2), max(1, w // 2)
    coords = torch.rand(batch, 2, height, width, generator=g) * (width + 2 * radius + 6) - (radius + 3)
    coords[0, :, 0, 0] = torch.tensor([1e7, 2.0])      # far outside: zeros
    coords[0, :, 0, -1] = torch.tensor([-3.0, -1e7])
    coords[-1, :, -1, 0] = torch.tensor([1.0, 2.0])    # exact integers
    reference = triton_lookup.window_features_reference(maps, coords, radius)
    kernel = triton_lookup.window_features_triton(maps, coords, radius)
    errors.append([list(kernel.shape) == list(reference.shape), float((kernel - reference).abs().max())])
print(json.dumps(errors))
"""


def test_kernel_equals_the_window_arithmetic_under_the_interpreter() -> None:
    pytest.importorskip("triton")
    cases = [(2, 3, 5, 3, 4, "float32"), (1, 6, 4, 4, 3, "bfloat16"), (3, 2, 2, 2, 4, "float16"),
             (1, 9, 11, 4, 4, "float32")]  # 99 queries: two blocks, the second partly masked
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", _INTERPRETED, json.dumps(cases)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads(done.stdout.strip().splitlines()[-1])
    assert all(same_shape for same_shape, _ in results)
    assert max(error for _, error in results) == 0.0


def test_op_is_opaque_to_compile_and_has_the_output_shape() -> None:
    levels = [torch.randn(2 * 12, 1, 3, 4), torch.randn(2 * 12, 1, 1, 2)]
    coords = torch.rand(2, 2, 3, 4) * 4
    graphs = []

    def backend(gm, example_inputs):
        graphs.append(gm)
        return gm.forward

    compiled = torch.compile(lambda lv, c: triton_lookup.window_features(lv, c, 3), backend=backend, fullgraph=True)
    out = compiled(levels, coords)
    assert out.shape == (2, 2 * 49, 3, 4) and out.dtype == torch.float32
    assert torch.equal(out, triton_lookup.window_features_reference(levels, coords, 3))
    calls = [n for n in graphs[0].graph.nodes if n.op == "call_function" and "window_features" in str(n.target)]
    assert len(calls) == 1


def test_raft_runner_with_the_triton_lookup_equals_the_window_lookup_on_cpu() -> None:
    torch.manual_seed(0)
    raft = raft_large(weights=None, progress=False).eval()
    generator = torch.Generator().manual_seed(1)
    base = torch.rand(1, 3, 128, 148, generator=generator) * 2 - 1
    frames = torch.cat([base[..., 3 * k : 3 * k + 136] for k in range(3)])
    with torch.inference_mode():
        window = raft_pairs.ConsecutivePairFlow(raft, 3, TOP_FRACTION, lookup="window").final_flows(frames)
        triton = raft_pairs.ConsecutivePairFlow(raft, 3, TOP_FRACTION, lookup="triton").final_flows(frames)
    assert torch.equal(window, triton)


def test_triton_is_a_raft_choice_only() -> None:
    assert DynamicDegreeEvaluator(verify_weights=False, lookup="triton").protocol()["correlation_lookup"] == "triton"
    with pytest.raises(OptionError, match="lookup must be one of"):
        MotionSmoothnessEvaluator(lookup="triton")


def test_the_kernel_compiles_for_an_h100_without_one():
    """Triton's CPU interpreter skips the compiler's checks (a non-constexpr ``static_range`` bound passed there and
    failed on the first GPU): compile the kernel to an sm_90 cubin here, with the launcher's argument kinds."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    signature = {"volume": "*fp16", "coords": "*fp32", "out": "*fp32", "queries": "i32", "map_height": "i32",
                 "map_width": "i32", "scale": "fp32", "channel_offset": "i32", "out_channels": "i32",
                 "RADIUS": "constexpr", "SIDE": "constexpr", "ROWS": "constexpr", "BLOCK": "constexpr",
                 "COLS": "constexpr"}
    constants = {"RADIUS": 4, "SIDE": 9, "ROWS": 10, "BLOCK": triton_lookup.BLOCK_QUERIES, "COLS": 16}
    source = ASTSource(fn=triton_lookup._kernel(), signature=signature, constexprs=constants)
    try:
        compiled = triton.compile(source, target=GPUTarget("cuda", 90, 32))
    except RuntimeError as exc:  # no ptxas in this Triton build: nothing to check against
        if "ptxas" in str(exc):
            pytest.skip(f"Triton cannot assemble for sm_90 here: {exc}")
        raise
    assert compiled.asm["cubin"]


def test_auto_lookup_is_the_kernel_on_cuda_in_the_fast_precision_only():
    assert DynamicDegreeEvaluator(verify_weights=False).lookup == "grid_sample"  # CPU: exactly torchvision's reads
    assert DynamicDegreeEvaluator("cuda", verify_weights=False).lookup == "triton"
    assert DynamicDegreeEvaluator("cuda", "fp32", verify_weights=False).lookup == "grid_sample"  # parity runs
    assert DynamicDegreeEvaluator("cuda", verify_weights=False, lookup="window").lookup == "window"
