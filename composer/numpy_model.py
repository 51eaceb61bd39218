"""The transformer of composer/model.py, for generating on a CPU: decoding only, in numpy.

    model = NumpyTransformer.load("data/model.safetensors")
    logits, cache = model.step(prompt)            # (B, T) int array -> (B, T, V) float32
    logits, cache = model.step(next_tok, cache)   # then one (or a few) tokens at a time

Why a second implementation of the same math: at batch 1 a step of the 3.3M-parameter model
is a few dozen tiny operations, and torch spends most of its time dispatching them (~2 ms a
token in float32) while numpy runs the same step in ~1 ms (bench/generate_bench.py, section
3). `compose generate` on a CPU also never imports torch, which alone takes 1.1-1.5 s. Training, GPUs and the LSTM
use the torch model. tests/test_numpy_model.py holds the two to the same logits.

The weights are the trained float32 ones, rearranged once at load time without changing the
function: the RMSNorm gains are folded into the matrices that follow them, the attention's
1/sqrt(head_dim) into the query rows, and each head's query/key columns are interleaved so
that RoPE is one complex multiplication (q.k is unchanged when q and k share a permutation).
"""

from __future__ import annotations

import math

import numpy as np

from .errors import ComposerError
from .model_config import EMBEDDING, FINAL_NORM, NORM_EPS, ModelConfig, block_weights, config_of, read_weights

_F = np.float32
BLOCK = 64  # rows (queries, positions) a long feed computes at a time


class NumpyCache:
    """Per layer (keys (B, n_head, head_dim, context), values (B, n_head, context, head_dim)):
    only the first `length` positions are valid. Keys are stored transposed, so q @ k is a
    plain batched matmul on a slice."""

    def __init__(self, state, length: int = 0):
        self.state, self.length = state, length


