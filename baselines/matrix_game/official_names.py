"""Tensor names and shapes of the official Matrix-Game-2.0 generator checkpoint, written down from
upstream's module definitions (``wan/modules/causal_model.py``, ``model.py``, ``action_module.py``).

Derived independently of :mod:`baselines.matrix_game.model`, so the meta-device test that compares
the two proves every official tensor lands on a parameter of the same shape. Upstream loads the
file into its ``WanDiffusionWrapper`` (``pipeline.generator.load_state_dict``), so names in the
file may carry a ``model.`` prefix; :mod:`checkpoint` accepts both.
"""

from __future__ import annotations

import math

from baselines.matrix_game.config import MatrixGameConfig


def _linear(name: str, out_f: int, in_f: int, bias: bool = True) -> dict[str, tuple[int, ...]]:
    shapes = {f"{name}.weight": (out_f, in_f)}
    if bias:
        shapes[f"{name}.bias"] = (out_f,)
    return shapes


def official_shapes(cfg: MatrixGameConfig) -> dict[str, tuple[int, ...]]:
    """name -> shape of every tensor of the generator's state dict (no prefix)."""
    d, a = cfg.dim, cfg.action
    pt, ph, pw = cfg.patch_size
    out: dict[str, tuple[int, ...]] = {"patch_embedding.weight": (d, cfg.in_dim, pt, ph, pw),
                                       "patch_embedding.bias": (d,)}
    out |= _linear("time_embedding.0", d, cfg.freq_dim) | _linear("time_embedding.2", d, d)
    out |= _linear("time_projection.1", 6 * d, d)
    out |= _linear("head.head", math.prod(cfg.patch_size) * cfg.out_dim, d) | {"head.modulation": (1, 2, d)}
    out |= {"img_emb.proj.0.weight": (cfg.image_dim,), "img_emb.proj.0.bias": (cfg.image_dim,)}
    out |= _linear("img_emb.proj.1", cfg.image_dim, cfg.image_dim) | _linear("img_emb.proj.3", d, cfg.image_dim)
    out |= {"img_emb.proj.4.weight": (d,), "img_emb.proj.4.bias": (d,)}
    rows = a.vae_time_compression_ratio * a.windows_size
    for i in range(cfg.num_layers):
        p = f"blocks.{i}."
        for attn in ("self_attn", "cross_attn"):
            for proj in "qkvo":
                out |= _linear(f"{p}{attn}.{proj}", d, d)
            out |= {f"{p}{attn}.norm_q.weight": (d,), f"{p}{attn}.norm_k.weight": (d,)}
        out |= {f"{p}norm3.weight": (d,), f"{p}norm3.bias": (d,), f"{p}modulation": (1, 6, d)}
        out |= _linear(f"{p}ffn.0", cfg.ffn_dim, d) | _linear(f"{p}ffn.2", d, cfg.ffn_dim)
        if i in a.blocks:
            q = f"{p}action_model."
            c, kd, bias = a.mouse_hidden_dim, a.keyboard_hidden_dim, a.qkv_bias
            out |= _linear(f"{q}keyboard_embed.0", a.hidden_size, a.keyboard_dim_in)
            out |= _linear(f"{q}keyboard_embed.2", a.hidden_size, a.hidden_size)
            out |= _linear(f"{q}mouse_mlp.0", c, a.mouse_dim_in * rows + d) | _linear(f"{q}mouse_mlp.2", c, c)
            out |= {f"{q}mouse_mlp.3.weight": (c,), f"{q}mouse_mlp.3.bias": (c,)}
            out |= _linear(f"{q}t_qkv", 3 * c, c, bias) | _linear(f"{q}proj_mouse", d, c, bias)
            out |= {f"{q}img_attn_q_norm.weight": (c // a.heads_num,),
                    f"{q}img_attn_k_norm.weight": (c // a.heads_num,),
                    f"{q}key_attn_q_norm.weight": (kd // a.heads_num,),
                    f"{q}key_attn_k_norm.weight": (kd // a.heads_num,)}
            out |= _linear(f"{q}mouse_attn_q", kd, d, bias)
            out |= _linear(f"{q}keyboard_attn_kv", 2 * kd, a.hidden_size * rows, bias)
            out |= _linear(f"{q}proj_keyboard", d, kd, bias)
    return out
