"""The grammar: its mask agrees with what it accepts, and constraints hold in every sequence."""

import numpy as np
import pytest

from composer import grammar
from composer.score import DRUM_KEY
from composer.tokenizer import Tokenizer
from composer.vocab import BAR, TokenizerConfig
from grammar_walk import random_walk

TOK = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))  # compact notes (the default)
V = TOK.vocab
TOK_FULL = Tokenizer(TokenizerConfig(styles=["jazz", "pop"], drum_durations=True, elide_repeats=False))
BOTH = pytest.mark.parametrize("tok", [TOK, TOK_FULL], ids=["compact", "full"])


@BOTH
def test_grammar_mask_agrees_with_feed(tok):
    rng = np.random.default_rng(2)
    state = grammar.GrammarState(tok.vocab)
    for _ in range(2000):
        mask = state.allowed()
        probe = np.r_[rng.integers(0, len(V), 20), rng.integers(V.velocity, V.style, 20)]
        for t in probe:
            assert state.copy().feed(t) == bool(mask[t])
        if state.last == grammar.DONE:
            state = grammar.GrammarState(tok.vocab)
        else:
            state.feed(rng.choice(np.flatnonzero(mask)))


def test_constraints_limit_instruments_and_bars():
    rng = np.random.default_rng(3)
    c = grammar.Constraints(programs=[0, 33, DRUM_KEY], max_bars=4, min_bars=4)
    for _ in range(50):
        tokens = random_walk(rng, 10_000, c)
        score = TOK.decode(tokens)
        assert {t.key for t in score.tracks} <= {0, 33, DRUM_KEY}
        assert int((tokens == BAR).sum()) == 4
