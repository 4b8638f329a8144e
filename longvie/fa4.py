"""FlashAttention-4 (``flash-attn-4``, package ``flash_attn.cute``) as LongVie 2's attention kernel.

Why: attention is about 42% of a LongVie 2 step (self-attention over ~20k tokens, batch 2 for
CFG) and FA4's Hopper / Blackwell forward may beat PyTorch's SDPA kernels there. FA4 is pure
Python on NVIDIA's CuTe DSL (JIT-compiled per shape), optional, and never needed on CPU.
diffusers' own ``flash_4_hub`` backend downloads its kernel from the Hub at run time, which the
benchmark machines cannot do; this module uses a locally installed ``flash-attn-4`` instead.

How: diffusers' Wan attention processor calls the *module-global* ``dispatch_attention_fn`` of
``diffusers.models.transformers.transformer_wan``. ``fa4_attention_routing()`` swaps that global
for :func:`dispatch_with_fa4`, which sends the calls FA4 can run (no mask, no dropout, not causal,
fp16/bf16 on CUDA, a supported head size, default diffusers backend) to the custom op
``longvie::fa4_attention`` and everything else to the function it replaced. The op is a
``torch.library.custom_op`` with a fake (meta) implementation, so ``torch.compile`` treats it as
one opaque node instead of trying to trace FA4's Python. Forward only (inference): the op has no
autograd formula. Written against flash-attn-4 4.0.0b36, whose ``flash_attn_func`` takes
(B, L, H, D) tensors and returns ``(out, lse)`` (lse None unless asked for or grad is on).
"""

from __future__ import annotations

import contextlib
import importlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import torch

from longvgenbench.errors import OptionError

#: The module whose global ``dispatch_attention_fn`` the Wan attention processor calls.
WAN_MODULE = "diffusers.models.transformers.transformer_wan"
#: The FA4 module that holds ``flash_attn_func``.
FA4_INTERFACE = "flash_attn.cute.interface"
#: GPU major compute capabilities FA4 is used on: Hopper (sm90) and Blackwell (sm100).
FA4_CAPABILITY_MAJORS = (9, 10)
#: Routing conditions on the tensors. Module constants so a CPU test can widen them with monkeypatch
#: (the test's stand-in FA4 computes fp32 on CPU); production code never changes them.
SUPPORTED_DTYPES: tuple[torch.dtype, ...] = (torch.float16, torch.bfloat16)
SUPPORTED_DEVICE_TYPES: tuple[str, ...] = ("cuda",)

INSTALL_HINT = ("pip install flash-attn-4 (pure Python on NVIDIA's CuTe DSL; needs a CUDA build of PyTorch and "
                "an NVIDIA Hopper (sm90, e.g. H100/H200) or Blackwell (sm100, e.g. B200) GPU)")


class FlashAttention4Unavailable(OptionError):
    """``attention=fa4`` was asked for where FlashAttention-4 cannot run."""


def _gpu_capability_major() -> int | None:
    """Major compute capability of the current CUDA device, None without CUDA."""
    if not torch.cuda.is_available():
        return None
    return torch.cuda.get_device_capability()[0]


def _interface_import_error() -> str | None:
    """Why ``flash_attn.cute.interface`` cannot be imported, None when it can."""
    try:
        importlib.import_module(FA4_INTERFACE)
    except Exception as exc:  # ImportError, or the CuTe DSL failing to initialise
        return f"{type(exc).__name__}: {exc}"
    return None


def fa4_unavailable_reason() -> str | None:
    """Why FA4 cannot run here (no CUDA, unsupported GPU, package missing), None when it can."""
    major = _gpu_capability_major()
    if major is None:
        return "no CUDA device is visible to PyTorch"
    if major not in FA4_CAPABILITY_MAJORS:
        return (f"the GPU {torch.cuda.get_device_name()} has compute capability {major}.x; FA4 is used on "
                f"{', '.join(f'{m}.x' for m in FA4_CAPABILITY_MAJORS)} only")
    problem = _interface_import_error()
    if problem is not None:
        return f"{FA4_INTERFACE} cannot be imported ({problem})"
    return None


