"""CogVideoX-5B image-to-video plumbing shared by the ``go-with-the-flow`` and ``diffusion-as-shader`` adapters.

- :mod:`baselines.cogvideox.grid`: the documented mapping between CogVideoX's native segment
  (49 frames, 480x720, 8 fps) and the protocol grid (81-frame clips at 16 fps, 480x832).
- :mod:`baselines.cogvideox.configs`: the real CogVideoX-5B-I2V component configs and tiny ones for
  tests (importable without PyAV, so the GPU speed cases use them too).
- :mod:`baselines.cogvideox.loading`: a diffusers weights folder -> components, failing fast offline.
- :mod:`baselines.cogvideox.base`: :class:`CogVideoXI2VModel`, the ``VideoModel`` every CogVideoX
  adapter subclasses (see its docstring for the hooks).
- :mod:`baselines.cogvideox.catalog`: the CogVideoX-5B-I2V weight records.
"""
