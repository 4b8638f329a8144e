"""``longvgenbench train``: LongVie 2's training stages (a plug-in command of the ``longvie`` package)."""

from __future__ import annotations

import os
from pathlib import Path

import click


@click.command("train")
@click.option("--split", required=True, help="Split directory, LongVie folder or registered split name.")
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Run directory (resumed if it exists).")
@click.option("--stage", type=click.Choice(["I", "II", "III"]), default="I", show_default=True)
@click.option("--size", type=click.Choice(["tiny", "folder"]), default="tiny", show_default=True,
              help="tiny: random CPU-sized model and encoders (smoke runs); folder: the weights in --weights.")
@click.option("--steps", type=int, default=100, show_default=True, help="Optimiser steps.")
@click.option("--lr", "learning_rate", type=float, default=None, help="Learning rate (default: the stage's).")
@click.option("--self-attention/--no-self-attention", default=False, show_default=True,
              help="Also train the base self-attention (saved as a dit.safetensors overlay).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--height", type=int, default=352, show_default=True)
@click.option("--width", type=int, default=640, show_default=True)
@click.option("--frames", "num_frames", type=int, default=81, show_default=True, help="Frames per clip (1 + 4k).")
@click.option("--grad-accum", "gradient_accumulation", type=int, default=2, show_default=True)
@click.option("--mixed-precision", type=click.Choice(["no", "bf16", "fp16"]), default="no", show_default=True)
@click.option("--checkpoint-every", type=int, default=500, show_default=True)
@click.option("--init-control", type=click.Path(exists=True, dir_okay=False, path_type=Path), default=None,
              help="control.safetensors to start from (e.g. the previous stage's).")
@click.option("--weights", type=click.Path(path_type=Path), default=None,
              help="A weights folder as inference reads it (Wan2.1-I2V-14B-480P-Diffusers layout + longvie2/).")
@click.option("--gradient-checkpointing/--no-gradient-checkpointing", default=False, show_default=True)
def train_command(**kwargs: object) -> None:
    """Train one LongVie 2 stage on a split; checkpoints are official-format control.safetensors.

    \b
    Examples:
      longvgenbench train --split synthetic-mini --out runs/train-tiny --size tiny --steps 30 \\
          --height 64 --width 64 --frames 5 --lr 1e-3 --grad-accum 1
      accelerate launch --num_processes 8 -m longvie.training.train --split splits/mine --out runs/t1 \\
          --stage I --size folder --weights weights/longvie2 --mixed-precision bf16 --gradient-checkpointing
    Stage II/III start from the previous stage: --init-control runs/t1/checkpoints/step-001000/control.safetensors
    """
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from longvie.training.train import TrainOptions, train

    options = TrainOptions(**kwargs)  # type: ignore[arg-type]
    result = train(options)
    last = result.losses[-1]["total"] if result.losses else None
    click.echo(f"stage {options.stage}: {result.steps} steps; checkpoint {result.checkpoint / 'control.safetensors'}"
               + (f"; last loss {last:.4g}" if last is not None else ""))
