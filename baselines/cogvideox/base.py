"""``CogVideoXI2VModel``: the ``VideoModel`` every CogVideoX-5B-I2V adapter subclasses.

One benchmark clip = one native CogVideoX segment (``grid.GridMapping`` says how frames map).
The long-video loop is the spine's: segment 0 starts from the sample's first frame, each later
segment from the last frame of the previous one. The carried frame is the last *native* frame
(kept in the state as uint8, exactly what the model produced), not the grid-resized copy the
runner offers, so the model never sees its own output stretched twice. The state is arrays only
(``last_native_frame``, ``segments``) and the runner saves it with every segment, so a killed run
resumes mid-video with exactly the inputs of an uninterrupted one. The initial noise of segment
k is drawn from ``request.seed`` and k (a CPU ``torch.Generator``), so it does not depend on what
ran before in the process either.

How to subclass (what ``go-with-the-flow`` and ``diffusion-as-shader`` override):

- ``name`` / ``version`` (class attributes) and ``extra_fingerprint()`` for your own options;
- ``initial_latents(segment)``: the segment's starting noise (B, F, C, h, w) float32 on the CPU;
  the default is seeded standard Gaussian noise (Go-with-the-Flow returns warped noise);
- ``load_transformer(root, dtype)``: a transformer other than the folder's own (DiffusionAsShader);
- ``make_pipeline(components)``: another diffusers pipeline class over the same components;
- ``pipeline_kwargs(segment)``: extra keyword arguments for the pipeline call (e.g. tracking maps);
- ``weights_root()``: where the base folder is (default: option ``weights`` or the registry's).

Everything a subclass needs per segment is in the frozen :class:`NativeSegment`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from baselines.cogvideox import configs
from baselines.cogvideox.grid import COGVIDEOX_NATIVE, GridMapping
from longvgenbench.errors import OptionError
from longvgenbench.model import VideoModel
from longvgenbench.records import NativeFormat, SegmentOutput, SegmentRequest, VideoSample, freeze_state

DTYPES = {"bf16": torch.bfloat16, "fp32": torch.float32, "fp16": torch.float16}
OFFLOAD_MODES = ("none", "model", "sequential")


@dataclass(frozen=True, eq=False)
class NativeSegment:
    """One segment as the CogVideoX pipeline sees it."""

    request: SegmentRequest
    first_frame: np.ndarray  # uint8 (h, w, 3) at the native size
    caption: str
    seed: int  # this segment's seed (request.seed and the segment index)
    latent_shape: tuple[int, int, int, int, int]  # (1, F, C, h/8, w/8)
    mapping: GridMapping


def segment_seed(video_seed: int, segment_index: int) -> int:
    """A 63-bit seed per (video, segment), stable across processes and resumes."""
    digest = hashlib.sha256(f"{int(video_seed)}:{int(segment_index)}".encode()).digest()
    return int.from_bytes(digest[:8], "little") & ((1 << 63) - 1)


def seeded_gaussian(shape: tuple[int, ...], seed: int) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float32)


class CogVideoXI2VModel(VideoModel):
    """CogVideoX-5B-I2V through diffusers' ``CogVideoXImageToVideoPipeline``, clip by clip.

    Options (keyword): ``weights`` (a folder in the layout of THUDM/CogVideoX-5b-I2V; default the
    registered one), ``dtype`` (bf16 | fp32 | fp16; bf16 as published), ``steps`` (50),
    ``cfg_scale`` (6.0), ``use_dynamic_cfg`` (False), ``offload`` (none | model | sequential),
    ``vae_tiling`` (False), ``temporal`` (linear | nearest, see ``grid.py``), ``native_frames`` /
    ``native_height`` / ``native_width`` (49 / 480 / 720; tiny tests use smaller ones, the real
    transformer only runs at its own).
    """

    name: ClassVar[str] = "cogvideox-5b-i2v"
    version: ClassVar[str] = "1"
    needs_weights: ClassVar[bool] = True
    default_steps: ClassVar[int] = 50
    default_cfg: ClassVar[float] = 6.0

    def __init__(self, device: str = "cpu", *, weights: str | None = None, dtype: str = "bf16",
                 steps: int | None = None, cfg_scale: float | None = None, use_dynamic_cfg: bool = False,
                 offload: str = "none", vae_tiling: bool = False, temporal: str = "linear",
                 native_frames: int = COGVIDEOX_NATIVE.num_frames, native_height: int = COGVIDEOX_NATIVE.height,
                 native_width: int = COGVIDEOX_NATIVE.width) -> None:
        super().__init__(device=device)
        if dtype not in DTYPES:
            raise OptionError(f"{self.name}: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if offload not in OFFLOAD_MODES:
            raise OptionError(f"{self.name}: offload must be one of {list(OFFLOAD_MODES)}, got {offload!r}")
        try:
            configs.check_native_size(int(native_frames), int(native_height), int(native_width))
            self.mapping = GridMapping(NativeFormat(int(native_frames), COGVIDEOX_NATIVE.fps, int(native_height),
                                                    int(native_width)), temporal)
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        self.steps = int(self.default_steps if steps is None else steps)
        self.cfg_scale = float(self.default_cfg if cfg_scale is None else cfg_scale)
        if self.steps < 1:
            raise OptionError(f"{self.name}: steps must be at least 1, got {steps}")
        self.weights = Path(weights) if weights else None
        self.dtype_name, self.use_dynamic_cfg = dtype, bool(use_dynamic_cfg)
        self.offload, self.vae_tiling = offload, bool(vae_tiling)
        self._pipeline: Any = None
        #: set to a list to keep the latents after every denoising step (parity tests, debugging)
        self.latent_log: list[torch.Tensor] | None = None

    # -- format -------------------------------------------------------------------------------
    @property
    def native(self) -> NativeFormat:
        """What ``generate_segment`` returns: frames already on the grid (the mapping is ours, see grid.py).

        The runner's ``conform_to_grid`` is then the identity; the CogVideoX format itself is
        ``self.mapping.native`` and the mapping is recorded in :meth:`fingerprint`.
        """
        return NativeFormat(num_frames=81, fps=16.0, height=480, width=832)

    # -- hooks --------------------------------------------------------------------------------
    def weights_root(self) -> Path:
        if self.weights is not None:
            return self.weights
        from baselines.cogvideox.catalog import official_weights_folder

        return official_weights_folder()

    def load_transformer(self, root: Path, dtype: torch.dtype) -> Any | None:
        """A transformer replacing the folder's own; None keeps ``root/transformer``."""
        return None

    def make_pipeline(self, components: Any) -> Any:
        from baselines.cogvideox.loading import make_pipeline

        return make_pipeline(components)

    def prepare_pipeline(self, pipe: Any) -> Any:
        """After loading (LoRA, adapters); the default does nothing."""
        return pipe

    def initial_latents(self, segment: NativeSegment) -> torch.Tensor:
        return seeded_gaussian(segment.latent_shape, segment.seed)

    def pipeline_kwargs(self, segment: NativeSegment) -> dict[str, Any]:
        return {}

    def extra_fingerprint(self) -> dict[str, str]:
        return {}

    # -- identity -----------------------------------------------------------------------------
    def fingerprint(self) -> dict[str, str]:
        root = self.weights_root()
        digest = hashlib.sha256()
        for path in sorted(root.glob("*/*.json")) + sorted(root.glob("*/*.safetensors")):
            digest.update(str(path.relative_to(root)).encode())
            digest.update(str(path.stat().st_size).encode())
            if path.suffix == ".json":
                digest.update(path.read_bytes())
        return {"name": self.name, "version": self.version, "weights_files_sha256": digest.hexdigest(),
                "dtype": self.dtype_name,
                "sampler": json.dumps({"steps": self.steps, "cfg_scale": self.cfg_scale,
                                       "use_dynamic_cfg": self.use_dynamic_cfg, "vae_tiling": self.vae_tiling},
                                      sort_keys=True),
                "grid_mapping": json.dumps(self.mapping.describe(), sort_keys=True), **self.extra_fingerprint()}

    # -- pipeline -----------------------------------------------------------------------------
    def pipeline(self) -> Any:
        """The loaded pipeline (weights are read on first use)."""
        if self._pipeline is None:
            from baselines.cogvideox.loading import load_components

            root, dtype = self.weights_root(), DTYPES[self.dtype_name]
            pipe = self.make_pipeline(load_components(root, dtype, self.load_transformer(root, dtype)))
            pipe = self.prepare_pipeline(pipe)
            pipe.set_progress_bar_config(disable=True)
            if self.vae_tiling:
                pipe.vae.enable_tiling()
            if self.offload == "model":
                pipe.enable_model_cpu_offload(device=self.device)
            elif self.offload == "sequential":
                pipe.enable_sequential_cpu_offload(device=self.device)
            else:
                pipe.to(self.device)
            self._pipeline = pipe
        return self._pipeline

    # -- the long-video loop ------------------------------------------------------------------
    def initial_state(self, sample: VideoSample) -> Mapping[str, np.ndarray]:
        return freeze_state({"segments": np.array([0], np.int64)})

    def native_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> NativeSegment:
        if "last_native_frame" in state:
            first = np.asarray(state["last_native_frame"], np.uint8)
        else:
            first = self.mapping.to_native_image(request.first_frame)
        native = self.mapping.native
        return NativeSegment(request=request, first_frame=first, caption=request.segment.caption,
                             seed=segment_seed(request.seed, request.segment.index),
                             latent_shape=configs.latent_shape(native.num_frames, native.height, native.width),
                             mapping=self.mapping)

    def generate_native(self, segment: NativeSegment) -> np.ndarray:
        """One native segment: uint8 (N, h, w, 3), as Go-with-the-Flow's inference calls the pipeline."""
        from PIL import Image
        from tqdm.auto import tqdm

        pipe = self.pipeline()
        native = self.mapping.native
        latents = self.initial_latents(segment)
        if tuple(latents.shape) != segment.latent_shape:
            raise ValueError(f"{self.name}: initial latents {tuple(latents.shape)} != {segment.latent_shape}")
        dtype = DTYPES[self.dtype_name]
        generator = torch.Generator(device="cpu").manual_seed(segment.seed)
        where = f"{segment.request.sample.video_id} clip {segment.request.segment.index}"
        with tqdm(total=self.steps, desc=where, leave=False, unit="step") as bar:
            def on_step(pipe_: Any, i: int, t: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
                bar.update(1)
                if self.latent_log is not None:
                    self.latent_log.append(kwargs["latents"].detach().float().cpu().clone())
                return {}

            out = pipe(image=Image.fromarray(segment.first_frame), prompt=segment.caption,
                       num_frames=native.num_frames, height=native.height, width=native.width,
                       num_inference_steps=self.steps, guidance_scale=self.cfg_scale,
                       use_dynamic_cfg=self.use_dynamic_cfg, latents=latents.to(dtype), generator=generator,
                       output_type="np", callback_on_step_end=on_step, **self.pipeline_kwargs(segment))
        frames = np.asarray(out.frames[0], np.float32)
        # upstream takes the pipeline's PIL frames (diffusers' numpy_to_pil: round(x * 255)) and saves those
        return np.round(np.clip(frames, 0.0, 1.0) * 255).astype(np.uint8)

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        segment = self.native_segment(request, state)
        frames = self.generate_native(segment)
        grid_frames = self.mapping.to_grid(frames, request.grid)
        new_state = {"last_native_frame": frames[-1].copy(),
                     "segments": np.array([int(np.asarray(state["segments"])[0]) + 1], np.int64),
                     **self.extra_state(segment, frames)}
        return SegmentOutput(frames=grid_frames, state=freeze_state(new_state))

    def extra_state(self, segment: NativeSegment, frames: np.ndarray) -> dict[str, np.ndarray]:
        """More arrays to carry to the next segment (subclasses); the default carries none."""
        return {}


__all__ = ["DTYPES", "OFFLOAD_MODES", "CogVideoXI2VModel", "NativeSegment", "seeded_gaussian", "segment_seed"]
