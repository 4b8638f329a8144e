"""Matrix-Game-2.0's action module (streaming path): mouse temporal self-attention + keyboard cross-attention.

Per latent frame f, the action window is the ``windows_size x 4`` video-frame rows that upstream
slices after prepending ``windows_size x 4`` copies of row 0 (rows 4f - 12 .. 4f - 1 of the
conditions, clamped to row 0): reproduced index for index. Mouse rows are concatenated to every
spatial token's features and attended along time per spatial position; keyboard rows are embedded
and attended to by every token of the frame. Both attend through rolling caches of the last
``local_attn_size`` latent frames. Batch size 1, as upstream's streaming path requires.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from baselines.matrix_game.config import ActionConfig
from baselines.matrix_game.layers import FrameCache, UnscaledRMSNorm, action_rope, apply_action_rope, attention


@dataclass
class ActionCaches:
    mouse: FrameCache
    keyboard: FrameCache


class ActionModule(nn.Module):
    def __init__(self, cfg: ActionConfig, img_hidden_size: int) -> None:
        super().__init__()
        self.cfg = cfg
        pad_rows = cfg.vae_time_compression_ratio * cfg.windows_size
        self.keyboard_embed = nn.Sequential(nn.Linear(cfg.keyboard_dim_in, cfg.hidden_size), nn.SiLU(),
                                            nn.Linear(cfg.hidden_size, cfg.hidden_size))
        c = cfg.mouse_hidden_dim
        self.mouse_mlp = nn.Sequential(nn.Linear(cfg.mouse_dim_in * pad_rows + img_hidden_size, c),
                                       nn.GELU(approximate="tanh"), nn.Linear(c, c), nn.LayerNorm(c))
        self.t_qkv = nn.Linear(c, 3 * c, bias=cfg.qkv_bias)
        self.img_attn_q_norm = UnscaledRMSNorm(c // cfg.heads_num)
        self.img_attn_k_norm = UnscaledRMSNorm(c // cfg.heads_num)
        self.proj_mouse = nn.Linear(c, img_hidden_size, bias=cfg.qkv_bias)
        kd = cfg.keyboard_hidden_dim
        self.key_attn_q_norm = UnscaledRMSNorm(kd // cfg.heads_num)
        self.key_attn_k_norm = UnscaledRMSNorm(kd // cfg.heads_num)
        self.mouse_attn_q = nn.Linear(img_hidden_size, kd, bias=cfg.qkv_bias)
        self.keyboard_attn_kv = nn.Linear(cfg.hidden_size * pad_rows, 2 * kd, bias=cfg.qkv_bias)
        self.proj_keyboard = nn.Linear(kd, img_hidden_size, bias=cfg.qkv_bias)
        self._rope = action_rope(cfg.rope_dim_list, cfg.rope_theta)

    def _windows(self, rows: torch.Tensor, n_feats: int, n_new: int) -> torch.Tensor:
        """(B, n_new, pad_rows, C): upstream's padded-and-sliced action windows of the new latent frames."""
        r, ws = self.cfg.vae_time_compression_ratio, self.cfg.windows_size
        pad_rows = r * ws
        padded = torch.cat([rows[:, :1].expand(-1, pad_rows, -1), rows], dim=1)
        padded = padded[:, r * (n_feats - n_new - ws) + pad_rows:]
        return torch.stack([padded[:, r * (i - ws) + pad_rows:r * i + pad_rows] for i in range(n_new)], dim=1)

    def forward(self, x: torch.Tensor, grid: tuple[int, int, int], mouse: torch.Tensor | None,
                keyboard: torch.Tensor, caches: ActionCaches, start_frame: int) -> torch.Tensor:
        cfg = self.cfg
        b, tokens, _ = x.shape
        n_new, h, w = grid
        s = h * w
        n_feats = (keyboard.shape[1] - 1) // cfg.vae_time_compression_ratio + 1
        if n_feats != start_frame + n_new:
            raise ValueError(f"action rows cover {n_feats} latent frames, the block ends at {start_frame + n_new}")
        hidden = x
        if mouse is not None:
            per_pos = x.view(b, n_new, s, -1).transpose(1, 2).reshape(b * s, n_new, -1)
            group = self._windows(mouse, n_feats, n_new)  # B, n, rows, C1
            group = group.reshape(b, n_new, -1)[:, None].expand(b, s, n_new, group.shape[2] * group.shape[3])
            feats = self.mouse_mlp(torch.cat([per_pos, group.reshape(b * s, n_new, -1)], dim=-1))
            q, k, v = self.t_qkv(feats).view(b * s, n_new, 3, cfg.heads_num, -1).unbind(2)
            q, k = self.img_attn_q_norm(q).to(v), self.img_attn_k_norm(k).to(v)
            q, k = apply_action_rope(q, self._rope, start_frame), apply_action_rope(k, self._rope, start_frame)
            ck, cv = caches.mouse.update(k, v, start_frame)
            out = attention(q, ck, cv)  # (B S), n, H, D
            out = out.reshape(b, s, n_new, -1).transpose(1, 2).reshape(b, n_new * s, -1)
            hidden = x + self.proj_mouse(out)
        rows = self.keyboard_embed(self._windows_input(keyboard, n_feats, n_new))
        group = torch.stack([rows[:, self._group_slice(i)] for i in range(n_new)], dim=1).reshape(b, n_new, -1)
        q = self.mouse_attn_q(hidden).view(b, tokens, cfg.heads_num, -1)
        k, v = self.keyboard_attn_kv(group).view(b, n_new, 2, cfg.heads_num, -1).permute(2, 0, 1, 3, 4)
        q, k = self.key_attn_q_norm(q).to(v), self.key_attn_k_norm(k).to(v)
        q = q.view(b, n_new, s, cfg.heads_num, -1).transpose(1, 2).reshape(b * s, n_new, cfg.heads_num, -1)
        q, k = apply_action_rope(q, self._rope, start_frame), apply_action_rope(k, self._rope, start_frame)
        ck, cv = caches.keyboard.update(k[:1], v[:1], start_frame)
        out = attention(q, ck.expand(b * s, -1, -1, -1), cv.expand(b * s, -1, -1, -1))
        out = out.reshape(b, s, n_new, -1).transpose(1, 2).reshape(b, n_new * s, -1)
        return hidden + self.proj_keyboard(out)

    def _windows_input(self, rows: torch.Tensor, n_feats: int, n_new: int) -> torch.Tensor:
        """Keyboard rows from the first window row of the new frames on (embedded before grouping, as upstream)."""
        r, ws = self.cfg.vae_time_compression_ratio, self.cfg.windows_size
        pad_rows = r * ws
        padded = torch.cat([rows[:, :1].expand(-1, pad_rows, -1), rows], dim=1)
        return padded[:, r * (n_feats - n_new - ws) + pad_rows:]

    def _group_slice(self, i: int) -> slice:
        r, ws = self.cfg.vae_time_compression_ratio, self.cfg.windows_size
        return slice(r * (i - ws) + r * ws, r * i + r * ws)
