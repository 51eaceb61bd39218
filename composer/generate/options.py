"""What a generation request may ask for, and the checks every entry point shares."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..errors import ComposerError
from ..score import Score


# `arrange`'s temperature when none is asked for: accompaniment sampled a little colder fits its
# melody better and keeps to its style (docs/infill.md, 4 sets of 50 art-song melodies a style:
# blues read as blues 50% -> 75%, jazz and latin as often or more, pop level).
ARRANGE_TEMPERATURE = 0.8


@dataclass
class SamplingOptions:
    style: str | None = None
    bars: int = 16
    tempo: float | None = None  # bpm; None lets the model choose
    time_signature: tuple[int, int] | None = None  # None lets the model choose
    instruments: list | None = None  # names or GM numbers; None = the style's (config "style_instruments")
    primer: Score | None = None
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    guidance: float | None = None  # None: the model's recommendation for the style (1.0 if none)
    guidance_bars: int | None = None  # guidance steers this many bars, then the piece goes on
    # unguided (0: all of it); None: the model's recommendation for the style
    seed: int = 0
    num_samples: int = 1
    keep_drum_timing: bool = False  # False: drum hits under a 32nd off a beat go onto it
    tempo_changes: bool = False  # False: the tempo asked for (or the model's first) holds throughout
    max_tokens: int = field(default=0)  # safety cap; 0 = 200 tokens a bar


def check_options(opts: SamplingOptions) -> None:
    """ComposerError (one line, naming the option) for values no sampler can use: the Python
    API gets the same refusals as the command line."""
    if opts.bars < 1:
        raise ComposerError("--bars must be at least 1")
    for name, value, ok in (("temperature", opts.temperature, lambda x: x > 0),
                            ("top-p", opts.top_p, lambda x: 0 < x <= 1),
                            ("guidance", opts.guidance, lambda x: x >= 0),
                            ("tempo", opts.tempo, lambda x: 20 <= x <= 400)):
        if value is not None and not (math.isfinite(value) and ok(value)):
            raise ComposerError(f"--{name} {value}: out of range")
    if opts.top_k < 0 or opts.num_samples < 1:
        raise ComposerError("--top-k must be >= 0 and --num-samples >= 1")


def meter_index(vocab, time_signature) -> int:
    """The vocabulary's index of a requested meter; ComposerError if the tokens cannot hold it."""
    ts = tuple(time_signature)
    if ts not in vocab.ts_index:
        raise ComposerError(f"time signature {ts[0]}/{ts[1]} is not supported "
                            f"(up to 8 quarter notes a bar, denominators 2, 4, 8, 16)")
    return vocab.ts_index[ts]
