"""Hunyuan-GameCraft-1.0 (Tencent-Hunyuan) behind the one generate interface: ``hunyuan-gamecraft``.

Modules: ``camera`` (actions -> poses -> Plücker maps), ``model`` (HunyuanVideo DiT + camera
encoder), ``checkpoint`` (official names/shapes, header check, conversion), ``catalog`` (weight
files), ``pipeline`` (one action chunk: conditioning, sampler, VAE), ``adapter`` (the long video).
"""
