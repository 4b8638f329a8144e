"""One module per baseline adapter: ``measure(device, tiny, measure_steps) -> dict``.

Driven by ``benchmarks/baselines_speed.py``.
"""
