"""The Wan VAE's dtype and speed switches (``longvie.vae_runtime``) and the adapter options that set them."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
import torch

from longvgenbench.errors import OptionError
from longvie.vae_runtime import VAE_RECOMPILE_LIMIT, VaeRuntime, prepare_vae, vae_calls, vae_input

OPTIONS = {"dtype": "fp32", "steps": 2, "height": 32, "width": 48, "num_frames": 9}


def tiny_vae(seed: int = 0):
    from diffusers import AutoencoderKLWan

    torch.manual_seed(seed)
    return AutoencoderKLWan(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=1).eval()


def encode_decode(vae, runtime: VaeRuntime, video: torch.Tensor, latents: torch.Tensor):
    with torch.no_grad(), vae_calls(runtime):
        z = vae.encode(vae_input(video, runtime)).latent_dist.mode().float()
        frames = vae.decode(vae_input(latents, runtime)).sample.float()
    return z, frames


@pytest.fixture(scope="module")
def clip() -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(1)
    return torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1, torch.randn(1, 16, 3, 4, 6, generator=g)


def test_channels_last_keeps_names_and_numbers(clip) -> None:
    """NDHWC is a layout, not arithmetic: the same latents and frames up to float32 rounding."""
    plain, fast = tiny_vae(), tiny_vae()
    names = [n for n, _ in fast.named_parameters()]
    runtime = VaeRuntime(dtype=torch.float32, channels_last=True)
    prepare_vae(fast, runtime)
    assert [n for n, _ in fast.named_parameters()] == names
    weights5d = [p for p in fast.parameters() if p.dim() == 5]
    assert weights5d and all(p.is_contiguous(memory_format=torch.channels_last_3d) for p in weights5d)
    assert all(p.is_contiguous(memory_format=torch.channels_last) for p in fast.parameters() if p.dim() == 4)
    assert vae_input(clip[0], runtime).is_contiguous(memory_format=torch.channels_last_3d)
    z0, f0 = encode_decode(plain, VaeRuntime(), *clip)
    z1, f1 = encode_decode(fast, runtime, *clip)
    torch.testing.assert_close(z1, z0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f1, f0, rtol=1e-5, atol=1e-5)


def test_dtype_casts_the_weights_and_the_inputs(clip) -> None:
    vae = tiny_vae()
    runtime = VaeRuntime(dtype=torch.bfloat16)
    prepare_vae(vae, runtime)
    assert {p.dtype for p in vae.parameters()} == {torch.bfloat16}
    assert vae_input(clip[0], runtime).dtype == torch.bfloat16
    z, frames = encode_decode(vae, runtime, *clip)
    z32, frames32 = encode_decode(tiny_vae(), VaeRuntime(), *clip)
    assert torch.isfinite(z).all() and z.shape == z32.shape and frames.shape == frames32.shape
    assert not torch.equal(z, z32)  # bf16 is not float32 ...
    torch.testing.assert_close(z, z32, rtol=0.1, atol=0.1)  # ... but close


def test_vae_calls_raises_the_recompile_limit_only_when_compiled() -> None:
    import torch._dynamo

    before = torch._dynamo.config.recompile_limit
    with vae_calls(VaeRuntime()):
        assert torch._dynamo.config.recompile_limit == before
    with vae_calls(VaeRuntime(compiled=True)):
        assert torch._dynamo.config.recompile_limit == max(before, VAE_RECOMPILE_LIMIT)
    assert torch._dynamo.config.recompile_limit == before


@pytest.mark.slow
def test_compiled_vae_equals_eager_and_compiles_once(clip) -> None:
    """Compiled encoder and decoder (about a minute on two CPU cores): same numbers, no recompiles on a second clip."""
    from torch._dynamo.utils import counters

    eager, compiled = tiny_vae(), tiny_vae()
    runtime = VaeRuntime(compiled=True)
    prepare_vae(compiled, runtime)
    assert set(compiled.state_dict()) == set(eager.state_dict())
    z0, f0 = encode_decode(eager, VaeRuntime(), *clip)
    z1, f1 = encode_decode(compiled, runtime, *clip)
    graphs = counters["stats"]["unique_graphs"]
    z2, _ = encode_decode(compiled, runtime, *clip)
    assert counters["stats"]["unique_graphs"] == graphs
    torch.testing.assert_close(z1, z0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(f1, f0, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(z2, z1, rtol=0, atol=0)


def test_adapter_vae_options() -> None:
    from longvie.adapter import LongVie2Model, Wan21I2VModel, options_of

    assert LongVie2Model(device="cpu").vae_dtype_name == "bf16"  # auto: the pipeline dtype, as upstream
    assert LongVie2Model(device="cpu", dtype="fp32").vae_dtype_name == "fp32"
    assert LongVie2Model(device="cpu", vae_dtype="fp32").vae_dtype_name == "fp32"
    assert Wan21I2VModel(device="cpu").vae_dtype_name == "fp32"  # auto: as Wan's own code runs it
    assert LongVie2Model.version == "2" and Wan21I2VModel.version == "1"
    with pytest.raises(OptionError, match="vae_dtype must be auto or one of"):
        LongVie2Model(device="cpu", vae_dtype="int8")
    assert LongVie2Model(device="cpu").compile_vae is False
    assert LongVie2Model(device="cpu", compile=True).compile_vae is True
    assert LongVie2Model(device="cpu", compile=True, compile_vae=False).compile_vae is False
    options = options_of(LongVie2Model(device="cpu"))
    assert (options["vae_dtype"], options["vae_channels_last"], options["compile_vae"]) == ("bf16", True, False)


@pytest.fixture(scope="module")
def weights(tmp_path_factory) -> Path:
    from longvie_tiny import write_tiny_folder

    return write_tiny_folder(tmp_path_factory.mktemp("longvie_weights"))


def test_pipeline_runs_the_vae_as_the_options_say(weights: Path) -> None:
    """The adapter's VAE options reach the pipeline; channels-last stays off on CPU; the identity records a
    VAE dtype other than float32 (the only one version 1 had), so a run cannot resume across it."""
    from longvie.adapter import LongVie2Model

    pipe = LongVie2Model(weights=str(weights), vae_dtype="bf16", **OPTIONS).pipeline()
    assert pipe.vae_runtime == VaeRuntime(dtype=torch.bfloat16, channels_last=False, compiled=False)
    assert {p.dtype for p in pipe.components.vae.parameters()} == {torch.bfloat16}
    assert next(pipe.transformer.parameters()).dtype == torch.float32
    g = torch.Generator().manual_seed(0)
    latents = pipe.encode_videos([torch.rand(1, 3, 9, 32, 48, generator=g) * 2 - 1])[0]
    assert latents.dtype == torch.float32 and latents.shape == (1, 16, 3, 4, 6)
    assert pipe.decode(latents).dtype == torch.bfloat16
    assert LongVie2Model(weights=str(weights), vae_dtype="bf16", **OPTIONS).fingerprint()["vae_dtype"] == "bf16"
    assert "vae_dtype" not in LongVie2Model(weights=str(weights), **OPTIONS).fingerprint()
