"""One module per baseline adapter: ``measure(device, tiny, measure_steps) -> dict``, driven by ``benchmarks/baselines_speed.py``."""