class NumpyTransformer:
    # No speculative drafts (composer/generate/decode.py): a step here costs in proportion to the tokens
    # it feeds (float32 weight traffic, OpenBLAS's small matrices), and drafting gains only
    # 1.2-1.3 tokens a step, so checking drafts loses. Measured on the bundled model, jazz
    # seeds 0-4 twice: 1.66 ms a token without drafts, 1.79 / 1.88 / 2.05 with 1 / 2 / 8.
    draft_tokens = 0

    def __init__(self, config: ModelConfig, tensors: dict):
        if config.arch != "transformer":
            raise ValueError(f"NumpyTransformer runs transformers, not {config.arch!r}")
        self.config = config
        C, nh = config.n_embd, config.n_head
        hd = C // nh
        f32 = {k: np.asarray(v, dtype=np.float32) for k, v in tensors.items()}
        # per head, query/key columns [0, hd/2, 1, hd/2 + 1, ...]: rotation pairs side by side
        pairs = np.stack([np.arange(hd // 2), np.arange(hd // 2) + hd // 2], axis=1).ravel()
        qk_order = (np.arange(2 * nh)[:, None] * hd + pairs).ravel()
        self.blocks = []
        for i in range(config.n_layer):
            w = block_weights(i)
            qkv = f32[w.qkv].T * f32[w.norm_1][:, None]  # (C, 3C), x @ qkv
            qkv = np.concatenate([qkv[:, qk_order], qkv[:, 2 * C:]], axis=1)
            qkv[:, :C] /= math.sqrt(hd)
            self.blocks.append((np.ascontiguousarray(qkv), np.ascontiguousarray(f32[w.attn_out].T),
                                np.ascontiguousarray(f32[w.mlp_in].T * f32[w.norm_2][:, None]),
                                np.ascontiguousarray(f32[w.mlp_out].T)))
        self.wte = f32[EMBEDDING]
        self.head = np.ascontiguousarray(self.wte.T * f32[FINAL_NORM][:, None])  # tied head, final norm folded
        inv_freq = 1.0 / (config.rope_base ** (np.arange(0, hd, 2, dtype=np.float64) / hd))
        angles = np.outer(np.arange(config.context), inv_freq)  # (context, hd/2)
        self.rotations = np.exp(1j * angles).astype(np.complex64)
        self.masks = {}

    @classmethod
    def load(cls, path) -> "NumpyTransformer":
        metadata, tensors = read_weights(path, framework="numpy")
        config = config_of(path, metadata)
        if config.arch != "transformer":
            raise ComposerError(f"{path}: an {config.arch} model; the numpy decoder runs transformers")
        try:
            return cls(config, tensors)
        except (KeyError, ValueError) as e:
            raise ComposerError(f"{path}: weights do not fit the model its metadata describes ({e})") from None

    # ---- the decoder interface the sampler uses (MusicModel.step has the same one)

    @property
    def max_positions(self) -> int:
        return self.config.context

    def room(self, cache: NumpyCache | None) -> int:
        return self.max_positions - (0 if cache is None else cache.length)

    def cache_crop(self, cache: NumpyCache, length: int) -> NumpyCache:
        if not 0 <= length <= cache.length:
            raise ValueError(f"cannot crop a cache of {cache.length} tokens to {length}")
        cache.length = length
        return cache

    def cache_slide(self, cache: NumpyCache, head: int, start: int) -> NumpyCache:
        """Drop cached positions head..start-1: the positions from `start` on move down to
        `head`, their keys turned back by start - head positions. Attention under RoPE sees
        only relative positions, so the moved keys sit where a prefill of the shorter sequence
        would put them; what they and their values learnt from the dropped tokens stays (the
        decoding loop's sliding window, composer/generate/decode.py)."""
        if not 0 <= head <= start <= cache.length:
            raise ValueError(f"cannot slide positions {start}..{cache.length - 1} of a cache down to {head}")
        shift, n = start - head, cache.length - start
        back = np.conj(self.rotations[shift])[:, None]  # (hd/2, 1): one turn per rotation pair
        cos, sin = back.real, back.imag
        for k_cache, v_cache in cache.state:
            re, im = k_cache[:, :, 0::2, start:start + n], k_cache[:, :, 1::2, start:start + n]
            k_cache[:, :, 0::2, head:head + n], k_cache[:, :, 1::2, head:head + n] = re * cos - im * sin, re * sin + im * cos
            v_cache[:, :, head:head + n] = v_cache[:, :, start:start + n]
        cache.length = head + n
        return cache

    def step(self, idx, cache: NumpyCache | None = None, last: bool = False):
        """Feed new tokens idx (B, T) after `cache` (None: a fresh one, T > 1 a prefill);
        returns (logits (B, T, V) float32, cache). last=True: only the last position's logits
        (B, 1, V), and the final layer computes only its keys and values for the others."""
        idx = np.asarray(idx)
        if idx.ndim != 2:
            raise ValueError(f"idx must be (B, T), got shape {idx.shape}")
        B, T = idx.shape
        c = self.config
        C, nh = c.n_embd, c.n_head
        hd = C // nh
        if cache is None:
            cache = NumpyCache([(np.empty((B, nh, hd, c.context), np.float32),
                                 np.empty((B, nh, c.context, hd), np.float32)) for _ in range(c.n_layer)])
        pos = cache.length
        end = pos + T
        if end > c.context:
            raise ValueError(f"positions {pos}..{end - 1} exceed the model context of {c.context}; "
                             f"continue from a fresh prefill of a shorter window")
        rot = self.rotations[pos:end, None, None, :]  # (T, 1, 1, hd/2) against (B, T, 2, nh, hd/2)
        x = self.wte[idx.reshape(-1)]  # (B*T, C)
        for i, ((w_qkv, w_o, w_fc, w_proj), (k_cache, v_cache)) in enumerate(zip(self.blocks, cache.state)):
            qkv = _normed(x) @ w_qkv  # (B*T, 3C): queries, keys (pair-interleaved), values
            qk = (qkv[:, :2 * C].reshape(B, T, 2, nh, hd).view(np.complex64) * rot).view(np.float32)
            k_cache[..., pos:end] = qk[:, :, 1].transpose(0, 2, 3, 1)
            v_cache[:, :, pos:end] = qkv[:, 2 * C:].reshape(B, T, nh, hd).transpose(0, 2, 1, 3)
            q = qk[:, :, 0].transpose(0, 2, 1, 3)  # (B, nh, T, hd)
            if last and T > 1 and i == len(self.blocks) - 1:  # nothing after this layer reads the
                q, x = q[:, :, -1:], x.reshape(B, T, C)[:, -1]  # other positions
                y = self._attend(q, k_cache, v_cache, end - 1)
            else:
                y = self._attend(q, k_cache, v_cache, pos)
            x = x + y @ w_o
            x = x + self._mlp(x, w_fc, w_proj)
        logits = _normed(x) @ self.head
        cache.length = end
        return logits.reshape(B, -1, logits.shape[-1]), cache

    def _attend(self, q: np.ndarray, k_cache: np.ndarray, v_cache: np.ndarray, pos: int) -> np.ndarray:
        """Causal attention of queries q (B, nh, T, hd) at positions pos.. to the cached keys;
        returns (B*T, C). Queries go BLOCK at a time: the block's scores stay in the L2 cache
        and see only the keys up to its own end (a prefill computes half the score matrix)."""
        B, nh, T, hd = q.shape
        y = np.empty((B, T, nh, hd), np.float32)
        for s in range(0, T, BLOCK):
            e = min(T, s + BLOCK)
            att = q[:, :, s:e] @ k_cache[..., :pos + e]  # (B, nh, e - s, pos + e)
            if e - s > 1:
                att += self._mask(e - s, pos + s)
            att -= att.max(axis=-1, keepdims=True)
            np.exp(att, out=att)
            yb = att @ v_cache[:, :, :pos + e]
            yb /= att.sum(axis=-1, keepdims=True)  # softmax's division, on the (smaller) output
            y[:, s:e] = yb.transpose(0, 2, 1, 3)
        return y.reshape(B * T, nh * hd)

    @staticmethod
    def _mlp(x: np.ndarray, w_fc: np.ndarray, w_proj: np.ndarray) -> np.ndarray:
        """The MLP, BLOCK rows at a time: GELU's temporaries stay in the L2 cache (on 384 rows at
        once it costs 3x more than the matrix products around it)."""
        if len(x) <= BLOCK:
            return _gelu(_normed(x) @ w_fc) @ w_proj
        out = np.empty_like(x)
        for s in range(0, len(x), BLOCK):
            out[s:s + BLOCK] = _gelu(_normed(x[s:s + BLOCK]) @ w_fc) @ w_proj
        return out

    def _mask(self, T: int, pos: int) -> np.ndarray:
        """New query i (absolute position pos + i) sees keys 0 .. pos + i: 0 there, -inf after."""
        key = (T, pos)
        if key not in self.masks:
            if len(self.masks) > 64:
                self.masks.clear()
            self.masks[key] = np.triu(np.full((T, pos + T), -np.inf, dtype=np.float32), k=pos + 1)
        return self.masks[key]


def _normed(x: np.ndarray) -> np.ndarray:
    """RMSNorm without its gain (folded into the next matrix)."""
    if len(x) == 1:  # a decoding step: one dot product instead of five array operations
        v = x[0]
        return x * _F(1 / math.sqrt(float(np.dot(v, v)) / len(v) + NORM_EPS))
    mean_square = np.add.reduce(np.square(x), axis=-1, keepdims=True) * _F(1 / x.shape[-1])
    return x * (_F(1) / np.sqrt(mean_square + _F(NORM_EPS)))


_ERF = tuple(_F(c) for c in (0.3275911, 0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429))


def _gelu(x: np.ndarray) -> np.ndarray:
    """Exact (erf) GELU, as torch's default: x/2 (1 + erf(x/sqrt 2)) = (x + |x| erf(|x|/sqrt 2)) / 2,
    with erf by Abramowitz & Stegun 7.1.26 (absolute error < 1.5e-7, below float32 resolution
    of the activations). In place where it can: a prefill runs this on 384 x 1024 values a layer."""
    p_, a1, a2, a3, a4, a5 = _ERF
    a = np.abs(x)
    a *= _F(1 / math.sqrt(2))
    t = a * p_
    t += 1
    np.reciprocal(t, out=t)
    poly = t * a5
    for coef in (a4, a3, a2, a1):
        poly += coef
        poly *= t
    np.square(a, out=a)
    np.negative(a, out=a)
    np.exp(a, out=a)
    poly *= a  # 1 - erf(|x| / sqrt 2)
    np.abs(x, out=a)
    poly *= a
    a += x
    a -= poly  # x + |x| - |x| (1 - erf)
    a *= _F(0.5)
    return a
