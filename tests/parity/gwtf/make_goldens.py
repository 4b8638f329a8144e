"""Make the Go-with-the-Flow parity goldens by running the PUBLISHED code (outside this repository).

Published Go-with-the-Flow inference = upstream's noise warping (``CommonSource/noise_warp.py``:
``NoiseWarper``, ``mix_new_noise``; driven by ``get_noise_from_video``'s loop) + its
``cut_and_drag_inference.py`` (temporal noise downsampling, ``load_lora_weights``, the pipeline
call) + diffusers' ``CogVideoXImageToVideoPipeline``. Run (README.md says how to lay out the
upstream files; they are never committed):

    PYTHONPATH=/tmp/gwtf_deps HF_HUB_OFFLINE=1 .venv/bin/python tests/parity/gwtf/make_goldens.py \
        --upstream /tmp/gwtf_upstream --gwtf-commit cc7772e --commonsource-commit 28f1b68

Run-time changes to upstream, all listed in goldens.json: the ``raft`` and ``background_remover``
modules that ``noise_warp`` imports at the top are stubbed (the flow is given, no background is
removed); ``get_noise_from_video``'s loop is re-stated without RAFT, visualisation and files,
calling upstream's ``NoiseWarper`` and the same ``rp.torch_resize_image(.., 'area') * factor``
downscale; its float16 storage of the noises is skipped (fp32 parity);
``get_downtemp_noise``'s hard-coded 13 latent frames become 3 (``rp.resize_list(noise, 3)``, the
tiny 9-frame segment); ``get_pipe``'s loading calls are re-stated in fp32 on CPU with local
folders (no ``enable_sequential_cpu_offload``); a ``callback_on_step_end`` records the latents.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import types
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).parent
NATIVE_FRAMES, HEIGHT, WIDTH = 9, 32, 48
FLOW_H, FLOW_W = HEIGHT // 2, WIDTH // 2  # upstream: flow at half the frame size (FRAME = 1/2)
RESIZE_FLOW, DOWNSCALE = 8, 32  # upstream: FLOW = 8, downscale_factor = round(FRAME * FLOW) * LATENT = 32
NOISE_SEED, PIPE_SEED, DEGRADATION, STEPS, CFG = 11, 12, 0.5, 30, 6.0
LORA_RANK = 4
PROMPT = "a car moves on the road"


def synthetic_flows() -> np.ndarray:
    """8 forward flows (2, 16, 24): a swirl with zoom and a drift, non-integer everywhere."""
    ys, xs = np.mgrid[0:FLOW_H, 0:FLOW_W].astype(np.float64)
    out = []
    for t in range(NATIVE_FRAMES - 1):
        dx = 0.37 + 0.8 * np.sin(ys / 3.0 + 0.4 * t) + 0.05 * (xs - FLOW_W / 2)
        dy = -0.21 + 0.6 * np.cos(xs / 4.0 - 0.3 * t) + 0.05 * (ys - FLOW_H / 2)
        out.append(np.stack([dx, dy]))
    return np.stack(out).astype(np.float32)


def load_upstream(upstream: Path):
    for name in ("raft", "background_remover"):  # imported at the top of noise_warp; unused with a given flow
        stub = types.ModuleType(name)
        stub.RaftOpticalFlow = stub.BackgroundRemover = object
        sys.modules[name] = stub
    spec = importlib.util.spec_from_file_location("noise_warp", upstream / "CommonSource" / "noise_warp.py")
    nw = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(nw)
    for name in ("rp.git", "rp.git.CommonSource"):
        sys.modules.setdefault(name, types.ModuleType(name))
    sys.modules["rp.git.CommonSource.noise_warp"] = nw
    sys.path.insert(0, str(upstream))
    import cut_and_drag_inference as cdi

    return nw, cdi


def write_weights(root: Path) -> Path:
    sys.path.insert(0, str(HERE.parents[1]))
    from gwtf_tiny import write_tiny_lora

    from baselines.cogvideox.tiny import write_tiny_folder

    write_tiny_folder(root, NATIVE_FRAMES, HEIGHT, WIDTH, seed=0)
    write_tiny_lora(root / "lora.safetensors", num_layers=2, inner_dim=32, rank=LORA_RANK, seed=7)
    return root


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--upstream", type=Path, required=True)
    parser.add_argument("--gwtf-commit", required=True)
    parser.add_argument("--commonsource-commit", required=True)
    args = parser.parse_args()
    import diffusers
    import rp
    from diffusers import AutoencoderKLCogVideoX, CogVideoXDPMScheduler, CogVideoXImageToVideoPipeline
    from diffusers import CogVideoXTransformer3DModel as Transformer
    from PIL import Image
    from safetensors.torch import save_file
    from transformers import AutoTokenizer, T5EncoderModel

    nw, cdi = load_upstream(args.upstream)
    weights = write_weights(HERE / "weights")
    flows = synthetic_flows()

    # -- noise: get_noise_from_video's loop with upstream's NoiseWarper --------------------------
    torch.manual_seed(NOISE_SEED)
    warper = nw.NoiseWarper(c=16, h=RESIZE_FLOW * FLOW_H, w=RESIZE_FLOW * FLOW_W, device="cpu")

    def downscale_noise(noise):
        return rp.torch_resize_image(noise, 1 / DOWNSCALE, interp="area") * DOWNSCALE

    noises = [downscale_noise(warper.noise)]
    for dx, dy in flows:
        noises.append(downscale_noise(warper(dx, dy).noise))
    per_frame = torch.stack(noises)  # F C H W (upstream saves F H W C as float16; kept fp32 here)
    downtemp = rp.resize_list(per_frame, (NATIVE_FRAMES - 1) // 4 + 1)[None]  # get_downtemp_noise 'nearest'
    noise = cdi.nw.mix_new_noise(downtemp, DEGRADATION)  # as load_sample_cartridge does

    # -- pipeline: get_pipe's loading in fp32 + run_pipe's call --------------------------------
    transformer = Transformer.from_pretrained(weights, subfolder="transformer", torch_dtype=torch.float32)
    text_encoder = T5EncoderModel.from_pretrained(weights, subfolder="text_encoder", dtype=torch.float32)
    vae = AutoencoderKLCogVideoX.from_pretrained(weights, subfolder="vae", torch_dtype=torch.float32)
    pipe = CogVideoXImageToVideoPipeline(tokenizer=AutoTokenizer.from_pretrained(weights / "tokenizer"),
                                         text_encoder=text_encoder, vae=vae, transformer=transformer,
                                         scheduler=CogVideoXDPMScheduler.from_pretrained(weights / "scheduler"))
    pipe.load_lora_weights(str(weights / "lora.safetensors"))
    rng = np.random.default_rng(3)
    first = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
    steps: list[torch.Tensor] = []

    def record(pipe_, i, t, kwargs):
        steps.append(kwargs["latents"].detach().clone())
        return {}

    torch.manual_seed(PIPE_SEED)  # upstream passes no generator: the image latent is sampled from the global RNG
    video = pipe(prompt=PROMPT, image=Image.fromarray(first), num_inference_steps=STEPS, latents=noise,
                 guidance_scale=CFG, callback_on_step_end=record,
                 num_frames=NATIVE_FRAMES, height=HEIGHT, width=WIDTH).frames[0]  # upstream: the 49x480x720 defaults
    frames = np.stack([np.asarray(f) for f in video])

    tensors = {"flows": torch.from_numpy(flows), "first_frame": torch.from_numpy(first),
               "per_frame_noise": per_frame.float(), "noise": noise.float(), "latents_step1": steps[0],
               "latents_step2": steps[1], "latents_final": steps[-1], "frames": torch.from_numpy(frames)}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(HERE / "goldens.safetensors"))
    (HERE / "goldens.json").write_text(json.dumps({
        "upstream": {"Eyeline-Research/Go-with-the-Flow": args.gwtf_commit,
                     "RyannDaGreat/CommonSource": args.commonsource_commit},
        "versions": {"torch": torch.__version__, "diffusers": diffusers.__version__,
                     "rp": getattr(rp, "__version__", "0.1.1428")},
        "command": " ".join(sys.argv),
        "config": {"native_frames": NATIVE_FRAMES, "height": HEIGHT, "width": WIDTH, "flow": [FLOW_H, FLOW_W],
                   "resize_flow": RESIZE_FLOW, "downscale_factor": DOWNSCALE, "noise_seed": NOISE_SEED,
                   "pipe_seed": PIPE_SEED, "degradation": DEGRADATION, "steps": STEPS, "cfg": CFG,
                   "lora_rank": LORA_RANK, "prompt": PROMPT, "noise_downtemp": "nearest"},
        "patches": ["raft and background_remover stubbed (imported by noise_warp, unused)",
                    "get_noise_from_video loop re-stated without RAFT/visualisation/files; float16 storage skipped",
                    "get_downtemp_noise: 13 latent frames -> 3 (rp.resize_list)",
                    "get_pipe: fp32, CPU, local folders, no sequential CPU offload; tokenizer/scheduler loaded "
                    "explicitly instead of from a Hub id",
                    "callback_on_step_end records latents",
                    "num_frames/height/width passed for the tiny size (upstream uses the defaults 49/480/720)"],
    }, indent=1))
    print("per-frame noise std", float(per_frame[1:].std()), "frames", frames.shape)


if __name__ == "__main__":
    main()
