"""LongVie 2 and its Wan2.1 I2V base as ``VideoModel`` plug-ins (``longvie2``, ``wan2.1-i2v``).

The long-video state of LongVie 2 rides in the runner's per-segment ``.npz``: the last 8
generated frames at the working size (uint8, exactly what upstream feeds back), so a killed run
resumes at the next clip with the same history, first frame and noise as an uninterrupted one.
The next clip's first frame is the last *native* frame (upstream), not the grid-resized copy the
runner offers. The noise is drawn from the request's seed for every clip (unified noise); from
the second clip on its latent frame 0 is blended with the last history latent.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from longvgenbench.errors import MismatchError, OptionError
from longvgenbench.model import VideoModel
from longvgenbench.records import NativeFormat, SegmentOutput, SegmentRequest, VideoSample, freeze_state
from longvgenbench.video_io import read_frames
from longvie import checkpoint as ck
from longvie.config import DTYPES, GELU_BACKENDS, SamplerConfig
from longvie.pipeline import ATTENTION_BACKENDS, OFFLOAD_MODES, ClipInputs, ClipPipeline, resize_frames, seeded_noise
from longvie.vae_runtime import VaeRuntime


class LongVie2Model(VideoModel):
    """LongVie 2 (dual control, history context, unified noise) on diffusers' Wan2.1 I2V.

    Options: ``weights`` (a weights folder, see ``longvie.loading``; default: the registered
    official files), ``dtype`` (bf16 | fp32 | fp16), ``steps``, ``cfg_scale``, ``offload``
    (none | model | group), ``vae_tiling``, ``batched_cfg``, ``batched_vae`` (a clip's five 81-frame videos
    through the VAE encoder in one batch; off by default: on an H100 it was 0.2-0.35 s per clip slower than one
    by one), ``compile`` (torch.compile per block), ``compile_mode`` (its mode, e.g.
    ``max-autotune-no-cudagraphs``: 1% faster per step on an H100, about two minutes more to compile),
    ``attention`` (SDPA backend: auto | cudnn | flash | efficient | math; on an H200 with torch 2.11
    auto and cudnn measured the same, flash 22% slower per step; or fa4: FlashAttention-4 via
    ``longvie.fa4``, CUDA Hopper/Blackwell with flash-attn-4 installed, fp16/bf16), ``fa4_tile`` (FA4's forward
    tiles for self-attention, ``longvie.fa4.Fa4TilePlan``: ``auto``, the default, is the plan measured best on an
    H100 when the GPU is a Hopper and FA4's own choice elsewhere; ``default``; ``MxN[:rs|:nors][:ol|:nool]``;
    or per head count, ``40=192x128:nors,20=128x176``), ``gelu_epilogue``
    (the FFN up-projection and its GELU as one cuBLASLt call on CUDA in bf16/fp16, ``longvie.fused``; on by
    default, a no-op elsewhere and with ``offload=group``), ``gelu_backend`` (cublaslt | quack: whose GEMM runs
    that epilogue; quack's CuTe-DSL GEMM, ``longvie.quack_gelu``, needs a Hopper GPU and quack-kernels, and took
    17 ms less per step on an H100; default cublaslt), ``fused_qk_rope`` (self-attention's query/key
    RMSNorm + RoPE as one Triton kernel on CUDA, ``longvie.qk_rope``; on by default, plain torch elsewhere,
    off with ``offload=group``), ``fused_norms`` (each block's LayerNorms with their residual adds and
    modulation as Triton kernels on CUDA, ``longvie.block_norms``; on by default, plain torch elsewhere, off
    with ``offload=group``), ``cache_cross_attention`` (every block's cross-attention keys and values computed
    once per clip instead of every step, ``longvie.cross_cache``; 1.56 GiB more peak GPU memory at the real size;
    on by default, off with ``offload=group``), ``broadcast_guidance`` (batched guidance on one stream of
    latents with the two texts as the batch, so everything before the first cross-attention runs once,
    ``longvie.broadcast``; on by default, off with ``offload=group``), ``vae_dtype`` (auto | bf16 | fp32 | fp16;
    auto: for longvie2 the pipeline's ``dtype``, as upstream runs every component, for wan2.1-i2v fp32, as Wan's
    own code and diffusers run it), ``vae_channels_last`` (the VAE's convolutions in NDHWC on CUDA, measured
    faster on an H100; on by default, a no-op elsewhere), ``compile_vae`` (torch.compile of the
    VAE's encoder and decoder: on an H100 2-3 minutes of compiling in the first two clips; default: as ``compile``; see
    ``longvie.vae_runtime`` for the measured times), ``text_encoder_device`` (e.g. cpu),
    ``height`` / ``width`` (working size, 352x640 upstream),
    ``num_frames`` (frames per clip, 81 upstream; must equal the split's clip length),
    ``caption_refiner`` (off | qwen2.5-vl: each clip after the first gets its caption rewritten by
    Qwen2.5-VL-7B-Instruct for its new first frame, see ``longvie.refiner``; off by default) with
    ``refiner_model_dir`` (a local transformers folder; default: the registered pinned weights),
    ``refiner_device`` (default: ``device``), ``refiner_dtype``, ``refiner_max_new_tokens`` and
    ``refiner_prompt_file`` (a UTF-8 text file with the instruction to use instead of ours, containing
    ``{caption}``; its sha256 is recorded with every refinement).
    The captions a clip was generated with ride in the saved state (``longvie.refiner.captions_from_state``).
    ``components``: a folder with the diffusers encoders/decoder (``vae/``, ``text_encoder/``, ``tokenizer/``,
    ``image_encoder/``, ``image_processor/``) when ``weights`` is an original-format Wan2.1 folder without them
    (default: the weights folder itself).
    """

    name: ClassVar[str] = "longvie2"
    #: 2: the VAE runs in the pipeline dtype by default (``vae_dtype=auto``; it was always float32)
    version: ClassVar[str] = "2"
    #: what ``vae_dtype=auto`` means: None follows ``dtype`` (upstream DiffSynth-Studio casts every component)
    auto_vae_dtype: ClassVar[str | None] = None
    needs_weights: ClassVar[bool] = True
    uses_controls: ClassVar[bool] = True
    uses_history: ClassVar[bool] = True

    def __init__(self, device: str = "cpu", *, weights: str | None = None, dtype: str = "bf16", steps: int = 50,
                 cfg_scale: float = 5.0, offload: str = "none", vae_tiling: bool = False, batched_cfg: bool = True,
                 compile: bool = False, text_encoder_device: str | None = None, height: int = 352,
                 width: int = 640, num_frames: int = 81, attention: str = "auto", caption_refiner: str = "off",
                 refiner_model_dir: str | None = None, refiner_device: str | None = None, refiner_dtype: str = "auto",
                 refiner_max_new_tokens: int = 1024, refiner_prompt_file: str | None = None,
                 components: str | None = None, batched_vae: bool = False, fa4_tile: str = "auto",
                 gelu_epilogue: bool = True, gelu_backend: str = "cublaslt", fused_qk_rope: bool = True,
                 compile_mode: str | None = None,
                 fused_norms: bool = True, cache_cross_attention: bool = True,
                 broadcast_guidance: bool = True, vae_dtype: str = "auto", vae_channels_last: bool = True,
                 compile_vae: bool | None = None) -> None:
        super().__init__(device=device)
        from longvie.refiner import REFINE_PROMPT, REFINERS, CaptionRefiner, read_prompt_file

        if caption_refiner not in REFINERS:
            raise OptionError(f"{self.name}: caption_refiner must be one of {list(REFINERS)}, got {caption_refiner!r}")
        self.refiner = None if caption_refiner == "off" else CaptionRefiner(
            refiner_model_dir, device=refiner_device or device, dtype=refiner_dtype,
            max_new_tokens=refiner_max_new_tokens,
            prompt=REFINE_PROMPT if refiner_prompt_file is None else read_prompt_file(refiner_prompt_file))
        if attention not in ATTENTION_BACKENDS:
            raise OptionError(f"{self.name}: attention must be one of {list(ATTENTION_BACKENDS)}, got {attention!r}")
        self.attention = attention
        from longvie.fa4 import Fa4TilePlan

        try:
            self.fa4_tile = Fa4TilePlan.parse(str(fa4_tile))
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        if attention != "fa4":  # no FA4 calls: no tiles (and none reported)
            if fa4_tile not in ("auto", "default"):
                raise OptionError(f"{self.name}: fa4_tile={fa4_tile!r} needs attention=fa4, "
                                  f"got attention={attention!r}")
            self.fa4_tile = Fa4TilePlan()
        self.gelu_epilogue, self.fused_qk_rope = bool(gelu_epilogue), bool(fused_qk_rope)
        self.gelu_backend = self._checked_gelu_backend(gelu_backend, device)
        self.fused_norms, self.cache_cross_attention = bool(fused_norms), bool(cache_cross_attention)
        self.broadcast_guidance = bool(broadcast_guidance)
        if attention == "fa4":  # fail before loading 14B of weights
            from longvie.fa4 import require_fa4

            if not str(device).startswith("cuda") or dtype == "fp32":
                raise OptionError(f"{self.name}: attention=fa4 needs a CUDA device and dtype bf16 or fp16, "
                                  f"got device={device!r}, dtype={dtype!r}")
            require_fa4()
        if dtype not in DTYPES:
            raise OptionError(f"{self.name}: dtype must be one of {sorted(DTYPES)}, got {dtype!r}")
        if vae_dtype != "auto" and vae_dtype not in DTYPES:
            raise OptionError(f"{self.name}: vae_dtype must be auto or one of {sorted(DTYPES)}, got {vae_dtype!r}")
        #: the VAE's dtype name, auto resolved
        self.vae_dtype_name = vae_dtype if vae_dtype != "auto" else (self.auto_vae_dtype or dtype)
        self.vae_channels_last = bool(vae_channels_last)
        if offload not in OFFLOAD_MODES:
            raise OptionError(f"{self.name}: offload must be one of {list(OFFLOAD_MODES)}, got {offload!r}")
        try:
            self.sampler = SamplerConfig(steps=int(steps), cfg_scale=float(cfg_scale), height=int(height),
                                         width=int(width), num_frames=int(num_frames))
        except ValueError as exc:
            raise OptionError(f"{self.name}: {exc}") from exc
        self.weights = Path(weights) if weights else None
        self.components = Path(components) if components else None
        self.dtype_name, self.offload, self.vae_tiling = dtype, offload, bool(vae_tiling)
        self.batched_cfg, self.compile, self.text_encoder_device = bool(batched_cfg), bool(compile), text_encoder_device
        self.batched_vae = bool(batched_vae)
        self.compile_mode = None if compile_mode in (None, "", "default") else str(compile_mode)
        self.compile_vae = self.compile if compile_vae is None else bool(compile_vae)
        if self.compile_mode is not None and not self.compile:
            raise OptionError(f"{self.name}: compile_mode={compile_mode!r} needs compile=true")
        self._pipeline: ClipPipeline | None = None
        #: the noise tensor of every clip generated by this instance, in order (tests check reuse)
        self.noise_log: list[torch.Tensor] = []

    @property
    def native(self) -> NativeFormat:
        return NativeFormat(num_frames=self.sampler.num_frames, fps=16.0, height=self.sampler.height,
                            width=self.sampler.width)

    # -- weights -------------------------------------------------------------------------------
    def _weights_root(self) -> Path:
        if self.weights is not None:
            return self.weights
        from longvie.catalog import official_weights_folder

        return official_weights_folder(with_controller=self.uses_controls)

    def fingerprint(self) -> dict[str, str]:
        from longvie.loading import WeightsFolder

        folder = WeightsFolder.find(self._weights_root(), with_controller=self.uses_controls)
        digest = hashlib.sha256()
        for path in (*folder.transformer_shards, folder.overlay, folder.control):
            if path is not None:
                digest.update(path.name.encode())
                digest.update(json.dumps({k: [list(v.shape), v.dtype] for k, v in
                                          sorted(ck.read_header(path).items())}).encode())
                digest.update(str(path.stat().st_size).encode())
        identity = {"name": self.name, "version": self.version, "weights_headers_sha256": digest.hexdigest(),
                    "dtype": self.dtype_name, "sampler": json.dumps(self.sampler.to_dict(), sort_keys=True)}
        if self.components is not None:
            identity["components"] = str(self.components)
        if self.vae_dtype_name != "fp32":  # only then, so runs with version 1's float32 VAE keep their identity
            identity["vae_dtype"] = self.vae_dtype_name
        if self.refiner is not None:  # only when on, so runs without it keep their identity
            self.refiner.check_available()  # fail at the start, not after the first clip
            identity["caption_refiner"] = json.dumps(self.refiner.fingerprint(), sort_keys=True)
        return identity

    def _checked_gelu_backend(self, backend: str, device: str) -> str:
        """``gelu_backend`` validated before any weights load (quack: a Hopper GPU with quack-kernels)."""
        if backend not in GELU_BACKENDS:
            raise OptionError(f"{self.name}: gelu_backend must be one of {list(GELU_BACKENDS)}, got {backend!r}")
        if backend == "quack" and self.gelu_epilogue:
            from longvie.quack_gelu import quack_gelu_available

            if not (str(device).startswith("cuda") and quack_gelu_available(torch.device(device))):
                raise OptionError(f"{self.name}: gelu_backend=quack needs a Hopper (SM90) CUDA device and the "
                                  f"quack-kernels package (pip install quack-kernels), got device={device!r}")
        return backend

    def pipeline(self) -> ClipPipeline:
        """The loaded pipeline (weights are read on first use)."""
        if self._pipeline is None:
            from longvie.loading import WeightsFolder, load_components, load_transformer

            root = self._weights_root()
            dtype = DTYPES[self.dtype_name]
            transformer = load_transformer(WeightsFolder.find(root, self.uses_controls), dtype)
            grouped = self.offload == "group"  # weights reach the GPU through module hooks the kernels bypass
            transformer.set_gelu_epilogue(self.gelu_epilogue and not grouped, self.gelu_backend)
            transformer.set_fused_qk_rope(self.fused_qk_rope and not grouped)
            transformer.set_fused_block_norms(self.fused_norms and not grouped)
            transformer.set_cross_attention_cache(self.cache_cross_attention and not grouped)
            transformer.set_broadcast_guidance(self.broadcast_guidance and not grouped)  # not tried with the hooks
            if self.compile:
                transformer.compile_blocks(self.compile_mode)
            components = load_components(self.components or root, dtype)
            vae = VaeRuntime(dtype=DTYPES[self.vae_dtype_name],
                             channels_last=self.vae_channels_last and str(self.device).startswith("cuda"),
                             compiled=self.compile_vae)
            self._pipeline = ClipPipeline(transformer, components, self.sampler, self.device, dtype,
                                          text_encoder_device=self.text_encoder_device, offload=self.offload,
                                          vae_tiling=self.vae_tiling, batched_cfg=self.batched_cfg,
                                          attention=self.attention, batched_vae=self.batched_vae,
                                          fa4_tiles=self.fa4_tile, vae_runtime=vae)
        return self._pipeline

    # -- the long-video loop -------------------------------------------------------------------
    def initial_state(self, sample: VideoSample) -> Mapping[str, np.ndarray]:
        h, w = self.sampler.height, self.sampler.width
        return freeze_state({"history": np.zeros((0, h, w, 3), np.uint8), "clip": np.array([0], np.int64)})

    def _controls(self, request: SegmentRequest) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.uses_controls:
            return None, None
        controls, segment = request.segment.controls, request.segment
        missing = [n for n, p in (("depth_video", controls.depth_video), ("track_video", controls.track_video))
                   if p is None]
        if missing:
            raise MismatchError(f"{self.name} needs depth and track videos; segment {segment.index} of "
                                f"{request.sample.video_id!r} has no {', '.join(missing)}")
        out = []
        for path in (controls.depth_video, controls.track_video):
            frames = read_frames(path)
            if frames.shape[0] != self.sampler.num_frames:
                raise MismatchError(f"{path} has {frames.shape[0]} frames, {self.name} needs "
                                    f"{self.sampler.num_frames} per clip")
            out.append(frames)
        return out[0], out[1]

    def generate_segment(self, request: SegmentRequest, state: Mapping[str, np.ndarray]) -> SegmentOutput:
        from tqdm.auto import tqdm

        history = np.asarray(state["history"]) if self.uses_history else np.zeros((0,), np.uint8)
        h, w = self.sampler.height, self.sampler.width
        first = history[-1] if len(history) else resize_frames(request.first_frame, h, w)
        depth, track = self._controls(request)
        caption, caption_state = self._caption(request, first, state)
        pipe = self.pipeline()
        noise = seeded_noise(pipe.noise_shape(), request.seed)
        self.noise_log.append(noise)
        inputs = ClipInputs(first_frame=first, caption=caption, depth=depth, track=track,
                            history=history if len(history) else None)
        with tqdm(total=self.sampler.steps, desc=f"{request.sample.video_id} clip {request.segment.index}",
                  leave=False, unit="step") as bar:
            frames = pipe.generate(inputs, noise, on_step=lambda k, n: bar.update(1))
        new_state = {"history": frames[-self.sampler.history_frames:].copy(),
                     "clip": np.array([int(state["clip"][0]) + 1], np.int64), **caption_state}
        return SegmentOutput(frames=frames, state=freeze_state(new_state))

    def _caption(self, request: SegmentRequest, first: np.ndarray, state: Mapping[str, np.ndarray]
                 ) -> tuple[str, dict[str, np.ndarray]]:
        """The clip's caption, and the state arrays recording every caption so far (refiner on only).

        Clip 0 keeps the benchmark caption (its first frame is the ground truth); later clips are
        refined from their first frame, the previous clip's last generated frame.
        """
        caption = request.segment.caption
        if self.refiner is None:
            return caption, {}
        refined = False
        if request.segment.index > 0:
            result = self.refiner.refine(np.ascontiguousarray(first), caption)
            caption, refined = result.caption, result.refined
        earlier = {key: [str(v) for v in state.get(key, np.zeros(0, np.str_))]
                   for key in ("original_captions", "captions")}
        flags = [bool(v) for v in state.get("caption_refined", np.zeros(0, bool))]
        return caption, {"original_captions": np.array([*earlier["original_captions"], request.segment.caption],
                                                       np.str_),
                         "captions": np.array([*earlier["captions"], caption], np.str_),
                         "caption_refined": np.array([*flags, refined], bool)}


class Wan21I2VModel(LongVie2Model):
    """The Wan2.1-I2V-14B-480P base alone, clip by clip from the last frame (no controls, no history)."""

    name: ClassVar[str] = "wan2.1-i2v"
    version: ClassVar[str] = "1"
    auto_vae_dtype: ClassVar[str | None] = "fp32"  # as Wan's own I2V code and diffusers' pipeline run it
    uses_controls: ClassVar[bool] = False
    uses_history: ClassVar[bool] = False


def options_of(model: LongVie2Model) -> dict[str, Any]:
    """The generation options of a model instance (for reports)."""
    return {"dtype": model.dtype_name, "offload": model.offload, "vae_tiling": model.vae_tiling,
            "batched_cfg": model.batched_cfg, "batched_vae": model.batched_vae, "attention": model.attention,
            "fa4_tile": str(model.fa4_tile), "gelu_epilogue": model.gelu_epilogue,
            "gelu_backend": model.gelu_backend,
            "fused_qk_rope": model.fused_qk_rope, "fused_norms": model.fused_norms,
            "cache_cross_attention": model.cache_cross_attention, "broadcast_guidance": model.broadcast_guidance,
            "vae_dtype": model.vae_dtype_name, "vae_channels_last": model.vae_channels_last,
            "compile_vae": model.compile_vae,
            "caption_refiner": "off" if model.refiner is None else model.refiner.name, **model.sampler.to_dict()}


__all__ = ["LongVie2Model", "Wan21I2VModel", "options_of"]
