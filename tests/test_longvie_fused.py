"""The cuBLASLt GELU-epilogue feed-forward (``longvie.fused``), on CPU.

CPU has no tanh-GELU epilogue, so the epilogue path is exercised with ``epilogue_applies`` forced
true and ``torch._addmm_activation`` replaced by a recorder that computes what cuBLASLt computes on
CUDA (bias + tanh-GELU of the product); everything else is the real module.
"""

from __future__ import annotations

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch
from diffusers.models.attention import FeedForward

from longvie import fused
from longvie.config import TINY_CONFIG


def _ffn(dim: int = 8, inner: int = 24) -> FeedForward:
    torch.manual_seed(0)
    return FeedForward(dim, inner_dim=inner, activation_fn="gelu-approximate").eval()


@pytest.fixture
def cuda_epilogue(monkeypatch: pytest.MonkeyPatch) -> list[tuple[tuple[int, ...], tuple[int, ...]]]:
    """Pretend the epilogue applies; record every ``_addmm_activation`` call's operand shapes."""
    calls: list[tuple[tuple[int, ...], tuple[int, ...]]] = []

    def addmm_gelu(bias: torch.Tensor, mat1: torch.Tensor, mat2: torch.Tensor, *, use_gelu: bool) -> torch.Tensor:
        assert use_gelu
        calls.append((tuple(mat1.shape), tuple(mat2.shape)))
        return torch.nn.functional.gelu(torch.addmm(bias, mat1, mat2), approximate="tanh")

    monkeypatch.setattr(fused, "epilogue_applies", lambda x, proj: True)
    monkeypatch.setattr(torch, "_addmm_activation", addmm_gelu)
    return calls


def test_epilogue_path_equals_diffusers_feedforward(cuda_epilogue: list) -> None:
    ffn = _ffn()
    x = torch.randn(2, 5, 8)
    with torch.no_grad():
        reference = ffn(x)
        wrapped = fused.EpilogueGeluFeedForward(ffn)
        out = wrapped(x)
    assert cuda_epilogue == [((10, 8), (8, 24))]  # tokens flattened, W^T
    assert out.shape == reference.shape
    assert torch.allclose(out, reference, atol=1e-6)


def test_cpu_fp32_and_autograd_take_diffusers_path(monkeypatch: pytest.MonkeyPatch) -> None:
    def forbidden(*args: object, **kwargs: object) -> torch.Tensor:
        raise AssertionError("the epilogue must not be used here")

    monkeypatch.setattr(torch, "_addmm_activation", forbidden)
    ffn = _ffn()
    wrapped = fused.EpilogueGeluFeedForward(ffn)
    x = torch.randn(3, 8, requires_grad=True)
    out = wrapped(x)  # CPU: diffusers' path
    out.sum().backward()
    assert x.grad is not None
    assert torch.equal(out, ffn(x))
    proj = ffn.net[0].proj
    assert not fused.epilogue_applies(torch.randn(2, 8), proj)
    assert not fused.epilogue_applies(torch.randn(2, 8, device="meta"), proj)


def test_disabled_wrapper_runs_diffusers_path(cuda_epilogue: list) -> None:
    ffn = _ffn()
    wrapped = fused.EpilogueGeluFeedForward(ffn, enabled=False)
    with torch.no_grad():
        wrapped(torch.randn(4, 8))
    assert cuda_epilogue == []


def test_wrapper_keeps_parameter_names_and_refuses_other_activations() -> None:
    ffn = _ffn()
    assert fused.EpilogueGeluFeedForward(ffn).state_dict().keys() == ffn.state_dict().keys()
    with pytest.raises(ValueError, match="tanh-GELU"):
        fused.EpilogueGeluFeedForward(FeedForward(8, inner_dim=16, activation_fn="gelu"))


