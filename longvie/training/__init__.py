"""LongVie 2's training stages: degradations, history sampling, losses, data and the accelerate loop.

Nothing here is imported by the inference side; ``longvgenbench train`` (a plug-in command) and
``python -m longvie.training.train`` are the entry points.
"""