def fa4_available() -> bool:
    """True when FlashAttention-4 is installed and the current CUDA GPU is a Hopper or Blackwell."""
    return fa4_unavailable_reason() is None


def require_fa4() -> None:
    """Raise :class:`FlashAttention4Unavailable` (what to install, which GPUs) unless FA4 can run."""
    reason = fa4_unavailable_reason()
    if reason is not None:
        raise FlashAttention4Unavailable(f"attention=fa4 is unavailable: {reason}. To use it: {INSTALL_HINT}; "
                                         "otherwise choose an SDPA backend (auto, cudnn, flash, efficient, math)")


@dataclass(frozen=True)
class Fa4Tile:
    """FA4's forward tile: ``m`` query rows x ``n`` key rows per CTA, and two sm90 kernel flags.

    Why: FA4 picks its tile from the head size alone (128x128 for head size 128 on Hopper), while the
    best tile depends on the sequence lengths too; ``benchmarks/attention_kernels.py`` sweeps them at
    LongVie 2's shapes. ``m == 0`` keeps FA4's own choice; ``pv_from_registers`` / ``overlap`` None keep
    its flags (P@V with P in registers; intra-warpgroup overlap of softmax and the next QK^T).
    Written ``MxN[:rs|:nors][:ol|:nool]``, e.g. ``128x176`` or ``192x128:nors``.
    """

    m: int = 0
    n: int = 0
    pv_from_registers: bool | None = None
    overlap: bool | None = None

    def __post_init__(self) -> None:
        if (self.m == 0) != (self.n == 0) or self.m < 0 or self.n < 0 or self.m % 64 or self.n % 16:
            raise ValueError(f"FA4 tile {self.m}x{self.n}: give both sizes, M a multiple of 64 and N of 16 "
                             "(or neither, for FA4's default)")
        if self.m == 0 and (self.pv_from_registers is not None or self.overlap is not None):
            raise ValueError("FA4 kernel flags need an explicit tile (e.g. 128x128:nors)")

    @property
    def is_default(self) -> bool:
        return self.m == 0

    @classmethod
    def parse(cls, text: str) -> Fa4Tile:
        """``""`` or ``default`` -> FA4's own choice; else ``MxN`` and optional ``:rs``/``:nors``/``:ol``/``:nool``."""
        if text in ("", "default"):
            return cls()
        size, *flags = text.split(":")
        try:
            m, n = (int(part) for part in size.lower().split("x"))
        except ValueError:
            raise ValueError(f"FA4 tile {text!r}: expected MxN[:rs|:nors][:ol|:nool], e.g. 128x176") from None
        known = {"rs": ("pv_from_registers", True), "nors": ("pv_from_registers", False),
                 "ol": ("overlap", True), "nool": ("overlap", False)}
        unknown = [f for f in flags if f not in known]
        if unknown:
            raise ValueError(f"FA4 tile {text!r}: unknown flags {unknown}; choose among {sorted(known)}")
        return cls(m, n, **dict(known[f] for f in flags))

    def op_args(self) -> tuple[int, int, int, int]:
        """The tile as the custom op's trailing int arguments (-1 for an unset flag)."""
        def flag(value: bool | None) -> int:
            return -1 if value is None else int(value)

        return self.m, self.n, flag(self.pv_from_registers), flag(self.overlap)

    def __str__(self) -> str:
        if self.is_default:
            return "default"
        flags = [("rs" if self.pv_from_registers else "nors") if self.pv_from_registers is not None else "",
                 ("ol" if self.overlap else "nool") if self.overlap is not None else ""]
        return ":".join([f"{self.m}x{self.n}", *(f for f in flags if f)])


