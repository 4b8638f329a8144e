"""LPIPS against the ground truth, per clip, as the mean over the clip's frames (lower is better).

The ``lpips`` package ships its calibrated linear layers, but its trunk (AlexNet or VGG16) comes
from torchvision's ImageNet weights, which torchvision would download through torch hub. This
suite never lets that happen: the trunk is built randomly initialised (``pnet_rand=True``, no
download path is touched) and the torchvision checkpoint is read from torch hub's cache
(``torch.hub.get_dir()/checkpoints/<file>``, i.e. ``$TORCH_HOME/hub/checkpoints``), verified
against the sha256 prefix in its file name, and copied into the trunk. If the file is missing,
:meth:`LPIPSEvaluator.check_available` says which file, where it looked and how to get it.

Inputs: uint8 RGB scaled to [-1, 1], full grid resolution (480x832, no resize), LPIPS v0.1,
spatially averaged, then averaged over frames.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from evaluators._frames import generated_and_truth
from longvgenbench.errors import WeightsUnavailableError
from longvgenbench.evaluation.api import ClipEvaluator, ClipView, Level, MetricSpec, Need

LPIPS_VERSION = "0.1"


@dataclass(frozen=True)
class TrunkWeights:
    """The torchvision checkpoint an LPIPS trunk needs, as torchvision names it."""

    net: str  # the lpips name: "alex" | "vgg"
    url: str

    @property
    def file_name(self) -> str:
        return self.url.rsplit("/", 1)[-1]

    @property
    def sha256_prefix(self) -> str:
        """torch hub's convention: ``<name>-<first hex digits of sha256>.pth``."""
        match = re.search(r"-([0-9a-f]+)\.", self.file_name)
        return match.group(1) if match else ""

    def path(self) -> Path:
        return Path(torch.hub.get_dir()) / "checkpoints" / self.file_name


def trunk_weights(net: str) -> TrunkWeights:
    """The torchvision checkpoint behind an LPIPS trunk (URL read from torchvision's weight enums)."""
    from torchvision import models

    enums = {"alex": models.AlexNet_Weights.IMAGENET1K_V1, "vgg": models.VGG16_Weights.IMAGENET1K_V1}
    if net not in enums:
        raise ValueError(f"LPIPS net must be one of {sorted(enums)}, got {net!r}")
    return TrunkWeights(net=net, url=enums[net].url)


