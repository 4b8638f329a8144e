"""RAFT's correlation lookup alone: torchvision's grid_sample path against the Triton kernel, one iteration's call.

A tool for speed work (``evaluators/vbench/triton_lookup.py``), not an acceptance figure. Shapes: ``--pairs``
pairs at ``--height`` x ``--width`` (1/8 of the padded frame: 60 x 104 for 480x832), 4 levels, radius 4, the
pyramid in bf16 as the compiled evaluator builds it (fp32 copy for grid_sample, as that path makes). Prints
milliseconds per call (eager, CUDA events, after a warm-up) and the largest difference between the two.

    python3 benchmarks/raft_lookup_kernels.py --pairs 8
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from evaluators.vbench import raft_pairs


def milliseconds(fn, repeats: int) -> float:
    fn()
    torch.cuda.synchronize()
    start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    start.record()
    for _ in range(repeats):
        fn()
    stop.record()
    torch.cuda.synchronize()
    return start.elapsed_time(stop) / repeats


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=8)
    parser.add_argument("--height", type=int, default=60)
    parser.add_argument("--width", type=int, default=104)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    device = torch.device("cuda")
    g = torch.Generator(device=device).manual_seed(0)
    fmap1 = torch.randn(args.pairs, 256, args.height, args.width, generator=g, device=device, dtype=torch.bfloat16)
    fmap2 = torch.randn(args.pairs, 256, args.height, args.width, generator=g, device=device, dtype=torch.bfloat16)
    half = raft_pairs.correlation_pyramid(fmap1, fmap2, 4, fp32=False)
    full = [level.float() for level in half]
    coords = raft_pairs.coords_grid(args.pairs, args.height, args.width, device)
    coords = coords + 6 * torch.randn(coords.shape, generator=g, device=device)
    reference = raft_pairs.lookup(full, coords, 4, "grid_sample")
    triton = raft_pairs.lookup(half, coords, 4, "triton")
    row = {"device": torch.cuda.get_device_name(), "pairs": args.pairs, "map": [args.height, args.width],
           "grid_sample_ms": round(milliseconds(lambda: raft_pairs.lookup(full, coords, 4, "grid_sample"),
                                                args.repeats), 3),
           "triton_ms": round(milliseconds(lambda: raft_pairs.lookup(half, coords, 4, "triton"), args.repeats), 3),
           "max_abs_diff": float((reference - triton).abs().max()),
           "reference_max_abs": float(reference.abs().max())}
    print(json.dumps(row))


if __name__ == "__main__":
    main()
