"""AMT-S frame interpolation (Li et al., CVPR 2023), written for this suite to load the official ``amt-s.pth``."""
