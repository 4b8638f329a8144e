"""Motion-I2V stage 2's VAE from an LDM single file (``baselines/motion_i2v/ldm_vae.py``), offline.

A tiny VAE config's tensors are drawn at random in the LDM naming, written as a single file
beside unrelated UNet-like tensors (as in a full SD checkpoint), and loaded through the real path.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from baselines.motion_i2v import catalog
from baselines.motion_i2v.ldm_vae import LDM_VAE_PREFIX, ldm_vae_layout, load_ldm_vae
from longvgenbench.errors import MismatchError, WeightsUnavailableError

pytest.importorskip("diffusers")

TINY = dict(in_channels=3, out_channels=3, latent_channels=4, block_out_channels=[32, 64],
            layers_per_block=1, down_block_types=["DownEncoderBlock2D"] * 2,
            up_block_types=["UpDecoderBlock2D"] * 2, norm_num_groups=32, sample_size=32, act_fn="silu")
SD15 = dict(TINY, block_out_channels=[128, 256, 512, 512], layers_per_block=2,
            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4, sample_size=512)


def _write_ldm_file(path: Path, config: dict, rename: dict[str, str] | None = None) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(0)
    tensors = {k: torch.randn(shape, generator=gen) * 0.05 for k, shape in ldm_vae_layout(config).items()}
    others = {"model.diffusion_model.input_blocks.0.0.weight": torch.randn(8, 4, 3, 3, generator=gen),
              "cond_stage_model.transformer.text_model.final_layer_norm.weight": torch.ones(8)}
    stored = {(rename or {}).get(k, k): v for k, v in tensors.items()}
    save_file({**stored, **others}, str(path))
    return tensors


def test_real_size_layout_is_exactly_what_diffusers_converts_to_autoencoderkl():
    from diffusers import AutoencoderKL
    from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint

    layout = ldm_vae_layout(SD15)
    assert len(layout) == 248  # the SD 1.x first_stage_model tensor count
    converted = convert_ldm_vae_checkpoint({k: torch.empty(s, device="meta") for k, s in layout.items()}, SD15)
    with torch.device("meta"):
        vae = AutoencoderKL(**SD15)
    assert {k: tuple(v.shape) for k, v in converted.items()} == {k: tuple(v.shape) for k, v in vae.state_dict().items()}


def test_tiny_single_file_loads_with_exactly_its_tensors(tmp_path):
    from diffusers import AutoencoderKL

    path = tmp_path / "tiny_ldm.safetensors"
    ldm = _write_ldm_file(path, TINY)
    vae = load_ldm_vae(path, TINY)
    ours = vae.state_dict()
    p = LDM_VAE_PREFIX
    by_hand = {  # LDM name -> diffusers name, written out (the attention 1x1 convolutions become linears)
        f"{p}encoder.conv_in.weight": "encoder.conv_in.weight",
        f"{p}encoder.down.0.block.0.conv1.weight": "encoder.down_blocks.0.resnets.0.conv1.weight",
        f"{p}encoder.down.1.block.0.nin_shortcut.weight": "encoder.down_blocks.1.resnets.0.conv_shortcut.weight",
        f"{p}encoder.down.0.downsample.conv.weight": "encoder.down_blocks.0.downsamplers.0.conv.weight",
        f"{p}encoder.mid.attn_1.q.weight": "encoder.mid_block.attentions.0.to_q.weight",
        f"{p}encoder.mid.attn_1.proj_out.weight": "encoder.mid_block.attentions.0.to_out.0.weight",
        f"{p}encoder.norm_out.weight": "encoder.conv_norm_out.weight",
        f"{p}decoder.up.1.block.0.conv1.weight": "decoder.up_blocks.0.resnets.0.conv1.weight",
        f"{p}decoder.up.0.block.1.conv2.bias": "decoder.up_blocks.1.resnets.1.conv2.bias",
        f"{p}decoder.up.1.upsample.conv.weight": "decoder.up_blocks.0.upsamplers.0.conv.weight",
        f"{p}decoder.mid.attn_1.v.weight": "decoder.mid_block.attentions.0.to_v.weight",
        f"{p}quant_conv.weight": "quant_conv.weight",
        f"{p}post_quant_conv.bias": "post_quant_conv.bias",
    }
    for ldm_name, name in by_hand.items():
        assert torch.equal(ours[name].reshape(ldm[ldm_name].shape), ldm[ldm_name]), (ldm_name, name)
    # every parameter came from exactly one drawn tensor (no default initialisation survived)
    drawn = {tuple(t.flatten()[:4].tolist()) for t in ldm.values()}
    assert len(drawn) == len(ldm) == len(ours)
    assert all(tuple(v.flatten()[:4].tolist()) in drawn for v in ours.values())
    # a forward against an AutoencoderKL given the same tensors directly
    direct = AutoencoderKL(**TINY).eval()
    direct.load_state_dict({k: v.clone() for k, v in ours.items()})
    with torch.no_grad():
        x = torch.rand(1, 3, 32, 32, generator=torch.Generator().manual_seed(1)) * 2 - 1
        torch.testing.assert_close(vae(x).sample, direct(x).sample, rtol=0, atol=0)
        direct.encoder.conv_in.weight.add_(0.01)  # the comparison can fail: one tensor off changes the output
        assert not torch.equal(vae(x).sample, direct(x).sample)


def test_misnamed_or_misshaped_file_is_refused_by_name(tmp_path):
    p = LDM_VAE_PREFIX
    renamed = tmp_path / "renamed.safetensors"
    _write_ldm_file(renamed, TINY, rename={f"{p}encoder.mid.attn_1.q.weight": f"{p}encoder.mid.attn_1.query.weight"})
    with pytest.raises(MismatchError, match=r"1 missing.*attn_1\.q\.weight.*1 unexpected.*attn_1\.query\.weight"):
        load_ldm_vae(renamed, TINY)
    with pytest.raises(MismatchError, match=r"mis-shaped \(first: first_stage_model\.decoder\.conv_in\.weight"):
        load_ldm_vae(renamed, dict(TINY, latent_channels=8))
    no_vae = tmp_path / "unet_only.safetensors"
    save_file({"model.diffusion_model.out.2.weight": torch.zeros(4, 8, 3, 3)}, str(no_vae))
    with pytest.raises(MismatchError, match=r"no tensor named first_stage_model\.\*"):
        load_ldm_vae(no_vae, TINY)


def test_missing_file_fails_fast_naming_the_file_and_the_fetch_command(tmp_path, monkeypatch):
    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path / "cache"))
    with pytest.raises(WeightsUnavailableError) as err:
        catalog.stage2_vae_file(tmp_path / "clone")
    message = str(err.value)
    assert str(tmp_path / "clone" / catalog.STAGE2_VAE_SINGLE_FILE) in message
    assert "longvgenbench weights fetch stage2-vae" in message and "git clone https://huggingface.co/" in message
    placed = tmp_path / "clone" / catalog.STAGE2_VAE_SINGLE_FILE
    placed.parent.mkdir(parents=True)
    placed.write_bytes(b"")
    assert catalog.stage2_vae_file(tmp_path / "clone") == placed
