"""The training loop, driven by ``accelerate`` (one process per GPU through ``accelerate launch``).

Run it through the CLI (``longvgenbench train``) or, on several GPUs::

    accelerate launch --num_processes 8 -m longvie.training.train --stage I --split splits/mine \\
        --out runs/train-I --weights /w/longvie2-weights --mixed-precision bf16 --gradient-checkpointing

``--weights`` is the inference side's weights folder (``longvie.loading``: the layout of
Wan-AI/Wan2.1-I2V-14B-480P-Diffusers, plus ``longvie2/control.safetensors`` to continue from);
without a control file the controller starts fresh (zero-initialised inputs and fusion).

What makes it resumable and reproducible: the data order and every random draw (history length,
degradations, timestep, noise) are functions of (seed, micro-step, process), not of a stateful
loader, so a run resumed from a checkpoint draws exactly what an uninterrupted run would have.
Checkpoints hold the controller in the **official** ``control.safetensors`` naming (and, when the
self-attention is trained, a ``dit.safetensors`` overlay in original Wan naming), so the inference
side loads its own training output with its header check; ``state/`` is accelerate's full state.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from longvgenbench.atomic import write_text as atomic_write_text
from longvgenbench.errors import OptionError, OutputDirError
from longvie.training.data import TrainingClips
from longvie.training.schedule import TrainingSchedule
from longvie.training.stages import StageConfig, stage
from longvie.training.step import prepare_sample, sample_loss

LATEST_JSON = "latest.json"
LOSSES_JSONL = "losses.jsonl"
TINY_BASE = "base.safetensors"
SIZES = ("tiny", "folder")


@dataclass(frozen=True)
class TrainOptions:
    """Everything a training run depends on (recorded in every checkpoint; a resume must match)."""

    split: str
    out: Path
    stage: str = "I"
    size: str = "tiny"  # tiny: random CPU-sized model + encoders; folder: a weights folder (--weights)
    steps: int = 100
    learning_rate: float | None = None  # None: the stage's (upstream's) rate
    self_attention: bool = False
    seed: int = 0
    height: int = 352
    width: int = 640
    num_frames: int = 81
    gradient_accumulation: int = 2
    mixed_precision: str = "no"  # "no" | "bf16" | "fp16"
    checkpoint_every: int = 500
    init_control: Path | None = None  # a control.safetensors to start from (e.g. the previous stage's)
    weights: Path | None = None  # size "folder": the inference side's weights folder
    gradient_checkpointing: bool = False

    def __post_init__(self) -> None:
        if self.size not in SIZES:
            raise OptionError(f"size must be one of {SIZES}, got {self.size!r}")
        if self.steps < 1 or self.gradient_accumulation < 1 or self.checkpoint_every < 1:
            raise OptionError("steps, gradient_accumulation and checkpoint_every must be >= 1")
        stage(self.stage)  # validates the name
        if (self.size == "folder") != (self.weights is not None):
            raise OptionError("--weights (a weights folder) goes with --size folder, and only with it")

    def identity(self) -> dict[str, object]:
        """The fields a resumed run must share with the run it continues."""
        return {"split": self.split, "stage": self.stage, "size": self.size, "seed": self.seed,
                "height": self.height, "width": self.width, "num_frames": self.num_frames,
                "gradient_accumulation": self.gradient_accumulation, "self_attention": self.self_attention}

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        return {k: (str(v) if isinstance(v, Path) else [str(p) for p in v] if isinstance(v, tuple) else v)
                for k, v in data.items()}


@dataclass(frozen=True)
class TrainResult:
    steps: int
    checkpoint: Path  # the last checkpoint directory (control.safetensors inside)
    losses: tuple[dict[str, float], ...] = field(default=())  # per optimiser step of this invocation


def _trainable(model: torch.nn.Module, self_attention: bool) -> list[torch.nn.Parameter]:
    from longvie.checkpoint import is_self_attention

    model.requires_grad_(False)
    model.controller.requires_grad_(True)
    if self_attention:
        for name, param in model.named_parameters():
            if is_self_attention(name):
                param.requires_grad_(True)
    return [p for p in model.parameters() if p.requires_grad]


def build_model_and_encoders(options: TrainOptions, device: torch.device):
    """The transformer (base frozen, controller trainable) and the frozen encoders for ``options.size``."""
    from longvie.checkpoint import check_control, load_file_checked
    from longvie.config import TINY_CONFIG
    from longvie.model import LongVie2Transformer
    from longvie.training.encoders import tiny_encoders

    if options.size == "tiny":
        torch.manual_seed(options.seed)
        model = LongVie2Transformer(TINY_CONFIG)
        encoders = tiny_encoders(TINY_CONFIG.text_dim, TINY_CONFIG.image_dim, seed=options.seed)
    else:
        model, encoders = _from_folder(options, device)
    if options.init_control is not None:
        load_file_checked(model, Path(options.init_control), check_control, "initial control checkpoint")
    if options.gradient_checkpointing:
        model.gradient_checkpointing = True
    return model, encoders


def _from_folder(options: TrainOptions, device: torch.device):
    """Load through the inference side (same header checks, same encoders); a fresh controller if it has none."""
    from dataclasses import replace

    from longvie.config import SamplerConfig
    from longvie.loading import WeightsFolder, config_from_folder, load_components, load_transformer
    from longvie.model import DualController
    from longvie.pipeline import ClipPipeline
    from longvie.training.encoders import PipelineEncoders

    root = Path(options.weights)  # type: ignore[arg-type]
    has_control = (root / "longvie2" / "control.safetensors").is_file()
    folder = WeightsFolder.find(root, with_controller=has_control)
    config = config_from_folder(folder)
    if not has_control:  # upstream's shape: 12 half-width layers (fewer for a base with fewer blocks)
        config = replace(config, control_layers=min(12, config.num_layers), control_heads=config.num_heads // 2,
                         control_ffn_dim=config.ffn_dim // 2)
    dtype = torch.bfloat16 if options.mixed_precision == "bf16" else torch.float32
    model = load_transformer(folder, dtype=dtype, config=config)
    if not has_control:
        model.controller = DualController(config)
    model.controller.float()  # trained in fp32 (accelerate autocasts the forward)
    sampler = SamplerConfig(height=options.height, width=options.width, num_frames=options.num_frames)
    pipeline = ClipPipeline(model, load_components(root), sampler, device=str(device), dtype=dtype)
    model.controller.float()
    return model, PipelineEncoders(pipeline)


def save_overlay(model: torch.nn.Module, path: Path) -> Path:
    """The trained self-attention as ``dit.safetensors``: original Wan names (``blocks.N.self_attn.q.weight``)."""
    from safetensors.torch import save_file

    from longvgenbench.atomic import atomic_path
    from longvie.checkpoint import is_self_attention

    inverse = {"to_q": "q", "to_k": "k", "to_v": "v", "to_out.0": "o", "norm_q": "norm_q", "norm_k": "norm_k"}
    state = {}
    for name, tensor in model.state_dict().items():
        if is_self_attention(name):
            rest = name[len("base."):].replace(".attn1.", ".self_attn.")
            for ours, theirs in inverse.items():
                rest = rest.replace(f".self_attn.{ours}.", f".self_attn.{theirs}.")
            state[rest] = tensor.detach().contiguous().cpu()
    with atomic_path(path) as tmp:
        save_file(state, str(tmp))
    return path


def _order(num_clips: int, seed: int, epoch: int, process: int, processes: int) -> np.ndarray:
    perm = np.random.default_rng([seed, epoch]).permutation(num_clips)
    return perm[process::processes] if len(perm) >= processes else perm


def train(options: TrainOptions, *, progress: bool = True) -> TrainResult:
    """Train ``options.stage`` for ``options.steps`` optimiser steps (resuming from ``options.out`` if it has a run)."""
    from accelerate import Accelerator

    from longvie.checkpoint import save_control

    cfg: StageConfig = stage(options.stage).with_options(learning_rate=options.learning_rate,
                                                         self_attention=options.self_attention)
    out = Path(options.out)
    accelerator = Accelerator(gradient_accumulation_steps=options.gradient_accumulation,
                              mixed_precision=options.mixed_precision, cpu=not torch.cuda.is_available())
    clips = TrainingClips(options.split, height=options.height, width=options.width, num_frames=options.num_frames)
    model, encoders = build_model_and_encoders(options, accelerator.device)
    if options.size == "tiny" and accelerator.is_main_process:
        from safetensors.torch import save_file  # the random tiny base, so inference can rebuild the same model

        out.mkdir(parents=True, exist_ok=True)
        save_file({k: v.contiguous() for k, v in model.base.state_dict().items()}, str(out / TINY_BASE))
    params = _trainable(model, cfg.self_attention)
    optimizer = torch.optim.AdamW(params, lr=cfg.learning_rate, weight_decay=cfg.weight_decay)
    model, optimizer = accelerator.prepare(model, optimizer)
    raw_model = accelerator.unwrap_model(model)

    step, micro, kept = _resume(out, options, accelerator)
    schedule = TrainingSchedule()
    per_process = len(_order(len(clips), options.seed, 0, accelerator.process_index, accelerator.num_processes))
    losses: list[dict[str, float]] = []
    bar = tqdm(total=options.steps, initial=step, desc=f"train stage {cfg.name}",
               disable=not (progress and accelerator.is_local_main_process))
    last_dir = out / "checkpoints" / f"step-{step:06d}"
    while step < options.steps:
        epoch, position = divmod(micro, per_process)
        index = int(_order(len(clips), options.seed, epoch, accelerator.process_index,
                           accelerator.num_processes)[position])
        rng = np.random.default_rng([options.seed, micro, accelerator.process_index])
        gen = torch.Generator().manual_seed(int(rng.integers(2**62)))
        sample = prepare_sample(clips[index], cfg, encoders, rng, model=raw_model, device=accelerator.device,
                                generator=gen)
        noise = torch.randn(sample.latents.shape, generator=gen).to(accelerator.device)
        with accelerator.accumulate(model):
            terms = sample_loss(model, sample, schedule, schedule.sample_index(gen), noise)
            accelerator.backward(terms.total)
            optimizer.step()
            optimizer.zero_grad()
        micro += 1
        if not accelerator.sync_gradients:
            continue
        step += 1
        row = {"step": step, **terms.as_floats(), "degraded": float(sample.degraded),
               "history_frames": float(sample.history_frames)}
        losses.append(row)
        kept.append(row)
        bar.update(1)
        bar.set_postfix(loss=f"{row['total']:.4g}")
        if step % options.checkpoint_every == 0 or step == options.steps:
            last_dir = _checkpoint(out, step, micro, options, accelerator, raw_model, kept, save_control)
    bar.close()
    accelerator.wait_for_everyone()
    return TrainResult(steps=step, checkpoint=last_dir, losses=tuple(losses))


def _resume(out: Path, options: TrainOptions, accelerator) -> tuple[int, int, list[dict[str, float]]]:
    latest = out / LATEST_JSON
    if not latest.is_file():
        return 0, 0, []
    info = json.loads(latest.read_text())
    if info.get("identity") != json.loads(json.dumps(options.identity())):
        raise OutputDirError(f"{out} holds a training run with other settings ({info.get('identity')}); "
                             f"use another --out or the same settings to resume")
    accelerator.load_state(str(out / info["checkpoint"] / "state"))
    kept = []
    losses = out / LOSSES_JSONL
    if losses.is_file():
        kept = [r for r in map(json.loads, losses.read_text().splitlines()) if r["step"] <= info["step"]]
    return int(info["step"]), int(info["micro"]), kept


def _checkpoint(out: Path, step: int, micro: int, options: TrainOptions, accelerator, model, kept, save_control
                ) -> Path:
    folder = out / "checkpoints" / f"step-{step:06d}"
    accelerator.wait_for_everyone()
    accelerator.save_state(str(folder / "state"))
    if accelerator.is_main_process:
        save_control(model, folder / "control.safetensors")
        if options.self_attention:
            save_overlay(model, folder / "dit.safetensors")
        atomic_write_text(out / LOSSES_JSONL, "".join(json.dumps(r) + "\n" for r in kept))
        info = {"step": step, "micro": micro, "checkpoint": str(folder.relative_to(out)),
                "identity": options.identity(), "options": options.to_json()}
        atomic_write_text(folder / "trainer.json", json.dumps(info, indent=2))
        atomic_write_text(out / LATEST_JSON, json.dumps(info, indent=2))  # written last: the checkpoint is whole
    accelerator.wait_for_everyone()
    return folder


if __name__ == "__main__":  # `accelerate launch -m longvie.training.train ...`
    from longvie.training.cli import train_command

    train_command()
