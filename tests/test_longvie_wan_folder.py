"""The Wan2.1-I2V base from the ORIGINAL-format folder (Wan-AI/Wan2.1-I2V-14B-480P layout), and the pinned catalog.

The original names are written by this test's own diffusers -> original table (independent of
``longvie.checkpoint``), which is first checked against the official key list of the real checkpoint;
a tiny original-format folder written with it must load to exactly the weights of the tiny diffusers
folder, and generate exactly the same frames.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("diffusers", reason="the longvie extra is not installed")
pytest.importorskip("safetensors", reason="the longvie extra is not installed")
import torch

from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.records import Grid
from longvgenbench.registry import create_model
from longvgenbench.rundir import RunDir
from longvgenbench.runner import generate
from longvgenbench.video_io import read_frames
from longvie import checkpoint as ck
from longvie.config import REAL_CONFIG, TINY_CONFIG
from longvie.loading import ORIGINAL_LAYOUT, WeightsFolder, config_from_folder, load_transformer
from longvie.model import LongVie2Transformer

DATA = Path(__file__).parent / "data" / "longvie"
OPTIONS = {"dtype": "fp32", "steps": 1, "height": 32, "width": 48, "num_frames": 9}
#: Wan-AI/Wan2.1-I2V-14B-480P's config.json: the fields Wan's WanModel saves (no text_dim / patch_size / image_dim)
REAL_WAN_CONFIG = {"_class_name": "WanModel", "_diffusers_version": "0.30.0", "dim": 5120, "eps": 1e-06,
                   "ffn_dim": 13824, "freq_dim": 256, "in_dim": 36, "model_type": "i2v", "num_heads": 40,
                   "num_layers": 40, "out_dim": 16, "text_len": 512}

_INSIDE = [("attn1.to_out.0.", "self_attn.o."), ("attn2.to_out.0.", "cross_attn.o."), ("ffn.net.0.proj.", "ffn.0."),
           ("ffn.net.2.", "ffn.2."), ("attn2.add_k_proj.", "cross_attn.k_img."),
           ("attn2.add_v_proj.", "cross_attn.v_img."), ("attn2.norm_added_k.", "cross_attn.norm_k_img."),
           ("norm2.", "norm3."), ("scale_shift_table", "modulation")]
_TOP = [("condition_embedder.time_embedder.linear_1.", "time_embedding.0."),
        ("condition_embedder.time_embedder.linear_2.", "time_embedding.2."),
        ("condition_embedder.time_proj.", "time_projection.1."),
        ("condition_embedder.text_embedder.linear_1.", "text_embedding.0."),
        ("condition_embedder.text_embedder.linear_2.", "text_embedding.2."),
        ("condition_embedder.image_embedder.norm1.", "img_emb.proj.0."),
        ("condition_embedder.image_embedder.ff.net.0.proj.", "img_emb.proj.1."),
        ("condition_embedder.image_embedder.ff.net.2.", "img_emb.proj.3."),
        ("condition_embedder.image_embedder.norm2.", "img_emb.proj.4."),
        ("proj_out.", "head.head."), ("scale_shift_table", "head.modulation")]


def to_original(name: str) -> str:
    """diffusers WanTransformer3DModel name -> original Wan name (this test's own table)."""
    match = re.fullmatch(r"blocks\.(\d+)\.(.+)", name)
    if match:
        rest = match.group(2)
        for old, new in _INSIDE:
            if rest.startswith(old):
                return f"blocks.{match.group(1)}.{new}{rest[len(old):]}"
        attn = re.fullmatch(r"attn([12])\.(to_q|to_k|to_v|norm_q|norm_k)\.(.+)", rest)
        assert attn, rest
        part = {"to_q": "q", "to_k": "k", "to_v": "v"}.get(attn.group(2), attn.group(2))
        return f"blocks.{match.group(1)}.{'self_attn' if attn.group(1) == '1' else 'cross_attn'}.{part}.{attn.group(3)}"
    for old, new in _TOP:
        if name.startswith(old):
            return new + name[len(old):]
    assert name.startswith("patch_embedding."), name
    return name


def tiny_wan_config() -> dict:
    c = TINY_CONFIG
    return {"_class_name": "WanModel", "dim": c.dim, "eps": c.eps, "ffn_dim": c.ffn_dim, "freq_dim": c.freq_dim,
            "in_dim": c.in_channels, "model_type": "i2v", "num_heads": c.num_heads, "num_layers": c.num_layers,
            "out_dim": c.out_channels, "text_len": 512, "text_dim": c.text_dim, "image_dim": c.image_dim}


def write_original_folder(diffusers_root: Path, root: Path, shards: int = 2) -> Path:
    """The tiny diffusers folder's base DiT in the original Wan layout: shards, index, Wan config, LongVie 2 files."""
    from safetensors.torch import load_file, save_file

    state = {}
    for path in sorted((diffusers_root / "transformer").glob("*.safetensors")):
        state.update({to_original(k): v for k, v in load_file(str(path)).items()})
    names = sorted(state)
    root.mkdir(parents=True)
    weight_map = {}
    for i in range(shards):
        shard = f"diffusion_pytorch_model-{i + 1:05d}-of-{shards:05d}.safetensors"
        part = names[i::shards]
        save_file({k: state[k].contiguous() for k in part}, str(root / shard))
        weight_map.update(dict.fromkeys(part, shard))
    (root / "diffusion_pytorch_model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (root / "config.json").write_text(json.dumps(tiny_wan_config()))
    shutil.copytree(diffusers_root / "longvie2", root / "longvie2")
    return root


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> tuple[Path, Path]:
    from longvie_tiny import write_tiny_folder

    diffusers_root = write_tiny_folder(tmp_path_factory.mktemp("wan_diffusers"))
    return diffusers_root, write_original_folder(diffusers_root, tmp_path_factory.mktemp("wan_original") / "w")


def test_real_original_config_and_official_keys(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps(REAL_WAN_CONFIG))
    folder = WeightsFolder(tmp_path, (), None, None, ORIGINAL_LAYOUT)
    config = config_from_folder(folder)
    base_fields = ("num_layers", "num_heads", "head_dim", "ffn_dim", "in_channels", "out_channels", "text_dim",
                   "freq_dim", "image_dim", "eps", "rope_max_seq_len", "patch_size")
    assert {f: getattr(config, f) for f in base_fields} == {f: getattr(REAL_CONFIG, f) for f in base_fields}
    assert config.control_layers == 0
    with torch.device("meta"):
        model = LongVie2Transformer(config, with_controller=False)
    official = json.loads((DATA / "keys_base_dit.json").read_text())
    # this test's own naming table gives exactly the official names and shapes of the real checkpoint ...
    ours = {to_original(n[len("base."):]): list(t.shape) for n, t in model.state_dict().items()}
    assert ours == official
    # ... and the loader's header check maps every official tensor onto a parameter of the same shape
    header = {n: ck.TensorInfo(tuple(s), "BF16") for n, s in official.items()}
    report = ck.check_base(model, header)
    assert report.ok and len(report.mapping) == len(official) == 1303


def test_original_folder_loads_exactly_the_diffusers_weights(folders: tuple[Path, Path]) -> None:
    diffusers_root, original_root = folders
    original = WeightsFolder.find(original_root)
    assert original.layout == ORIGINAL_LAYOUT and len(original.transformer_shards) == 2
    assert config_from_folder(original) == config_from_folder(WeightsFolder.find(diffusers_root)) == TINY_CONFIG
    a = load_transformer(original).state_dict()
    b = load_transformer(WeightsFolder.find(diffusers_root)).state_dict()
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_longvie2_from_original_folder_generates_the_same_frames(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    from core_fixtures import make_tiny_split
    from longvie_tiny import add_controls

    diffusers_root, original_root = folders
    grid = Grid(clip_frames=9, stride=8, fps=16.0, height=32, width=48)
    split = add_controls(make_tiny_split(tmp_path / "s", num_videos=1, num_segments=1, grid=grid), tmp_path / "s")
    unconverted = r"vae there \(Wan2\.1_VAE\.pth\) is in Wan's own format.*--revision [0-9a-f]{40}"
    with pytest.raises(WeightsUnavailableError, match=unconverted):
        create_model("longvie2", weights=str(original_root), **OPTIONS).pipeline()
    model = create_model("longvie2", weights=str(original_root), components=str(diffusers_root), **OPTIONS)
    assert model.fingerprint()["components"] == str(diffusers_root)
    generate(model, split, tmp_path / "orig", seed=1)
    generate(create_model("longvie2", weights=str(diffusers_root), **OPTIONS), split, tmp_path / "diff", seed=1)
    a = read_frames(RunDir(tmp_path / "orig").segment_video("vid0", 0))
    b = read_frames(RunDir(tmp_path / "diff").segment_video("vid0", 0))
    assert np.array_equal(a, b)


def test_original_folder_errors_name_the_problem(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    _, original_root = folders
    broken = tmp_path / "missing_shard"
    shutil.copytree(original_root, broken)
    (broken / "diffusion_pytorch_model-00002-of-00002.safetensors").unlink()
    with pytest.raises(WeightsUnavailableError, match=r"shard diffusion_pytorch_model-00002-of-00002\.safetensors"):
        WeightsFolder.find(broken)

    t2v = tmp_path / "t2v"
    shutil.copytree(original_root, t2v)
    (t2v / "config.json").write_text(json.dumps({**tiny_wan_config(), "model_type": "t2v"}))
    with pytest.raises(ck.CheckpointError, match="model_type 't2v'"):
        config_from_folder(WeightsFolder.find(t2v))
    (t2v / "config.json").write_text(json.dumps({k: v for k, v in tiny_wan_config().items() if k != "dim"}))
    with pytest.raises(ck.CheckpointError, match="lacks 'dim'"):
        config_from_folder(WeightsFolder.find(t2v))
    (t2v / "config.json").write_text(json.dumps({**tiny_wan_config(), "ffn_dim": 64}))
    with pytest.raises(ck.CheckpointError, match=r"mis-shaped: blocks\.\d+\.ffn\.0\.weight: \[48, 32\] vs \[64, 32\]"):
        load_transformer(WeightsFolder.find(t2v))
    with pytest.raises(WeightsUnavailableError, match="nor original-format"):
        WeightsFolder.find(tmp_path / "nothing")


def test_catalog_pins_wan_revisions_and_accepts_the_original_layout(tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    from longvgenbench import weights
    from longvie import catalog

    files = weights.catalogue()
    for key in ("wan2.1-i2v-14b-480p:config.json", "wan2.1-i2v-14b-480p:diffusion_pytorch_model.safetensors.index.json",
                *(f"wan2.1-i2v-14b-480p:diffusion_pytorch_model-{i:05d}-of-00007.safetensors" for i in range(1, 8))):
        item = files[key]
        assert item.source.repo_id == "Wan-AI/Wan2.1-I2V-14B-480P"
        assert re.fullmatch(r"[0-9a-f]{40}", item.source.revision)
        assert item.filename.startswith("longvie2/")  # fetched straight into the weights folder
    assert re.fullmatch(r"[0-9a-f]{40}", files["wan2.1-i2v-14b-480p-transformer-index"].source.revision)
    assert files["longvie2-control"].source.revision == catalog.UNPINNED_REVISION  # no public record found

    monkeypatch.setenv("LONGVGENBENCH_CACHE", str(tmp_path))
    root = catalog.weights_folder()
    root.mkdir(parents=True)
    (root / "diffusion_pytorch_model-00001-of-00007.safetensors").write_bytes(b"")
    with pytest.raises(WeightsUnavailableError, match=r"weights fetch wan2\.1-i2v-14b-480p:config\.json"):
        catalog.official_weights_folder()
    for sub in ("vae", "text_encoder", "longvie2"):
        (root / sub).mkdir()
    (root / "longvie2" / "control.safetensors").write_bytes(b"")
    assert catalog.official_weights_folder() == root
