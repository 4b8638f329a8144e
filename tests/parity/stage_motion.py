"""Deterministic random weights for the motion/quality VBench dimensions, in the official file formats.

Both implementations must load the *same numbers*: each builder initialises the architecture our
evaluator uses from a fixed seed (scaled so that the random networks still produce varied,
non-degenerate outputs) and writes it the way the official file is laid out:

- ``raft_large_C_T_V1-22a6c225.pth`` (torchvision layout, torch hub cache) and the same tensors as
  ``raft_model/models/raft-things.pth`` in the original RAFT layout (VBench's cache);
- ``pyiqa_model/musiq_spaq_ckpt-358bb6af.pth``: pyiqa MUSIQ state dict (one output, like SPAQ);
- ``amt_model/amt-s.pth``: ``{"state_dict": ...}`` like the AMT release.

``stage_all(vbench_cache, torch_home)`` writes them all; the evaluators then run with
``verify_weights=False`` (the names promise the official hashes, the contents are random).
Run as a script: ``python tests/parity/stage_motion.py VBENCH_CACHE TORCH_HOME``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import torch

SEED = 20240917
# Output layers scaled down so random RAFT flows are a few pixels (not hundreds) and random AMT-S
# predictions stay near the blend of the two frames (not saturated at 0 or 1).
RAFT_DAMP = {r"^update_block\.flow_head\.conv2\.": 0.01}
AMT_DAMP = {r"convblock\.2\.": 0.05, r"(flow|feat)_head\.2\.": 0.05, r"^comb_block\.2\.": 0.05}


def torchvision_to_raft_things(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Inverse of ``evaluators.vbench.dynamic.raft_things_to_torchvision`` (adds the duplicated ``norm3``)."""
    rules = (
        (r"^(fnet|cnet)\.convnormrelu\.0\.", r"\1.conv1."),
        (r"^(fnet|cnet)\.convnormrelu\.1\.", r"\1.norm1."),
        (r"^(fnet|cnet)\.conv\.", r"\1.conv2."),
        (r"^(fnet|cnet)\.(layer\d\.\d)\.convnormrelu1\.0\.", r"\1.\2.conv1."),
        (r"^(fnet|cnet)\.(layer\d\.\d)\.convnormrelu1\.1\.", r"\1.\2.norm1."),
        (r"^(fnet|cnet)\.(layer\d\.\d)\.convnormrelu2\.0\.", r"\1.\2.conv2."),
        (r"^(fnet|cnet)\.(layer\d\.\d)\.convnormrelu2\.1\.", r"\1.\2.norm2."),
        (r"^update_block\.motion_encoder\.convcorr(\d)\.0\.", r"update_block.encoder.convc\1."),
        (r"^update_block\.motion_encoder\.convflow(\d)\.0\.", r"update_block.encoder.convf\1."),
        (r"^update_block\.motion_encoder\.conv\.0\.", "update_block.encoder.conv."),
        (r"^update_block\.recurrent_block\.convgru(\d)\.conv([zrq])\.", r"update_block.gru.conv\2\1."),
        (r"^mask_predictor\.convrelu\.0\.", "update_block.mask.0."),
        (r"^mask_predictor\.conv\.", "update_block.mask.2."),
    )
    out: dict[str, torch.Tensor] = {}
    for key, tensor in state.items():
        key = key.replace("feature_encoder.", "fnet.", 1).replace("context_encoder.", "cnet.", 1)
        for pattern, template in rules:
            if re.match(pattern, key):
                key = re.sub(pattern, template, key)
                break
        out[key] = tensor
        match = re.match(r"^(fnet|cnet)\.(layer\d\.\d)\.downsample\.1\.(.+)$", key)
        if match:
            out[f"{match.group(1)}.{match.group(2)}.norm3.{match.group(3)}"] = tensor
    return out


def _perturb(model: torch.nn.Module, seed: int, damp: dict[str, float] | None = None) -> dict[str, torch.Tensor]:
    """Default init from ``seed``, deterministic noise on every tensor (so no norm is trivially 1/0), and
    output layers damped (``damp``: key regex -> factor) so random networks give moderate, varied outputs."""
    generator = torch.Generator().manual_seed(seed)
    state = {}
    for key, tensor in model.state_dict().items():
        if not tensor.is_floating_point():
            state[key] = tensor.clone()
            continue
        noise = torch.randn(tensor.shape, generator=generator) * 0.05
        value = tensor + (noise.abs() if key.endswith("running_var") else noise)
        for pattern, factor in (damp or {}).items():
            if re.search(pattern, key):
                value = value * factor
        state[key] = value.contiguous()
    return state


def raft_state(seed: int = SEED) -> dict[str, torch.Tensor]:
    from torchvision.models.optical_flow import raft_large

    torch.manual_seed(seed)
    return _perturb(raft_large(weights=None, progress=False), seed, RAFT_DAMP)


def musiq_state(seed: int = SEED + 1) -> dict[str, torch.Tensor]:
    from pyiqa.archs.musiq_arch import MUSIQ

    torch.manual_seed(seed)
    return _perturb(MUSIQ(pretrained=False, num_class=1), seed)


def amt_state(seed: int = SEED + 2) -> dict[str, torch.Tensor]:
    from evaluators.vbench.amt.model import AMTS

    torch.manual_seed(seed)
    return _perturb(AMTS(), seed, AMT_DAMP)


def stage_all(vbench_cache: Path, torch_home: Path) -> dict[str, Path]:
    """Write every file; returns {filename: path}."""
    raft = raft_state()
    files = {
        torch_home / "hub" / "checkpoints" / "raft_large_C_T_V1-22a6c225.pth": raft,
        vbench_cache / "raft_model" / "models" / "raft-things.pth": {
            f"module.{k}": v for k, v in torchvision_to_raft_things(raft).items()},
        vbench_cache / "pyiqa_model" / "musiq_spaq_ckpt-358bb6af.pth": musiq_state(),
        vbench_cache / "amt_model" / "amt-s.pth": {"state_dict": amt_state()},
    }
    for path, payload in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save(payload, path)
    return {path.name: path for path in files}


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: stage_motion.py VBENCH_CACHE TORCH_HOME")
    for name, path in stage_all(Path(sys.argv[1]), Path(sys.argv[2])).items():
        print(f"{name}: {path}")