@dataclass(frozen=True)
class Fa4TilePlan:
    """Which FA4 tile each self-attention call gets; cross-attention calls keep FA4's own choice.

    Why: FA4 picks its tile from the head size alone. On an H100 (``benchmarks/attention_kernels.py``,
    ``benchmarks/longvie2_speed.py --variants``; RESULTS.md, "Issue 4, fifth session"), 192x128 without P in
    registers was the fastest tile for the base self-attention (40 heads, 20,240 tokens); the control
    branches' (20 heads, 18,480 tokens) ran 9% faster alone with 128x176 than with FA4's own, yet 128x176 on
    every call gained nothing in the whole step, so the short cross-attention calls keep FA4's own tile (they
    were not swept separately). A per-head-count plan (128x176 for the control branches) was 9 ms per step
    slower than 192x128 everywhere, so the tuned plan uses one tile.
    Written ``TILE`` (every self-attention call) or ``H=TILE,H=TILE[,TILE]``
    (by head count, a bare tile for other counts; ``/`` may separate the parts too), plus ``x=sdpa`` to send
    cross-attention to PyTorch's SDPA (:attr:`cross_to_sdpa`), ``default`` (FA4's own
    everywhere) or ``auto`` (:data:`TUNED_SM90_PLAN` on Hopper, FA4's own elsewhere: tiles are per architecture).
    """

    default: Fa4Tile = Fa4Tile()
    by_heads: tuple[tuple[int, Fa4Tile], ...] = ()
    #: The head size the tiles were chosen for; calls with another one keep FA4's own tile (None: any).
    head_dim: int | None = None
    #: Cross-attention calls (fewer keys than queries) go to PyTorch's SDPA instead of FA4. Alone, on an
    #: H100, SDPA's cuDNN kernel ran LongVie 2's short-context calls (257 and 512 keys) 13-17% faster than FA4
    #: with any tile, yet the whole step was no faster (RESULTS.md, "Issue 4, sixth session"), so the tuned plan
    #: leaves it off. Written ``x=sdpa``.
    cross_to_sdpa: bool = False

    @staticmethod
    def is_cross(query: torch.Tensor, key: torch.Tensor) -> bool:
        """Whether a (B, L, H, D) call is cross-attention: fewer keys than queries (LongVie 2's text and image
        contexts). Self-attention has as many keys as queries, or more in the last block, where the history rows
        are keys only (``FusedNormWanBlock``'s ``query_start``)."""
        return key.shape[1] < query.shape[1]

    def sends_to_sdpa(self, query: torch.Tensor, key: torch.Tensor) -> bool:
        """Whether this (B, L, H, D) call leaves FA4 for SDPA (cross-attention under ``cross_to_sdpa``)."""
        return self.cross_to_sdpa and self.is_cross(query, key)

    def for_call(self, query: torch.Tensor, key: torch.Tensor) -> Fa4Tile:
        """The tile of one (B, L, H, D) call: self-attention only (:meth:`is_cross`)."""
        if self.is_cross(query, key) or (self.head_dim is not None and query.shape[3] != self.head_dim):
            return Fa4Tile()
        heads = query.shape[2]
        for count, tile in self.by_heads:
            if count == heads:
                return tile
        return self.default

    @classmethod
    def parse(cls, text: str) -> Fa4TilePlan:
        if text == "auto":
            return TUNED_SM90_PLAN if _gpu_capability_major() == 9 else cls()
        default, by_heads, cross_to_sdpa = Fa4Tile(), [], False
        for part in [p for p in re.split(r"[,/]", text) if p]:
            if part == "x=sdpa":
                cross_to_sdpa = True
                continue
            heads, sep, tile = part.partition("=")
            if not sep:
                default = Fa4Tile.parse(part)
                continue
            if not heads.isdigit():
                raise ValueError(f"FA4 tile plan {text!r}: {part!r} should be HEADS=TILE, e.g. 40=192x128:nors")
            by_heads.append((int(heads), Fa4Tile.parse(tile)))
        return cls(default, tuple(by_heads), cross_to_sdpa=cross_to_sdpa)

    def __str__(self) -> str:
        parts = [f"{heads}={tile}" for heads, tile in self.by_heads]
        if not self.default.is_default or not parts:
            parts.append(str(self.default))
        return ",".join(parts + (["x=sdpa"] if self.cross_to_sdpa else []))


