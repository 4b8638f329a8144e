"""Weight files the builder's estimators can use, registered under ``longvgenbench.weights``.

Only files that are looked up (never downloaded) at build time are listed; ``longvgenbench
weights fetch KEY`` gets them on a machine with network.
"""

from __future__ import annotations

from longvgenbench.weights import UrlSource, WeightFile

RAFT_LARGE = WeightFile(
    key="raft_large_c_t_skht_v2",
    filename="raft_large_C_T_SKHT_V2-ff5fadd5.pth",
    source=UrlSource("https://download.pytorch.org/models/raft_large_C_T_SKHT_V2-ff5fadd5.pth"),
    licence="BSD-3-Clause",
    description="torchvision RAFT-large (Raft_Large_Weights.C_T_SKHT_V2) for the builder's flow tracker",
    sha256=None,  # torchvision publishes only the prefix ff5fadd5 (in the file name)
    size=None,
    torch_hub=True,
)

WEIGHT_FILES = (RAFT_LARGE,)
