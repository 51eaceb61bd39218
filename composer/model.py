"""Decoder-only music models: a small RoPE transformer and an LSTM behind one interface.

    config = ModelConfig.preset("small", arch="transformer", vocab_size=V)
    model = build_model(config)
    logits, loss = model(idx, targets)             # training: (B, T) -> (B, T, V)

    model.eval()
    logits, cache = model.step(prompt)             # one-pass prefill of the prompt
    logits, cache = model.step(next_tok, cache)    # then one (or a few) tokens at a time

    save_weights(model, "model.safetensors")       # no pickle anywhere
    model = load_torch_model("model.safetensors")  # config comes from the file's metadata

Context. The transformer knows `config.context` positions; the LSTM has no limit
(`model.room(cache)` is then infinite). A sequence that outgrows the context continues from
a shorter window of it: the sampler (composer/generate/decode.py) uses the header and the most
recent whole bars, the same windows training sees (bars.window_at), and makes it from the
cache by sliding it (cache_slide: the kept keys turned back to their new positions). That is
not the same arithmetic as a fresh prefill of the window, since the kept tokens' keys and
values in deeper layers were computed while attending to the tokens being dropped, but it
predicts the same (bench/context_bench.py: next-token NLL equal to 4 decimals on 40 held-out
pieces) and recomputes nothing.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from composer.atomic import atomic_path
from composer.errors import ComposerError
from composer.model_config import ARCHS, NORM_EPS, PRESETS, ModelConfig, read_config, read_weights  # noqa: F401 (re-exported)


@dataclass
class Cache:
    """Decoding state. `length` is the number of tokens fed so far (= next absolute position).

    transformer: state = [(k, v) per layer], each (B, n_head, context, head_dim), preallocated;
                 only positions [:length] are valid.
    lstm:        state = (h, c), each (n_layer, B, n_embd).
    """

    state: object
    length: int = 0


# --------------------------------------------------------------------------- transformer

def rope_tables(context: int, head_dim: int, base: float):
    inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim))
    angles = torch.outer(torch.arange(context, dtype=torch.float32), inv_freq)  # (context, hd/2)
    angles = torch.cat([angles, angles], dim=-1)  # (context, hd)
    return angles.cos(), angles.sin()


def apply_rope(x, cos, sin):
    """x: (..., hd), e.g. (B, nh, T, hd); cos/sin broadcast against it, e.g. (T, hd), for the
    absolute positions of x. Computed in float32."""
    x1, x2 = x.float().chunk(2, dim=-1)
    return (x.float() * cos + torch.cat([-x2, x1], dim=-1) * sin).type_as(x)


class CausalSelfAttention(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.n_head = config.n_head
        self.head_dim = config.n_embd // config.n_head
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=False)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=False)
        self.resid_dropout = nn.Dropout(config.dropout)

    def forward(self, x, cos, sin, kv=None, pos=0):
        B, T, C = x.shape
        q, k, v = self.c_attn(x).split(C, dim=2)
        q = q.view(B, T, self.n_head, self.head_dim).transpose(1, 2)  # (B, nh, T, hd)
        k = k.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        v = v.view(B, T, self.n_head, self.head_dim).transpose(1, 2)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        if kv is not None:  # write the new keys/values at their absolute positions, attend to all so far
            kv[0][:, :, pos:pos + T] = k
            kv[1][:, :, pos:pos + T] = v
            k, v = kv[0][:, :, :pos + T], kv[1][:, :, :pos + T]
        mask, is_causal = None, False
        if pos == 0:
            is_causal = T > 1
        elif T > 1:  # new query i (absolute pos + i) sees keys 0 .. pos + i
            mask = torch.ones(T, pos + T, dtype=torch.bool, device=x.device).tril(diagonal=pos)
        # no attention dropout: on CPU it costs a T x T random mask per head (about a quarter
        # of a training step); the residual and embedding dropout regularise instead
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=is_causal)
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=False)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.ln_1 = nn.RMSNorm(config.n_embd, eps=NORM_EPS)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = nn.RMSNorm(config.n_embd, eps=NORM_EPS)
        self.mlp = MLP(config)

    def forward(self, x, cos, sin, kv=None, pos=0):
        x = x + self.attn(self.ln_1(x), cos, sin, kv, pos)
        return x + self.mlp(self.ln_2(x))


class TransformerBody(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.blocks = nn.ModuleList(Block(config) for _ in range(config.n_layer))
        self._rope = None  # float32 (cos, sin) tables, built on first use on the input's device

    def rope(self, device):
        if self._rope is None or self._rope[0].device != device:
            c = self.config
            with torch.inference_mode(False):  # normal tensors even when first built inside step()
                self._rope = tuple(t.to(device) for t in rope_tables(c.context, c.n_embd // c.n_head, c.rope_base))
        return self._rope

    def empty_state(self, batch, device, dtype):
        c = self.config
        shape = (batch, c.n_head, c.context, c.n_embd // c.n_head)
        return [(torch.empty(shape, device=device, dtype=dtype), torch.empty(shape, device=device, dtype=dtype))
                for _ in range(c.n_layer)]

    def forward(self, x, state=None, pos=0):
        T = x.shape[1]
        if pos + T > self.config.context:
            raise ValueError(f"positions {pos}..{pos + T - 1} exceed the model context of "
                             f"{self.config.context}; continue from a fresh prefill of a shorter window")
        cos, sin = (t[pos:pos + T] for t in self.rope(x.device))
        for i, block in enumerate(self.blocks):
            x = block(x, cos, sin, None if state is None else state[i], pos)
        return x, state


# --------------------------------------------------------------------------- lstm

class LSTMBody(nn.Module):
    def __init__(self, config: ModelConfig):
        super().__init__()
        d = config.n_embd
        self.lstm = nn.LSTM(d, d, config.n_layer, batch_first=True,
                            dropout=config.dropout if config.n_layer > 1 else 0.0)

    def reset_parameters(self):
        with torch.no_grad():  # PyTorch's uniform init, forget-gate bias 1 (gate order i, f, g, o)
            self.lstm.reset_parameters()
            d = self.lstm.hidden_size
            for name, p in self.lstm.named_parameters():
                if name.startswith("bias_ih"):
                    p[d:2 * d].fill_(1.0)
                elif name.startswith("bias_hh"):
                    p[d:2 * d].zero_()

    def empty_state(self, batch, device, dtype):
        return None  # nn.LSTM starts from zeros

    def forward(self, x, state=None, pos=0):
        return self.lstm(x, state)


# --------------------------------------------------------------------------- shared model

class MusicModel(nn.Module):
    """Token embedding -> body (transformer blocks or LSTM) -> final norm -> head tied to the embedding.

    The head is computed as F.linear(x, wte.weight), so the state dict has a single copy of
    the tied matrix (nothing shared to confuse safetensors).
    """

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        self.wte = nn.Embedding(config.vocab_size, config.n_embd)
        self.drop = nn.Dropout(config.dropout)
        self.body = TransformerBody(config) if config.arch == "transformer" else LSTMBody(config)
        self.norm = nn.RMSNorm(config.n_embd, eps=NORM_EPS)
        # init like nanoGPT: N(0, 0.02), residual projections scaled by 1/sqrt(2 * n_layer)
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        if isinstance(self.body, LSTMBody):
            self.body.reset_parameters()

    def _init_weights(self, module):
        if isinstance(module, (nn.Linear, nn.Embedding)):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if getattr(module, "bias", None) is not None:
                torch.nn.init.zeros_(module.bias)

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def _logits(self, idx, state=None, pos=0):
        x = self.drop(self.wte(idx))
        x, state = self.body(x, state, pos)
        x = self.norm(x)
        return F.linear(x, self.wte.weight), state

    def forward(self, idx, targets=None):
        """idx, targets: (B, T) long. Returns logits (B, T, V) and the mean cross-entropy (or None)."""
        logits, _ = self._logits(idx)
        loss = None
        if targets is not None:
            pad = self.config.pad_id
            targets = targets.masked_fill(targets < 0, pad)
            loss = F.cross_entropy(logits.float().view(-1, logits.size(-1)), targets.reshape(-1), ignore_index=pad)
        return logits, loss

    # ---- incremental decoding

    @property
    def max_positions(self):
        """Positions a cache can hold: config.context for the transformer, None (unbounded) for the LSTM."""
        return self.config.context if self.config.arch == "transformer" else None

    def room(self, cache: Cache | None):
        """How many more tokens fit in `cache` (math.inf for the LSTM)."""
        if self.max_positions is None:
            return math.inf
        return self.max_positions - (0 if cache is None else cache.length)

    @torch.inference_mode()
    def step(self, idx, cache: Cache | None = None, pos: int | None = None):
        """Feed new tokens idx (B, T); returns (logits (B, T, V), cache).

        cache=None starts a fresh cache (T > 1 is a one-pass prefill). `pos` is the absolute
        position of idx[:, 0] and defaults to cache.length; a smaller pos rewinds the
        transformer cache (see cache_crop). Call model.eval() first.
        """
        if idx.dim() != 2:
            raise ValueError(f"idx must be (B, T), got shape {tuple(idx.shape)}")
        if cache is None:
            if pos not in (None, 0):
                raise ValueError("a new cache starts at pos 0")
            cache = Cache(self.body.empty_state(idx.shape[0], idx.device, self.wte.weight.dtype), 0)
        if pos is None:
            pos = cache.length
        if pos != cache.length:
            self.cache_crop(cache, pos)
        logits, state = self._logits(idx, cache.state, pos)
        cache.state, cache.length = state, pos + idx.shape[1]
        return logits, cache

    @torch.inference_mode()  # the cache's tensors are inference tensors (step)
    def cache_slide(self, cache: Cache, head: int, start: int) -> Cache:
        """Drop cached positions head..start-1 of a transformer cache: positions start.. move
        down to head.., their keys turned back by start - head positions (RoPE)."""
        if self.config.arch != "transformer" or not 0 <= head <= start <= cache.length:
            raise ValueError(f"cannot slide positions {start}..{cache.length - 1} of this cache down to {head}")
        n, shift = cache.length - start, start - head
        for k, v in cache.state:
            cos, sin = (t[shift] for t in self.body.rope(k.device))
            k[:, :, head:head + n] = apply_rope(k[:, :, start:start + n], cos, -sin)
            v[:, :, head:head + n] = v[:, :, start:start + n].clone()
        cache.length = head + n
        return cache

    def cache_crop(self, cache: Cache, length: int) -> Cache:
        """Forget everything after the first `length` tokens (transformer only: LSTM state can't rewind)."""
        if not 0 <= length <= cache.length:
            raise ValueError(f"cannot crop a cache of {cache.length} tokens to {length}")
        if length != cache.length and self.config.arch != "transformer":
            raise ValueError("an LSTM cache cannot be rewound; re-prefill instead")
        cache.length = length
        return cache

    # ---- fine-tuning

    @torch.no_grad()
    def remap_vocab(self, id_map) -> "MusicModel":
        """A new (tied) embedding/head for another vocabulary: row i is the old row id_map[i],
        or the mean of the old rows where id_map[i] is -1 (a token the model never saw;
        Tokenizer.rows_from gives the map).
        Rebuild the optimizer afterwards: the embedding is a new parameter."""
        old = self.wte.weight
        idx = torch.as_tensor(np.asarray(id_map), dtype=torch.long, device=old.device)
        if len(idx) == old.shape[0] and bool((idx == torch.arange(len(idx), device=old.device)).all()):
            return self
        wte = nn.Embedding(len(idx), old.shape[1], device=old.device, dtype=old.dtype)
        with torch.no_grad():
            wte.weight[:] = old.mean(dim=0)
            known = idx >= 0
            wte.weight[known] = old[idx[known]]
        wte.weight.requires_grad_(old.requires_grad)
        self.wte = wte
        self.config = replace(self.config, vocab_size=len(idx))
        return self


def build_model(config: ModelConfig) -> MusicModel:
    return MusicModel(config)


# --------------------------------------------------------------------------- weights on disk

def save_weights(model: MusicModel, path) -> None:
    """Write the weights (and the config, as metadata) to a safetensors file, atomically."""
    from safetensors.torch import save_file

    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    metadata = {"format": "composer-model", "config": json.dumps(model.config.to_dict())}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=metadata)


