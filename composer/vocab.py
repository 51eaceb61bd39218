"""Tokenizer settings (one JSON-serialisable config) and the vocabulary they define.

The vocabulary is laid out in families, each a contiguous block of ids, so the tokenizer
and the grammar can map whole numpy columns to ids with one addition:

    PAD BOS EOS Bar | TimeSig_* | Tempo_* | Position_* | Program_0..127 Program_Drums |
    Pitch_0..127 | Velocity_* | Duration_* | Fill FillStart FillEnd | Style_? Style_<name>...

Styles come last, so adding a style (fine-tuning) appends ids and never moves the others.
The Fill family (infilling, composer/fills.py) exists only when `TokenizerConfig.infill` is on;
models from before it have none (and a fine-tune that turns it on maps their embedding rows
by token name, model.MusicModel.remap_vocab).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field

import numpy as np

PAD, BOS, EOS, BAR = 0, 1, 2, 3
# token families, in vocabulary order (Vocab.family gives each id's)
SPECIAL, TIMESIG, TEMPO, POSITION, PROGRAM, PITCH, VELOCITY, DURATION, FILL, STYLE = range(10)
FILL_NAMES = ("Fill", "FillStart", "FillEnd")
UNKNOWN_STYLE = "?"


def _default_time_signatures() -> list[list[int]]:
    """Meters up to 8 quarter notes per bar: n/2, n/4, n/8 and n/16."""
    sigs = [[n, 2] for n in range(1, 5)] + [[n, 4] for n in range(1, 9)]
    return sigs + [[n, 8] for n in range(1, 17)] + [[n, 16] for n in range(1, 17)]


def _default_duration_bins() -> list[int]:
    """Durations in grid steps (12 per quarter): every step to a half note, then coarser."""
    return (list(range(1, 25)) + list(range(27, 49, 3)) + list(range(54, 97, 6))
            + list(range(108, 193, 12)))


# settings added after the first models shipped, with the values those models used
LEGACY = {"drum_durations": True, "elide_repeats": False, "infill": False}


@dataclass
class TokenizerConfig:
    resolution: int = 12  # grid steps per quarter note: 16ths (3) and triplets (4) are exact
    velocity_bins: int = 32
    tempo_min: float = 40.0
    tempo_max: float = 250.0
    tempo_bins: int = 32
    time_signatures: list[list[int]] = field(default_factory=_default_time_signatures)
    duration_bins: list[int] = field(default_factory=_default_duration_bins)
    # compact notes (fewer tokens a bar, so faster sampling; both lossless for what they keep):
    drum_durations: bool = False  # False: drum notes have no Duration token (decoded as a 16th)
    elide_repeats: bool = True  # True: in one Program group, a note's Velocity/Duration is left
    #                             out when it equals the previous note's (chords, drum hits)
    infill: bool = True  # the Fill tokens: bars / a bar's tracks written after the piece (fills.py)
    styles: list[str] = field(default_factory=list)

    def __post_init__(self):
        if self.resolution <= 0 or self.resolution % 12:
            raise ValueError("resolution must be a positive multiple of 12 steps per quarter")
        if UNKNOWN_STYLE in self.styles or len(set(self.styles)) != len(self.styles):
            raise ValueError(f"styles must be unique names other than {UNKNOWN_STYLE!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "TokenizerConfig":
        known = {k: v for k, v in d.items() if k in cls.__dataclass_fields__}
        return cls(**{**LEGACY, **known})  # older configs meant full Pitch Velocity Duration notes

    def fingerprint(self) -> str:
        """Hash of everything that changes token ids of a file, styles excepted (settings at
        their LEGACY values are left out, so older runs and token caches keep their hash)."""
        d = self.to_dict()
        d.pop("styles")
        for k, v in LEGACY.items():
            if d[k] == v:
                d.pop(k)
        return hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]


class Vocab:
    """Token ids and names for one TokenizerConfig."""

    def __init__(self, config: TokenizerConfig):
        c = self.config = config
        self.time_signatures = [tuple(ts) for ts in c.time_signatures]
        self.tempos = np.geomspace(c.tempo_min, c.tempo_max, c.tempo_bins)
        self.max_bar_steps = max(n * 4 * c.resolution // d for n, d in self.time_signatures)
        self.velocities = np.round(np.arange(1, c.velocity_bins + 1) * 127 / c.velocity_bins).astype(np.int64)
        self.durations = np.asarray(c.duration_bins, dtype=np.int64)

        names = ["PAD", "BOS", "EOS", "Bar"]
        self.timesig = len(names)
        names += [f"TimeSig_{n}/{d}" for n, d in self.time_signatures]
        self.tempo = len(names)
        names += [f"Tempo_{q:.1f}" for q in self.tempos]
        self.position = len(names)
        names += [f"Position_{p}" for p in range(self.max_bar_steps)]
        self.program = len(names)
        names += [f"Program_{p}" for p in range(128)] + ["Program_Drums"]
        self.pitch = len(names)
        names += [f"Pitch_{p}" for p in range(128)]
        self.velocity = len(names)
        names += [f"Velocity_{v}" for v in self.velocities]
        self.duration = len(names)
        names += [f"Duration_{d}" for d in self.durations]
        self.fill = len(names)  # Fill; FillStart = fill + 1, FillEnd = fill + 2 (when c.infill)
        if c.infill:
            names += list(FILL_NAMES)
        self.style = len(names)
        names += [f"Style_{s}" for s in [UNKNOWN_STYLE, *c.styles]]
        self.names = names
        self.size = len(names)
        self.ids = {n: i for i, n in enumerate(names)}
        # family boundaries, in id order, for classifying ids in bulk
        self.family_starts = np.array([0, self.timesig, self.tempo, self.position, self.program,
                                       self.pitch, self.velocity, self.duration, self.fill, self.style])
        self.ts_index = {ts: i for i, ts in enumerate(self.time_signatures)}
        self.bar_steps = np.array([n * 4 * c.resolution // d for n, d in self.time_signatures])

    def __len__(self) -> int:
        return self.size

    @property
    def infill(self) -> bool:
        """Whether this vocabulary has the Fill tokens (a model trained to infill)."""
        return self.style > self.fill

    def style_id(self, style: str | None) -> int:
        if style is None or style == UNKNOWN_STYLE:
            return self.style
        try:
            return self.style + 1 + self.config.styles.index(style)
        except ValueError:
            raise KeyError(style) from None

    def style_name(self, token: int) -> str | None:
        i = int(token) - self.style
        return None if i <= 0 or i > len(self.config.styles) else self.config.styles[i - 1]

    def family(self, tokens: np.ndarray) -> np.ndarray:
        """Family of each id: SPECIAL (PAD BOS EOS Bar), TIMESIG, TEMPO, POSITION, PROGRAM,
        PITCH, VELOCITY, DURATION, FILL, STYLE."""
        return np.searchsorted(self.family_starts, tokens, side="right") - 1

    def describe(self, tokens) -> list[str]:
        return [self.names[int(t)] if 0 <= int(t) < len(self.names) else f"<{int(t)}>" for t in tokens]
