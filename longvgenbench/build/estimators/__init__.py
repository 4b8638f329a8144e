"""Learned control estimators of the builder (Depth Anything V2, Qwen2.5-VL), loaded through transformers."""
