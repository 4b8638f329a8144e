"""The compile option of the VBench evaluators: when it applies, and that a compiler failure loses nothing."""

from __future__ import annotations

import logging

import pytest
import torch

from evaluators.vbench import compiling
from longvgenbench.errors import OptionError


def test_auto_compiles_on_cuda_outside_fp32_only():
    assert compiling.resolve_compile("auto", "cuda", "auto") is True
    assert compiling.resolve_compile("auto", "cuda:1", "fp16") is True
    assert compiling.resolve_compile("auto", "cuda", "fp32") is False  # parity runs stay eager
    assert compiling.resolve_compile("auto", "cpu", "auto") is False
    assert compiling.resolve_compile("on", "cpu", "fp32") is True
    assert compiling.resolve_compile("off", "cuda", "fp16") is False
    assert compiling.resolve_compile(False, "cuda", "fp16") is False
    with pytest.raises(OptionError, match="compile must be one of"):
        compiling.resolve_compile("yes", "cuda", "auto")


def test_a_compiler_failure_falls_back_to_eager_once_with_a_warning(monkeypatch, caplog):
    calls = []

    def broken_compile(module, **options):
        assert options == {"dynamic": False, "mode": None}  # one static graph per input shape
        def run(*args, **kwargs):
            calls.append(1)
            raise RuntimeError("inductor exploded\nlong trace")
        return run

    monkeypatch.setattr(torch, "compile", broken_compile)
    linear = torch.nn.Linear(3, 2)
    wrapped = compiling.maybe_compiled(linear, True, "test_model")
    x = torch.randn(4, 3)
    with caplog.at_level(logging.WARNING):
        first = wrapped(x)
        second = wrapped(x)
    torch.testing.assert_close(first, linear(x))
    torch.testing.assert_close(second, linear(x))
    assert len(calls) == 1  # the compiled path is not retried
    assert wrapped.failed == "RuntimeError: inductor exploded"
    assert sum("torch.compile of test_model failed" in r.message for r in caplog.records) == 1
    assert [name for name, _ in wrapped.named_parameters()] == ["eager.weight", "eager.bias"]


def test_a_genuine_input_error_is_not_hidden(monkeypatch):
    monkeypatch.setattr(torch, "compile", lambda module, **options: module)
    wrapped = compiling.maybe_compiled(torch.nn.Linear(3, 2), True, "test_model")
    with pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        wrapped(torch.randn(4, 5))


def test_disabled_returns_the_module_itself():
    linear = torch.nn.Linear(3, 2)
    assert compiling.maybe_compiled(linear, False, "x") is linear


def test_evaluators_record_whether_they_compile():
    from evaluators.vbench.dynamic import DynamicDegreeEvaluator
    from evaluators.vbench.subject import SubjectConsistencyEvaluator

    assert DynamicDegreeEvaluator(verify_weights=False).protocol()["compiled"] is False
    assert DynamicDegreeEvaluator(verify_weights=False, compile="on").protocol()["compiled"] is True
    assert SubjectConsistencyEvaluator().protocol()["compiled"] is False


def test_cuda_graph_mode_marks_a_step_per_call_and_hands_out_copies(monkeypatch):
    """Under ``reduce-overhead`` a replay reuses the last output's memory: the wrapper starts a new step per call
    and returns copies, so a batch score kept across calls keeps its value."""
    buffer = torch.zeros(2)
    steps = []

    def graph_like_compile(module, **options):
        assert options == {"dynamic": False, "mode": "reduce-overhead"}

        def replay(x):
            buffer.copy_(module(x))  # one static output buffer, as a CUDA graph has
            return {"scores": buffer}
        return replay

    monkeypatch.setattr(torch, "compile", graph_like_compile)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: steps.append(1))
    wrapped = compiling.maybe_compiled(torch.nn.Identity(), True, "test_model", "reduce-overhead")
    first = wrapped(torch.tensor([1.0, 2.0]))["scores"]
    second = wrapped(torch.tensor([3.0, 4.0]))["scores"]
    assert first.tolist() == [1.0, 2.0] and second.tolist() == [3.0, 4.0]
    assert len(steps) == 2


def test_motion_evaluators_record_their_compile_mode():
    from evaluators.vbench.dynamic import DynamicDegreeEvaluator
    from evaluators.vbench.smoothness import MotionSmoothnessEvaluator

    assert DynamicDegreeEvaluator(verify_weights=False, compile="on").protocol()["compile_mode"] == "reduce-overhead"
    assert MotionSmoothnessEvaluator(verify_weights=False).protocol()["compile_mode"] is None  # not compiled


def test_cuda_graphs_are_used_on_the_first_calling_thread_only(monkeypatch):
    """Other threads (the engine's side-by-side pool) get the default-mode compile: no per-thread graph copies."""
    import threading

    modes = []

    def recording_compile(module, **options):
        modes.append(options["mode"])
        return lambda x: module(x)

    monkeypatch.setattr(torch, "compile", recording_compile)
    monkeypatch.setattr(torch.compiler, "cudagraph_mark_step_begin", lambda: None)
    wrapped = compiling.maybe_compiled(torch.nn.Identity(), True, "test_model", "reduce-overhead")
    x = torch.ones(2)
    assert wrapped._compiled_for_this_thread()[1] is True
    seen = []
    worker = threading.Thread(target=lambda: seen.append((wrapped(x).tolist(), wrapped._compiled_for_this_thread()[1])))
    worker.start()
    worker.join()
    assert seen == [([1.0, 1.0], False)]
    assert modes == ["reduce-overhead", None]
    assert wrapped._compiled_for_this_thread()[1] is True


def test_copies_reach_tensors_inside_the_usual_containers():
    from collections import namedtuple

    pair = namedtuple("pair", "a b")
    t = torch.ones(2)
    out = compiling._copied({"x": [t, (t, 3)], "y": pair(t, "s")})
    assert out["x"][0] is not t and torch.equal(out["x"][0], t) and out["x"][1][1] == 3
    assert isinstance(out["y"], pair) and out["y"].a is not t and out["y"].b == "s"


def test_dynamic_batch_compiles_once_for_every_batch_size(monkeypatch):
    """Dynamic degree's runs hold 2 to 10 pairs: one graph serves them all (a batch of 1 specialises, apart)."""
    real_compile = torch.compile
    graphs = []

    def counting_backend(graph_module, example_inputs):
        graphs.append([tuple(t.shape) for t in example_inputs if isinstance(t, torch.Tensor)])
        return graph_module.forward

    monkeypatch.setattr(torch, "compile", lambda module, **options: real_compile(module, backend=counting_backend,
                                                                                  **options))
    torch._dynamo.reset()
    model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU())
    wrapped = compiling.maybe_compiled(model, True, "test_model", dynamic_batch=True)
    for batch in (5, 2, 7, 3):
        x = torch.randn(batch, 3)
        torch.testing.assert_close(wrapped(x), model(x))
    assert len(graphs) == 1 and wrapped.failed is None
    static = compiling.maybe_compiled(torch.nn.Linear(3, 4), True, "static_model")
    for batch in (5, 2):
        static(torch.randn(batch, 3))
    assert len(graphs) == 3  # without it, one graph per batch size
    torch._dynamo.reset()
