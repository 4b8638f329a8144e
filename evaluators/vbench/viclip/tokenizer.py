"""The text side of ViCLIP as VBench 0.1.5 feeds it: OpenAI's CLIP BPE, VBench's cleaning, 32 tokens.

The BPE merges and vocabulary are OpenAI's ``bpe_simple_vocab_16e6.txt.gz``, the very file open_clip
ships (same sha256 as the ``clip`` package's copy VBench uses), so no download is needed; open_clip's
``SimpleTokenizer`` supplies the byte-level BPE. What decides VBench's token ids beyond the BPE is
reproduced here:

- cleaning: ``ftfy.fix_text``, ``html.unescape`` twice, strip, collapse whitespace with the ``regex``
  module's ``\\s+``, lower case (open_clip's own cleaning splits whitespace with ``str.split``, which
  differs on a few control characters);
- the split pattern recognises OpenAI's special names ``<|startoftext|>`` / ``<|endoftext|>`` in the
  text itself (open_clip names them ``<start_of_text>`` / ``<end_of_text>``; the ids are the same);
- ``[SOT] + tokens + [EOT]`` padded with zeros to **32** tokens (ViCLIP's ``max_txt_l``); a longer
  text is cut to 32 and its last token replaced by EOT. LongVGenBench captions (100-330 words) are
  therefore scored on their first ~30 BPE tokens, exactly as VBench scores them.
"""

from __future__ import annotations

import functools
import html
from pathlib import Path

import ftfy
import regex
import torch

VICLIP_CONTEXT_LENGTH = 32
SOT_NAME, EOT_NAME = "<|startoftext|>", "<|endoftext|>"
_PATTERN = regex.compile(
    r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
    regex.IGNORECASE,
)


def bpe_vocab_path() -> Path:
    """open_clip's copy of OpenAI's ``bpe_simple_vocab_16e6.txt.gz``."""
    import open_clip.tokenizer

    return Path(open_clip.tokenizer.default_bpe())


def clean(text: str) -> str:
    """VBench's ``whitespace_clean(basic_clean(text)).lower()``."""
    text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
    return regex.sub(r"\s+", " ", text).strip().lower()


class ViCLIPTokenizer:
    """Caption -> (B, 32) int64 token ids, identical to VBench's ViCLIP ``text_encoder.tokenize``."""

    def __init__(self, bpe_path: Path | None = None, context_length: int = VICLIP_CONTEXT_LENGTH) -> None:
        from open_clip.tokenizer import SimpleTokenizer

        self.bpe_path = Path(bpe_path) if bpe_path is not None else bpe_vocab_path()
        self._bpe = SimpleTokenizer(str(self.bpe_path), context_length=context_length)
        self.context_length = context_length
        self.sot = self._bpe.sot_token_id
        self.eot = self._bpe.eot_token_id
        self._special = {SOT_NAME: self.sot, EOT_NAME: self.eot}

    @functools.lru_cache(maxsize=4096)  # noqa: B019 (one tokenizer per evaluator; captions repeat per clip)
    def encode(self, text: str) -> tuple[int, ...]:
        """BPE ids of ``text`` without SOT/EOT."""
        ids: list[int] = []
        for piece in _PATTERN.findall(clean(text)):
            if piece in self._special:
                ids.append(self._special[piece])
                continue
            piece = "".join(self._bpe.byte_encoder[b] for b in piece.encode("utf-8"))
            ids.extend(self._bpe.encoder[token] for token in self._bpe.bpe(piece).split(" "))
        return tuple(ids)

    def __call__(self, texts: list[str] | tuple[str, ...]) -> torch.Tensor:
        result = torch.zeros(len(texts), self.context_length, dtype=torch.long)
        for row, text in enumerate(texts):
            tokens = [self.sot, *self.encode(text), self.eot]
            if len(tokens) > self.context_length:
                tokens = tokens[: self.context_length]
                tokens[-1] = self.eot
            result[row, : len(tokens)] = torch.tensor(tokens, dtype=torch.long)
        return result