#: The self-attention tile measured best on an H100 in LongVie 2's whole step (base and control branches).
TUNED_SM90_PLAN = Fa4TilePlan(default=Fa4Tile(192, 128, pv_from_registers=False), head_dim=128)


@torch.library.custom_op("longvie::fa4_attention", mutates_args=())
def fa4_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None,
                  tile_m: int = 0, tile_n: int = 0, pv_from_registers: int = -1, overlap: int = -1) -> torch.Tensor:
    """Softmax attention (B, Lq, H, D) x (B, Lk, H, D) -> (B, Lq, H, Dv) by FA4.

    ``scale`` None means 1/sqrt(D), as SDPA. With the default tile arguments this is the public
    ``flash_attn_func``; an explicit tile (:class:`Fa4Tile`) goes through ``_flash_attn_fwd``, the function
    ``flash_attn_func`` calls, which takes the tile and flags (private in flash-attn-4 4.0.0b36; forward only).
    The interface is looked up on every call (a dict lookup) so the op follows whatever
    ``flash_attn.cute.interface`` is importable (tests put a stand-in there).
    """
    interface = importlib.import_module(FA4_INTERFACE)
    if tile_m == 0:
        result = interface.flash_attn_func(query, key, value, softmax_scale=scale)
    else:
        def flag(value: int) -> bool | None:
            return None if value < 0 else bool(value)

        result = interface._flash_attn_fwd(query, key, value, softmax_scale=scale, tile_mn=(tile_m, tile_n),
                                           mma_pv_is_rs=flag(pv_from_registers), intra_wg_overlap=flag(overlap))
    out = result[0] if isinstance(result, tuple) else result  # b36 returns (out, lse); lse is None here
    return out.contiguous()  # FA4 allocates a contiguous output (a no-op); the fake below promises that layout


@fa4_attention.register_fake
def _fa4_attention_fake(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, scale: float | None,
                        tile_m: int = 0, tile_n: int = 0, pv_from_registers: int = -1,
                        overlap: int = -1) -> torch.Tensor:
    return query.new_empty((*query.shape[:-1], value.shape[-1]))


def _head_dim_supported(head_dim: int, head_dim_v: int) -> bool:
    """Head sizes FA4's forward accepts on both sm90 and sm100 (16-byte aligned in fp16/bf16)."""
    if head_dim != head_dim_v or head_dim % 8:
        return False
    return 8 <= head_dim <= 128 or head_dim == 256


def fa4_can_run(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, attn_mask: torch.Tensor | None,
                dropout_p: float, is_causal: bool, enable_gqa: bool, backend: Any, parallel_config: Any,
                attention_kwargs: dict[str, Any] | None) -> bool:
    """Whether one ``dispatch_attention_fn`` call goes to FA4 (plain, dense, non-causal, same heads)."""
    if attn_mask is not None or dropout_p != 0.0 or is_causal or enable_gqa:
        return False
    if backend is not None or parallel_config is not None or attention_kwargs:
        return False  # an explicitly chosen diffusers backend or context parallelism keeps its own path
    tensors = (query, key, value)
    if any(t.dim() != 4 for t in tensors):
        return False
    if query.dtype not in SUPPORTED_DTYPES or any(t.dtype != query.dtype for t in tensors):
        return False
    if query.device.type not in SUPPORTED_DEVICE_TYPES or any(t.device != query.device for t in tensors):
        return False
    if key.shape[:3] != value.shape[:3] or key.shape[0] != query.shape[0] or key.shape[2] != query.shape[2]:
        return False
    return _head_dim_supported(query.shape[-1], value.shape[-1]) and key.shape[-1] == query.shape[-1]


