"""Held-out split and token balancing across styles: pure functions on counts, seeded.

    held = heldout_groups({"jazz": [("jazz:tune1", 900), ...]}, fraction=0.05, seed=0)
    dropped = cap_styles({"pop": [("pop:001", "pop:001", 6000), ...]}, factor=2.5, seed=0)
    shares(tokens_per_style)  ->  {"pop": 0.31, ...}
"""

from __future__ import annotations

import math
from collections import defaultdict

from recipe.sources.common import stable_hash


def heldout_groups(pieces: dict[str, list[tuple[str, int]]], fraction: float = 0.05,
                   seed: int = 0) -> set[str]:
    """Groups (compositions) to hold out: about `fraction` of each style's pieces.

    `pieces[style]` lists (group, count of pieces in that group) or one (group, 1) per piece.
    Per style, groups are taken in seeded-hash order until at least `fraction` of the style's
    pieces are held out (at least one group for a style of 10+ pieces, none for fewer than 10
    pieces). A group held out in one style is held out wherever it occurs, so no composition
    is on both sides.
    """
    held: set[str] = set()
    for style in sorted(pieces):
        counts: dict[str, int] = defaultdict(int)
        for group, n in pieces[style]:
            counts[group] += n
        total = sum(counts.values())
        if total < 10 or fraction <= 0:
            continue
        want = max(1, math.ceil(fraction * total))
        taken = sum(n for g, n in counts.items() if g in held)
        for group in sorted(counts, key=lambda g: (stable_hash(seed, "heldout", g), g)):
            if taken >= want:
                break
            if group not in held:
                held.add(group)
                taken += counts[group]
    return held


def style_caps(tokens: dict[str, int], factor: float = 2.5) -> dict[str, int]:
    """Token cap per style: `factor` times the median style's tokens."""
    if not tokens:
        return {}
    values = sorted(tokens.values())
    mid = len(values) // 2
    median = values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
    cap = int(factor * median)
    return {s: cap for s in tokens}


def cap_styles(pieces: dict[str, list[tuple[str, int]]], factor: float = 2.5, seed: int = 0) -> dict[str, set[str]]:
    """Pieces to drop so that no style has more than `factor` x the median style's tokens.

    `pieces[style]` lists (piece key, tokens). Within a style over its cap, pieces are kept in
    seeded-hash order while they fit; the rest are dropped. Returns {style: dropped keys}.
    """
    totals = {s: sum(t for _, t in items) for s, items in pieces.items()}
    caps = style_caps(totals, factor)
    dropped: dict[str, set[str]] = {s: set() for s in pieces}
    for style, items in pieces.items():
        if totals[style] <= caps[style]:
            continue
        kept = 0
        for key, t in sorted(items, key=lambda kt: (stable_hash(seed, "cap", kt[0]), kt[0])):
            if kept + t <= caps[style]:
                kept += t
            else:
                dropped[style].add(key)
    return dropped


def shares(tokens: dict[str, int]) -> dict[str, float]:
    """Each style's fraction of all tokens."""
    total = sum(tokens.values())
    return {s: (t / total if total else 0.0) for s, t in tokens.items()}


def under_floor(tokens: dict[str, int], floor: float = 0.05) -> list[str]:
    """Styles with less than `floor` of all tokens."""
    return sorted(s for s, f in shares(tokens).items() if f < floor)


def source_budgets(total: int, weights: list[float], used: list[int]) -> int:
    """Budget of the next source of a style: what is left, shared by the remaining weights.

    `weights` are the style's sources' weights in order, `used` the tokens taken by the
    sources already built (len(used) < len(weights)).
    """
    left = max(0, total - sum(used))
    rest = weights[len(used):]
    return int(left * rest[0] / sum(rest)) if rest and sum(rest) > 0 else left
