"""A model's shape (ModelConfig, the named PRESETS), the names of its weights, the decoder
interface every backend serves, and the safetensors file that stores a model.

Torch-free: generation on a CPU (composer/numpy_model.py) reads the same files without
importing torch; composer/model.py builds the torch model from the same config. Both take the
architecture's constants and weight names from here (a test holds the torch module's
state_dict to `transformer_weights`).
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, fields
from typing import Any, Protocol, runtime_checkable

from .errors import ComposerError

ARCHS = ("transformer", "lstm")

# Named sizes. Parameter counts at vocab_size=512 (embedding included, tied head):
#   tiny  transformer 0.46M, lstm 0.45M   (tests)
#   small transformer 3.3M,  lstm 3.4M    (the bundled model; four layers, because at batch 1
#                                          every layer is memory traffic and op overhead)
#   base  transformer 21.5M, lstm 19.3M
PRESETS = {
    "tiny": {
        "transformer": dict(n_layer=2, n_head=4, n_embd=128, dropout=0.0),
        "lstm": dict(n_layer=2, n_head=1, n_embd=152, dropout=0.0),
    },
    "small": {
        "transformer": dict(n_layer=4, n_head=8, n_embd=256, dropout=0.1),
        "lstm": dict(n_layer=2, n_head=1, n_embd=448, dropout=0.1),
    },
    "base": {
        "transformer": dict(n_layer=12, n_head=6, n_embd=384, dropout=0.1),
        "lstm": dict(n_layer=4, n_head=1, n_embd=768, dropout=0.1),
    },
}


@dataclass
class ModelConfig:
    arch: str = "transformer"  # "transformer" | "lstm"
    vocab_size: int = 512
    context: int = 1024  # max positions (transformer); training window length for both
    n_layer: int = 6
    n_head: int = 8  # transformer only
    n_embd: int = 256  # model width; the LSTM's hidden size
    dropout: float = 0.0
    pad_id: int = 0  # targets equal to pad_id (or negative) are ignored by the loss
    rope_base: float = 10000.0

    def __post_init__(self):
        if self.arch not in ARCHS:
            raise ValueError(f"unknown arch {self.arch!r}; expected one of {ARCHS}")
        if min(self.vocab_size, self.context, self.n_layer, self.n_head, self.n_embd) < 1:
            raise ValueError(f"model sizes must be positive: {self}")
        if self.arch == "transformer" and (self.n_embd % self.n_head or (self.n_embd // self.n_head) % 2):
            raise ValueError(f"n_embd={self.n_embd} must split into n_head={self.n_head} even-sized heads")
        if not 0 <= self.pad_id < self.vocab_size:
            raise ValueError(f"pad_id={self.pad_id} outside the vocabulary of {self.vocab_size}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "ModelConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown model config keys: {sorted(unknown)}")
        return cls(**d)

    @classmethod
    def preset(cls, name: str, arch: str = "transformer", vocab_size: int = 512,
               context: int = 1024, **overrides) -> "ModelConfig":
        if name not in PRESETS:
            raise ValueError(f"unknown model preset {name!r}; expected one of {sorted(PRESETS)}")
        if arch not in ARCHS:
            raise ValueError(f"unknown arch {arch!r}; expected one of {ARCHS}")
        sizes = {**PRESETS[name][arch], **overrides}
        return cls(arch=arch, vocab_size=vocab_size, context=context, **sizes)


NORM_EPS = 1e-6  # RMSNorm epsilon, every norm of the transformer


@dataclass(frozen=True)
class BlockWeights:
    """The weight names of transformer block i (torch's Linear layout: (out, in))."""

    norm_1: str  # RMSNorm gain before attention
    qkv: str  # (3C, C): queries, keys, values
    attn_out: str  # (C, C)
    norm_2: str  # RMSNorm gain before the MLP
    mlp_in: str  # (4C, C)
    mlp_out: str  # (C, 4C)


EMBEDDING = "wte.weight"  # (V, C), also the output head (tied)
FINAL_NORM = "norm.weight"


def block_weights(i: int) -> BlockWeights:
    p = f"body.blocks.{i}."
    return BlockWeights(p + "ln_1.weight", p + "attn.c_attn.weight", p + "attn.c_proj.weight",
                        p + "ln_2.weight", p + "mlp.c_fc.weight", p + "mlp.c_proj.weight")


def transformer_weights(config: ModelConfig) -> list[str]:
    """Every weight name of a transformer of this config."""
    names = [EMBEDDING, FINAL_NORM]
    for i in range(config.n_layer):
        names += list(asdict(block_weights(i)).values())
    return names


@runtime_checkable
class Decoder(Protocol):
    """What the sampler needs of a model (composer/generate/decode.py): numpy token ids in,
    numpy logits out. numpy_model.NumpyTransformer and model.TorchDecoder serve it."""

    config: ModelConfig
    draft_tokens: int  # drafted tokens worth checking in one step (0: none)

    @property
    def max_positions(self) -> int | None: ...  # None: no limit (the LSTM)

    def room(self, cache: Any) -> int: ...  # tokens the cache can still take

    def cache_crop(self, cache: Any, length: int) -> Any: ...  # forget all but the first `length`

    def cache_slide(self, cache: Any, head: int, start: int) -> Any: ...  # drop head..start-1 (RoPE)

    def step(self, idx, cache: Any = None, last: bool = False) -> tuple[Any, Any]:
        """(B, T) int ids after `cache` (None: a fresh prefill) -> ((B, T or 1, V) float32
        logits, the new cache); last=True: the last position's logits only."""
        ...


def read_weights(path, framework: str = "pt", tensors: bool = True):
    """(metadata, {name: tensor} or None) of a safetensors file; framework "pt" gives torch
    tensors, "numpy" numpy arrays. A missing or corrupt file is a one-line ComposerError."""
    from safetensors import safe_open

    path = os.fspath(path)
    try:
        with safe_open(path, framework=framework, device="cpu") as f:
            return f.metadata() or {}, ({k: f.get_tensor(k) for k in f.keys()} if tensors else None)
    except FileNotFoundError:
        raise ComposerError(f"{path}: no such model file") from None
    except Exception as e:  # safetensors raises its own error types for corrupt files
        raise ComposerError(f"{path}: not a readable safetensors model ({e})") from None


def config_of(path, metadata: dict) -> ModelConfig:
    try:
        return ModelConfig.from_dict(json.loads(metadata["config"]))
    except (KeyError, ValueError, TypeError) as e:
        raise ComposerError(f"{os.fspath(path)}: model file has no usable config ({e})") from None


def read_config(path) -> ModelConfig:
    """The ModelConfig stored in a weights file's metadata (the weights are not read)."""
    return config_of(path, read_weights(path, framework="numpy", tensors=False)[0])
