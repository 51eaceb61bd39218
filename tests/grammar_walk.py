"""Random well-formed token sequences, for the grammar's and the tokenizer's property tests."""

import numpy as np

from composer import grammar
from composer.tokenizer import Tokenizer
from composer.vocab import BAR, EOS, TokenizerConfig

V = Tokenizer(TokenizerConfig(styles=["jazz", "pop"])).vocab


def random_walk(rng, n_max, constraints=None, vocab=V):
    """A random well-formed sequence: at each step a uniform choice among allowed tokens."""
    state = grammar.GrammarState(vocab, constraints)
    out = []
    while state.last != grammar.DONE:
        allowed = np.flatnonzero(state.allowed())
        if len(out) > n_max and EOS in allowed:
            t = EOS
        elif len(out) > n_max and BAR not in allowed and not state.complete:
            t = rng.choice(allowed)
        else:
            t = rng.choice(allowed)
        assert state.feed(t)
        out.append(int(t))
    return np.array(out, dtype=np.int32)
