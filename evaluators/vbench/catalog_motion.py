"""Weight files of the motion/quality VBench dimensions, and the small runtime helpers they share.

Records (``longvgenbench.weights`` entry point ``evaluators_motion``):

- RAFT-large "things" for ``dynamic_degree``: torchvision's ``Raft_Large_Weights.C_T_V1`` file
  (the same numbers as the original ``raft-things.pth``, ported by torchvision; found in torch
  hub's cache) and, as a fallback, the original ``raft-things.pth`` as VBench keeps it (converted
  to torchvision's layout on load).
- MUSIQ (SPAQ) for ``imaging_quality``: pyiqa's release file, the name VBench caches it under.
- AMT-S for ``motion_smoothness``; ViCLIP-L/14 (InternVid-10M-FLT) for ``overall_consistency``.

Pinning: torchvision and pyiqa name their files ``<name>-<first 8 hex digits of sha256>.pth``, a
public record of the hash prefix that :func:`resolve` checks. Full digests found in public records
(the public code index's exact-string search; the files could not be downloaded here):

- ``musiq_spaq_ckpt-358bb6af.pth``: sha256 ``358bb6af...ab50`` (consistent with its name's
  prefix), quoted by two independent projects (a VBench-0.1.5-based quality adapter's model
  table, an imaging-quality metric's documentation). No exact size found: ``size`` stays None.
- ``raft-things.pth``: sha256 ``fcfa4125...a7e1``, 21,108,000 bytes. The sha256 is quoted for
  the file in RAFT's own release zip (the URL below) by a project that checked it against the
  official RAFT checkout, by a VBench dynamic-degree port (with the byte size), and by many
  ProPainter users for the identical ``raft-things.pth`` ProPainter re-publishes. The digest is of
  the extracted ``.pth``, not of the zip, so ``longvgenbench weights fetch raft_things`` (which
  saves the URL's bytes) refuses the zip by hash; unzip ``models/raft-things.pth`` by hand.

No public record of the sha256 of ``raft_large_C_T_V1``, ``amt-s.pth`` or
``ViClip-InternVid-10M-FLT.pth`` (beyond the torchvision name prefix), nor of a commit revision of
the Hub repositories, was found: those stay unpinned (the registry says so) and the Hub files are
fetched from ``resolve/main`` URLs. Results always carry the sha256 actually measured on the file
that produced them.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path

import torch

from longvgenbench import weights
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.provenance import sha256_file
from longvgenbench.weights import UrlSource, WeightFile

RAFT_LARGE_C_T_V1 = WeightFile(
    key="raft_large_c_t_v1",
    filename="raft_large_C_T_V1-22a6c225.pth",
    source=UrlSource("https://download.pytorch.org/models/raft_large_C_T_V1-22a6c225.pth"),
    licence="BSD-3-Clause (RAFT, princeton-vl; torchvision port)",
    description="RAFT-large optical flow, FlyingChairs+FlyingThings3D (torchvision Raft_Large_Weights.C_T_V1)",
    torch_hub=True,
)
RAFT_THINGS = WeightFile(
    key="raft_things",
    filename="raft-things.pth",
    source=UrlSource("https://dl.dropboxusercontent.com/s/4j4z58wuv8o0mfz/models.zip"),
    licence="BSD-3-Clause (RAFT, princeton-vl)",
    description="RAFT 'things' optical flow in the original RAFT layout (VBench's dynamic_degree file; "
                "the URL is a zip holding models/raft-things.pth)",
    sha256="fcfa4125d6418f4de95d84aec20a3c5f4e205101715a79f193243c186ac9a7e1",  # public records: module docstring
    size=21_108_000,
    vbench_subpath="raft_model/models/raft-things.pth",
)
MUSIQ_SPAQ = WeightFile(
    key="musiq_spaq",
    filename="musiq_spaq_ckpt-358bb6af.pth",
    source=UrlSource("https://github.com/chaofengc/IQA-PyTorch/releases/download/v0.1-weights/"
                     "musiq_spaq_ckpt-358bb6af.pth"),
    licence="CC BY-NC-SA 4.0 (pyiqa weights; non-commercial)",
    description="MUSIQ image-quality transformer trained on SPAQ (pyiqa port)",
    sha256="358bb6af275e28ea56821d44fb55c6cb83645db11f394d3ad65b2d149965ab50",  # public records: module docstring
    vbench_subpath="pyiqa_model/musiq_spaq_ckpt-358bb6af.pth",
)
AMT_S = WeightFile(
    key="amt_s",
    filename="amt-s.pth",
    source=UrlSource("https://huggingface.co/lalala125/AMT/resolve/main/amt-s.pth"),
    licence="CC BY-NC-SA 4.0 (AMT, MCG-NKU; non-commercial)",
    description="AMT-S frame interpolation (Vimeo90K), VBench's motion_smoothness model",
    vbench_subpath="amt_model/amt-s.pth",
)
VICLIP_L14 = WeightFile(
    key="viclip_l14_internvid_10m_flt",
    filename="ViClip-InternVid-10M-FLT.pth",
    source=UrlSource("https://huggingface.co/OpenGVLab/VBench_Used_Models/resolve/main/ViClip-InternVid-10M-FLT.pth"),
    licence="Apache-2.0 (InternVid / ViCLIP, OpenGVLab)",
    description="ViCLIP ViT-L/14 video-text model trained on InternVid-10M-FLT (VBench's overall_consistency model)",
    vbench_subpath="ViCLIP/ViClip-InternVid-10M-FLT.pth",
)

WEIGHTS: tuple[WeightFile, ...] = (RAFT_LARGE_C_T_V1, RAFT_THINGS, MUSIQ_SPAQ, AMT_S, VICLIP_L14)


def hash_prefix(item: WeightFile) -> str:
    """The sha256 prefix a torch-hub-style file name carries (``name-<hex>.pth``), or ''."""
    match = re.search(r"-([0-9a-f]{8,})\.pth$", item.filename)
    return match.group(1) if match else ""


def resolve(item: WeightFile, verify: bool = True) -> tuple[Path, str]:
    """Path and sha256 of ``item`` from the registry's caches.

    With ``verify`` (the default) a file whose name promises a sha256 prefix must match it, so a
    truncated or different download is refused by name. ``verify=False`` is for deliberately
    different files, e.g. random weights staged in the official format for parity tests.
    """
    path = weights.require(item, check=False)
    digest = weights.verify(item, path) if verify else sha256_file(path)
    prefix = hash_prefix(item)
    if verify and prefix and not digest.startswith(prefix):
        raise weights.WeightsMismatchError(
            f"{path} has sha256 {digest[:16]}..., {item.filename} must start with {prefix}: refusing a different "
            f"or truncated file; {weights.how_to_get(item)}")
    return path, digest


def resolve_first(items: tuple[WeightFile, ...], verify: bool = True) -> tuple[WeightFile, Path, str]:
    """The first of ``items`` that is present; if none is, the error names the first (preferred) one."""
    for item in items:
        if weights.locate(item) is not None:
            path, digest = resolve(item, verify)
            return item, path, digest
    weights.require(items[0])  # raises WeightsUnavailableError with the full message
    raise WeightsUnavailableError(items[0].filename, None, "not found")  # unreachable


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A checkpoint's tensors, never executing pickled code (``weights_only=True``)."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # a corrupt file or a pickle with objects we refuse to execute
        raise WeightsUnavailableError(str(path.name), path, f"could not be read as a weights file ({exc})") from exc
    if not isinstance(state, dict):
        raise WeightsUnavailableError(str(path.name), path, f"holds a {type(state).__name__}, not a state dict")
    return state


PRECISIONS = ("auto", "fp32", "bf16", "fp16")


def autocast_dtype(precision: str, device: str, fast: torch.dtype = torch.bfloat16) -> torch.dtype | None:
    """The autocast dtype for ``precision`` on ``device`` (None = plain fp32).

    ``auto`` is ``fast`` on CUDA (bf16 unless an evaluator needs fp16's finer mantissa) and fp32
    elsewhere (CPU autocast is slow and only the GPU path is speed-critical).
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return fast if str(device).startswith("cuda") else None
    return {"fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}[precision]


@contextlib.contextmanager
def inference(device: str, dtype: torch.dtype | None) -> Iterator[None]:
    """``inference_mode`` plus autocast to ``dtype`` when one is given."""
    device_type = "cuda" if str(device).startswith("cuda") else "cpu"
    with torch.inference_mode(), torch.autocast(device_type, dtype=dtype or torch.float32, enabled=dtype is not None):
        yield


#: GPU memory one batch of correlation volumes may take (RAFT and AMT-S build all-pairs volumes at 1/8 of the
#: padded frame: (h*w)^2 values per pair, 16 times more for every doubling of the side).
CORRELATION_BUDGET_BYTES = 8 * 2**30


def pairs_per_run(requested: int, padded_height: int, padded_width: int, bytes_per_entry: float) -> int:
    """How many frame pairs go in one forward: ``requested``, fewer where their correlation volumes would pass
    :data:`CORRELATION_BUDGET_BYTES` (at least 1).

    ``bytes_per_entry``: memory per entry of one pair's level-0 volume, pyramid and casts included. At the
    protocol's 480x832 the default batches fit (RAFT 8 pairs about 2.3 GB, AMT-S 10 pairs about 5.7 GB); at
    native 1080p one pair is about 8 GB (RAFT) or 16 GB (AMT-S), so a batch of 8 would not fit an 80 GB GPU.
    Scores do not depend on the batch (tested), so this changes memory and speed only.
    """
    cells = (padded_height // 8) * (padded_width // 8)
    per_pair = float(cells) ** 2 * bytes_per_entry
    return max(1, min(int(requested), int(CORRELATION_BUDGET_BYTES // per_pair)))
