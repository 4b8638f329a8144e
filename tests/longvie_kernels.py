"""Shared checks for LongVie 2's Triton kernels and custom ops (``longvie.qk_rope``, ``longvie.block_norms``).

Each kernel module has a plain-torch reference used on CPU; these helpers count how often the model
calls it, prove a custom op stays one opaque node under ``torch.compile``, run a kernel under Triton's
CPU interpreter (in a subprocess: ``TRITON_INTERPRET`` is read when a kernel is built), and compile a
kernel for an H100 (sm_90) on a machine without one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent


def count_calls(monkeypatch: pytest.MonkeyPatch, module: Any, name: str) -> list[int]:
    """Wrap ``module.name`` so each call appends to the returned list (the original still runs)."""
    calls: list[int] = []
    original = getattr(module, name)

    def counting(*args: Any, **kwargs: Any) -> Any:
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, name, counting)
    return calls


def compiled_graph_calls(fn: Callable[..., Any], args: tuple, op_name: str) -> Any:
    """Run ``fn(*args)`` under ``torch.compile(fullgraph=True)``; assert the traced graph holds ``op_name`` as a
    node (the op was not traced into); return the outputs."""
    graphs: list[torch.fx.GraphModule] = []

    def backend(gm: torch.fx.GraphModule, example_inputs: list) -> Callable[..., Any]:
        graphs.append(gm)
        return gm.forward

    out = torch.compile(fn, backend=backend, fullgraph=True)(*args)
    assert [n for n in graphs[0].graph.nodes if op_name in str(n.target)], graphs[0].graph
    return out


def run_interpreted(script: str, cases: list) -> list:
    """Run ``script`` (it reads ``json.loads(sys.argv[1])`` and prints one JSON line) under Triton's CPU
    interpreter; return the parsed last line."""
    pytest.importorskip("triton")
    env = {**os.environ, "TRITON_INTERPRET": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", script, json.dumps(cases)], capture_output=True, text=True,
                          env=env, cwd=ROOT, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def compile_for_sm90(kernel: Any, signature: dict[str, str], constexprs: dict[str, Any], num_warps: int = 8) -> Any:
    """Compile a Triton kernel for an H100 without one (the interpreter skips the compiler's checks);
    skips the test where ptxas cannot assemble for sm_90."""
    triton = pytest.importorskip("triton")
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    source = ASTSource(fn=kernel, signature=signature, constexprs=constexprs)
    try:
        return triton.compile(source, target=GPUTarget("cuda", 90, 32), options={"num_warps": num_warps})
    except RuntimeError as exc:
        if "ptxas" in str(exc):
            pytest.skip(f"Triton cannot assemble for sm_90 here: {exc}")
        raise


def check_model_switch(monkeypatch: pytest.MonkeyPatch, module: Any, reference_name: str, switch: str,
                       calls_per_block: int) -> None:
    """A tiny LongVie 2 model's ``switch`` (e.g. ``set_fused_qk_rope``) covers every block, calls the module's CPU
    reference ``calls_per_block`` times per block, keeps the output to 1e-5, and switching off restores it exactly."""
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    from longvie.config import TINY_CONFIG

    calls = count_calls(monkeypatch, module, reference_name)
    model = tiny_transformer()
    inputs = tiny_forward_inputs()
    set_switch = getattr(model, switch)
    with torch.no_grad():
        reference = model(**inputs)
        blocks = TINY_CONFIG.num_layers + 2 * TINY_CONFIG.control_layers
        assert set_switch(True) == blocks
        switched = model(**inputs)
        assert len(calls) == calls_per_block * blocks
        assert set_switch(False) == 0
        assert torch.equal(model(**inputs), reference)
    assert torch.allclose(switched, reference, atol=1e-5), (switched - reference).abs().max()