def load_weights(model: MusicModel, path) -> MusicModel:
    """Load weights saved by save_weights into a model of the same shape."""
    _, tensors = read_weights(path)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(tensors)), sorted(set(tensors) - set(own))
    bad = [k for k in own.keys() & tensors.keys() if own[k].shape != tensors[k].shape]
    if missing or unexpected or bad:
        detail = "; ".join(s for s in (
            missing and f"missing {missing[:3]}", unexpected and f"unexpected {unexpected[:3]}",
            bad and "shape mismatch " + ", ".join(f"{k} {tuple(tensors[k].shape)} vs {tuple(own[k].shape)}"
                                                for k in sorted(bad)[:3])) if s)
        raise ComposerError(f"{os.fspath(path)}: weights do not fit this model ({detail})")
    model.load_state_dict(tensors)
    return model


def load_torch_model(path, device="cpu") -> MusicModel:
    """Build the model described by the file's metadata, load its weights, put it in eval mode."""
    model = build_model(read_config(path))
    load_weights(model, path)
    return model.to(device).eval()


class TorchDecoder:
    """A MusicModel as a model_config.Decoder (the interface composer/numpy_model.py serves
    too): numpy token ids (B, T) in, numpy float32 logits (B, T, V) out, on any device. A
    transformer step of a few tokens costs about one of one token (per-op overhead), so one
    piece checks up to 8 drafted tokens a step."""

    def __init__(self, model: MusicModel):
        self.model, self.config = model.eval(), model.config
        self.draft_tokens = 8 if model.config.arch == "transformer" else 0
        self.device = next(model.parameters()).device
        self.max_positions = model.max_positions

    def room(self, cache):
        return self.model.room(cache)

    def cache_crop(self, cache, length: int):
        return self.model.cache_crop(cache, length)

    def cache_slide(self, cache, head: int, start: int):
        return self.model.cache_slide(cache, head, start)

    def step(self, idx, cache=None, last: bool = False):
        idx = torch.as_tensor(idx, dtype=torch.long).to(self.device)
        logits, cache = self.model.step(idx, cache)
        if last:
            logits = logits[:, -1:]
        return logits.float().cpu().numpy(), cache
