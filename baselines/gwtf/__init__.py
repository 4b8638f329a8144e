"""Go-with-the-Flow (Burgert et al., CVPR 2025) on CogVideoX-5B-I2V: warped noise + the published LoRA.

- :mod:`baselines.gwtf.noise_warp`: the paper's noise warping (a Gaussian-preserving warp of a
  noise field along optical flow, with its degradation blend), re-implemented from the paper
  and upstream's algorithm description; no upstream code is copied.
- :mod:`baselines.gwtf.motion`: per-native-frame flow from the benchmark's tracks (+ depth) or
  from a flow estimator on the ground truth.
- :mod:`baselines.gwtf.lora`: the published LoRA's expected tensors, header check, loading.
- :mod:`baselines.gwtf.adapter`: the ``go-with-the-flow`` model.
"""
