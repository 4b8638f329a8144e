"""GPU throughput of the split builder's learned estimators at real size, random weights.

Depth: Depth Anything V2 Large (the `depth-anything-v2` estimator's architecture, built from its
published config with random weights) on 480x832 frames resized as the estimator does (shorter
side 518, multiples of 14 -> 518x896), fp16, in batches. Tracking: torchvision's RAFT-large (the
flow tracker's learned backend) on consecutive 480x832 frame pairs, 12 iterations (torchvision's
default), fp32 and fp16 autocast, forward and backward flow as the tracker needs both.
The numbers do not matter, only the time. Needs torch, torchvision and transformers.

    python benchmarks/build_gpu_estimators.py --frames 64
"""

from __future__ import annotations

import argparse
import json
import time

import torch


def depth_anything_v2_large():
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation, Dinov2Config

    backbone = Dinov2Config(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, patch_size=14,
                            image_size=518, out_features=["stage5", "stage12", "stage18", "stage24"],
                            out_indices=[5, 12, 18, 24], reshape_hidden_states=False)
    config = DepthAnythingConfig(backbone_config=backbone, reassemble_hidden_size=1024, patch_size=14,
                                 neck_hidden_sizes=[256, 512, 1024, 1024], fusion_hidden_size=256,
                                 head_hidden_size=32, depth_estimation_type="relative")
    return DepthAnythingForDepthEstimation(config)


def timed(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    torch.cuda.synchronize()
    return (time.perf_counter() - start) / repeats


def time_depth(device: torch.device, batch: int, frames_total: int) -> dict[str, object]:
    model = depth_anything_v2_large().to(device, torch.float16).eval()
    frames = torch.rand(batch, 3, 518, 896, device=device, dtype=torch.float16)

    def depth_batch():
        with torch.inference_mode():
            predicted = model(pixel_values=frames).predicted_depth
            torch.nn.functional.interpolate(predicted[:, None], size=(480, 832), mode="bilinear")

    seconds = timed(depth_batch, max(1, frames_total // batch))
    return {"depth_params": sum(p.numel() for p in model.parameters()),
            "depth_fp16_frames_per_s": round(batch / seconds, 1),
            "depth_peak_gib": round(torch.cuda.max_memory_allocated() / 2**30, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--frames", type=int, default=64, help="frames per timed batch run")
    parser.add_argument("--batch", type=int, default=16, help="depth batch size")
    args = parser.parse_args()
    device = torch.device("cuda")
    torch.manual_seed(0)
    out: dict[str, object] = {"device": torch.cuda.get_device_name(device), "torch": torch.__version__}

    out.update(time_depth(device, args.batch, args.frames))
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()

    from torchvision.models.optical_flow import raft_large

    raft = raft_large(weights=None).to(device).eval()
    pairs = 8
    a = torch.rand(pairs, 3, 480, 832, device=device) * 2 - 1
    b = torch.rand(pairs, 3, 480, 832, device=device) * 2 - 1

    def flows(autocast: bool):
        def run():
            with torch.inference_mode(), torch.autocast("cuda", torch.float16, enabled=autocast):
                raft(torch.cat([a, b]), torch.cat([b, a]), num_flow_updates=12)
        return run

    for name, autocast in (("fp32", False), ("fp16", True)):
        seconds = timed(flows(autocast), 3)
        out[f"raft_{name}_frame_pairs_per_s_fwd_bwd"] = round(pairs / seconds, 1)
    out["raft_peak_gib"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