def linear_weights_path(net: str) -> Path:
    """The calibrated linear layers that the ``lpips`` package ships."""
    import lpips

    return Path(lpips.__file__).parent / "weights" / f"v{LPIPS_VERSION}" / f"{net}.pth"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class LPIPSEvaluator(ClipEvaluator):
    """Learned perceptual distance to the ground truth (``lpips`` package), mean over a clip's frames."""

    name: ClassVar[str] = "lpips"
    version: ClassVar[str] = "1.0"
    needs: ClassVar[frozenset[Need]] = frozenset({Need.GROUND_TRUTH})
    metrics: ClassVar[tuple[MetricSpec, ...]] = (
        MetricSpec(
            "lpips", Level.CLIP, False,
            "LPIPS v0.1 distance to the ground truth (inputs in [-1,1], full resolution), mean over the clip's frames",
            "",
        ),
    )

    def __init__(
        self, device: str = "cpu", net: str = "alex", batch_size: int = 8, verify_weights: bool = True,
    ) -> None:
        super().__init__(device)
        self.net = net
        self.trunk = trunk_weights(net)
        self.batch_size = max(1, int(batch_size))
        self.verify_weights = verify_weights
        self._hashes: dict[str, str] | None = None
        self._model: Any = None

    def protocol(self) -> dict[str, object]:
        return {
            "net": self.net, "lpips_version": LPIPS_VERSION, "input_range": [-1.0, 1.0],
            "resolution": "grid size, no resize", "spatial": "average", "per_frame_then": "mean over frames",
            "trunk_weights": self.trunk.url,
        }

    def check_available(self) -> None:
        """Raise WeightsUnavailableError unless both weight files are here (and the trunk's hash matches)."""
        hashes = self.weight_hashes()
        if self.verify_weights and not hashes[self.trunk.file_name].startswith(self.trunk.sha256_prefix):
            raise WeightsUnavailableError(
                f"torchvision ImageNet weights {self.trunk.file_name} for the LPIPS {self.net} trunk",
                self.trunk.path(),
                f"the file's sha256 {hashes[self.trunk.file_name][:16]}... does not start with "
                f"{self.trunk.sha256_prefix} (corrupt or a different file); download it again from {self.trunk.url}",
            )

    def _require_files(self) -> None:
        linear = linear_weights_path(self.net)
        if not linear.is_file():
            raise WeightsUnavailableError(
                f"LPIPS v{LPIPS_VERSION} linear layers for net={self.net!r}", linear,
                "they ship with the `lpips` package: reinstall it (pip install --force-reinstall lpips)",
            )
        trunk = self.trunk.path()
        if not trunk.is_file():
            raise WeightsUnavailableError(
                f"torchvision ImageNet weights {self.trunk.file_name} for the LPIPS {self.net} trunk", trunk,
                f"download {self.trunk.url} into {trunk.parent} (torch hub's cache: $TORCH_HOME/hub/checkpoints); "
                f"on a machine with network: curl -L --create-dirs -o {trunk} {self.trunk.url}",
            )

    def weight_hashes(self) -> dict[str, str]:
        """sha256 of the trunk checkpoint and of the linear layers (hashed once per evaluator)."""
        if self._hashes is None:
            self._require_files()
            trunk, linear = self.trunk.path(), linear_weights_path(self.net)
            self._hashes = {
                self.trunk.file_name: sha256_of(trunk),
                f"lpips_v{LPIPS_VERSION}_{self.net}.pth": sha256_of(linear),
            }
        return dict(self._hashes)

    def _load(self) -> Any:
        """Build lpips with a random trunk (no download) and copy the cached torchvision weights into it."""
        if self._model is not None:
            return self._model
        self.check_available()
        import lpips

        with warnings.catch_warnings():
            # lpips passes torchvision's deprecated ``pretrained=False``; harmless, but noisy.
            warnings.simplefilter("ignore", UserWarning)
            model = lpips.LPIPS(net=self.net, version=LPIPS_VERSION, pretrained=True, pnet_rand=True, verbose=False)
        checkpoint = torch.load(self.trunk.path(), map_location="cpu", weights_only=True)
        trunk_state = model.net.state_dict()
        # lpips slices torchvision's ``features`` Sequential, keeping its indices: sliceK.<i>.w <- features.<i>.w
        mapped = {}
        for key in trunk_state:
            _, index, param = key.split(".")
            source = f"features.{index}.{param}"
            if source not in checkpoint:
                raise WeightsUnavailableError(
                    f"torchvision weights {self.trunk.file_name}", self.trunk.path(),
                    f"the file has no tensor {source!r}: it is not a {self.net} checkpoint; get {self.trunk.url}",
                )
            mapped[key] = checkpoint[source]
        model.net.load_state_dict(mapped, strict=True)
        self._model = model.eval().to(self.device)
        return self._model

    def score_clip(self, clip: ClipView) -> Mapping[str, float]:
        frames, truth = generated_and_truth(clip)
        model = self._load()
        values: list[np.ndarray] = []
        with torch.no_grad():
            for start in range(0, frames.shape[0], self.batch_size):
                stop = start + self.batch_size
                distance = model(_to_signed_tensor(frames[start:stop], self.device),
                                 _to_signed_tensor(truth[start:stop], self.device))
                values.append(distance.reshape(-1).double().cpu().numpy())
        return {"lpips": float(np.mean(np.concatenate(values)))}


def _to_signed_tensor(frames: np.ndarray, device: str) -> torch.Tensor:
    """uint8 (B, H, W, 3) -> float32 (B, 3, H, W) in [-1, 1], the range LPIPS was calibrated on."""
    tensor = torch.from_numpy(np.ascontiguousarray(frames)).to(device)
    return tensor.permute(0, 3, 1, 2).float().div_(127.5).sub_(1.0)