def test_model_switch_covers_every_block_and_leaves_weights_and_output_alone(cuda_epilogue: list) -> None:
    from longvie_tiny import tiny_forward_inputs, tiny_transformer

    model = tiny_transformer()
    names = set(model.state_dict())
    inputs = tiny_forward_inputs()
    with torch.no_grad():
        reference = model(**inputs)
        blocks = TINY_CONFIG.num_layers + 2 * TINY_CONFIG.control_layers
        assert model.set_gelu_epilogue(True) == blocks
        assert set(model.state_dict()) == names
        out = model(**inputs)
        assert len(cuda_epilogue) == blocks
        assert model.set_gelu_epilogue(False) == 0
        model(**inputs)
        assert len(cuda_epilogue) == blocks  # switched off: no more epilogue calls
    assert torch.allclose(out, reference, atol=1e-5), (out - reference).abs().max()


def test_compiled_block_keeps_the_epilogue_call(cuda_epilogue: list) -> None:
    ffn = fused.EpilogueGeluFeedForward(_ffn())
    x = torch.randn(2, 3, 8)
    torch._dynamo.reset()
    with torch.no_grad():
        out = torch.compile(ffn, backend="aot_eager", fullgraph=True)(x)
        reference = _ffn()(x)
    assert cuda_epilogue and torch.allclose(out, reference, atol=1e-6)


@pytest.fixture
def quack_recorder(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, ...]]:
    """Pretend the epilogue applies; the quack op's body records its input shape and computes bias + GELU."""
    from longvie import quack_gelu

    calls: list[tuple[int, ...]] = []

    def gelu_linear(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor) -> torch.Tensor:
        calls.append(tuple(x.shape))
        return torch.nn.functional.gelu(torch.addmm(bias, x, weight.t()), approximate="tanh")

    monkeypatch.setattr(fused, "epilogue_applies", lambda x, proj: True)
    monkeypatch.setattr(quack_gelu, "gelu_linear_quack_eager", gelu_linear)
    return calls


def test_quack_backend_routes_the_up_projection_to_its_op(quack_recorder: list, cuda_epilogue: list) -> None:
    ffn = _ffn()
    x = torch.randn(2, 5, 8)
    block = torch.nn.Module()
    block.ffn = ffn
    with torch.no_grad():
        reference = _ffn()(x)
        assert fused.set_gelu_epilogue([block], True, "quack") == 1
        out = block.ffn(x)
    assert quack_recorder == [(10, 8)] and cuda_epilogue == []  # quack's op, not cuBLASLt's
    assert torch.allclose(out, reference, atol=1e-6)
    fused.set_gelu_epilogue([block], True, "cublaslt")
    with torch.no_grad():
        block.ffn(x)
    assert len(quack_recorder) == 1 and len(cuda_epilogue) == 1


def test_quack_backend_names_and_availability() -> None:
    from torch._subclasses.fake_tensor import FakeTensorMode

    from longvie.quack_gelu import quack_gelu_available

    block = torch.nn.Module()
    block.ffn = _ffn()
    with pytest.raises(ValueError, match="choose one of"):
        fused.set_gelu_epilogue([block], True, "cutlass")
    assert not quack_gelu_available(torch.device("cpu"))
    assert fused.set_gelu_epilogue([block], True, "quack") == 1  # CPU weights: nothing to check, the path is off
    with FakeTensorMode():  # what torch.compile sees of the op: (rows, out)
        out = torch.ops.longvie.quack_gelu_linear(torch.empty(6, 8), torch.empty(24, 8), torch.empty(24))
    assert tuple(out.shape) == (6, 24)


def test_adapter_gelu_backend_option() -> None:
    from longvgenbench.errors import OptionError
    from longvie.adapter import LongVie2Model, options_of

    assert options_of(LongVie2Model(device="cpu"))["gelu_backend"] == "cublaslt"
    with pytest.raises(OptionError, match="gelu_backend must be one of"):
        LongVie2Model(device="cpu", gelu_backend="cutlass")
    with pytest.raises(OptionError, match="needs a Hopper"):
        LongVie2Model(device="cpu", gelu_backend="quack")
    assert LongVie2Model(device="cpu", gelu_backend="quack", gelu_epilogue=False).gelu_backend == "quack"