#: The function :func:`dispatch_with_fa4` falls back to; set while the routing is entered. A module
#: global (not a closure) so every entry installs the *same* function object and compiled graphs
#: guarded on the Wan module's global stay valid from one clip to the next.
_fallback: Callable[..., torch.Tensor] | None = None
#: The tiles :func:`dispatch_with_fa4` asks FA4 for; set while the routing is entered. Read by traced code,
#: so dynamo guards on it: a compiled block recompiles when it changes instead of keeping the old tiles.
_plan: Fa4TilePlan = Fa4TilePlan()


def dispatch_with_fa4(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                      attn_mask: torch.Tensor | None = None, dropout_p: float = 0.0, is_causal: bool = False,
                      scale: float | None = None, enable_gqa: bool = False,
                      attention_kwargs: dict[str, Any] | None = None, *, backend: Any = None,
                      parallel_config: Any = None) -> torch.Tensor:
    """Drop-in for diffusers' ``dispatch_attention_fn`` (same signature, (B, L, H, D) layout)."""
    if fa4_can_run(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal,
                   enable_gqa=enable_gqa, backend=backend, parallel_config=parallel_config,
                   attention_kwargs=attention_kwargs) and not _plan.sends_to_sdpa(query, key):
        return torch.ops.longvie.fa4_attention(query, key, value, scale, *_plan.for_call(query, key).op_args())
    if _fallback is None:
        raise RuntimeError("dispatch_with_fa4 was called outside fa4_attention_routing()")
    return _fallback(query, key, value, attn_mask=attn_mask, dropout_p=dropout_p, is_causal=is_causal, scale=scale,
                     enable_gqa=enable_gqa, attention_kwargs=attention_kwargs, backend=backend,
                     parallel_config=parallel_config)


@contextlib.contextmanager
def fa4_attention_routing(*, check: bool = True, tiles: Fa4TilePlan | None = None) -> Iterator[None]:
    """Route diffusers' Wan attention to FA4 while entered (restored on exit, also on error).

    Enter it *before* ``torch.compile`` traces the transformer blocks and keep it entered while the
    compiled blocks run: dynamo reads the Wan module's ``dispatch_attention_fn`` global at trace time
    and guards on it, so a graph traced outside the context calls SDPA (and re-entering triggers a
    recompile, not a silent switch). Not thread-safe: the global is process-wide. Nested entries
    are no-ops, except that a nested entry's ``tiles`` apply while it is entered. ``check`` False skips
    :func:`require_fa4` (tests with a stand-in FA4 module). ``tiles`` None is FA4's own choice everywhere.
    """
    global _fallback, _plan
    if check:
        require_fa4()
    wan = importlib.import_module(WAN_MODULE)
    previous = wan.dispatch_attention_fn
    saved_plan = _plan
    _plan = tiles or Fa4TilePlan()
    if previous is dispatch_with_fa4:
        try:
            yield
        finally:
            _plan = saved_plan
        return
    saved_fallback = _fallback
    _fallback = previous
    wan.dispatch_attention_fn = dispatch_with_fa4
    try:
        yield
    finally:
        wan.dispatch_attention_fn = previous
        _fallback = saved_fallback
        _plan = saved_plan


__all__ = ["FA4_CAPABILITY_MAJORS", "TUNED_SM90_PLAN", "Fa4Tile", "Fa4TilePlan", "FlashAttention4Unavailable",
           "dispatch_with_fa4", "fa4_attention", "fa4_attention_routing", "fa4_available", "fa4_can_run",
           "fa4_unavailable_reason", "require_fa4"]
