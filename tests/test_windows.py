"""Training windows are well-formed sequence prefixes with the right header."""

import numpy as np

from composer import grammar
from composer.training.windows import WindowSampler, index_piece, split_by_file, transpose
from composer.score import DRUM_KEY, Score, Track
from composer.tokenizer import Tokenizer
from composer.vocab import PAD, TokenizerConfig

TOK = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))
V = TOK.vocab


def piece_score(seed: int) -> Score:
    rng = np.random.default_rng(seed)
    tpq, n = 12, 200
    def notes(lo, hi):
        return np.stack([np.sort(rng.integers(0, 48 * 30, n)), rng.integers(1, 24, n),
                         rng.integers(lo, hi, n), rng.integers(1, 127, n)], axis=1)
    return Score(tpq=tpq, tracks=[Track(0, notes=notes(40, 90)), Track(33, notes=notes(28, 50)),
                                  Track(0, is_drum=True, notes=notes(35, 60))],
                 tempos=np.array([[0, 100.0], [48 * 5, 140.0], [48 * 9 + 7, 90.0]]),
                 time_signatures=np.array([[0, 4, 4], [48 * 10, 3, 4], [48 * 10 + 36 * 4, 6, 8]]))


def is_prefix_valid(seq) -> bool:
    state = grammar.GrammarState(V)
    return all(state.feed(t) for t in seq if t != PAD)


def test_every_window_is_a_valid_prefix_with_header():
    pieces = [index_piece(TOK.encode(piece_score(s)), V.style_id("jazz"), V) for s in range(3)]
    sampler = WindowSampler(pieces, V, context=128)
    for p in pieces:
        for bar in range(len(p.bars)):
            seq = sampler.window(p, bar)
            assert is_prefix_valid(seq), (bar, V.describe(seq[:12]))
            assert seq[1] == V.style_id("jazz")
    first = sampler.window(pieces[0], 0)
    full = TOK.encode(piece_score(0), style="jazz")
    assert np.array_equal(first, full[: len(first)])
    x, y = sampler.sample(np.random.default_rng(0), 16)
    assert x.shape == y.shape == (16, 128) and np.array_equal(x[:, 1:], y[:, :-1])
    assert all(is_prefix_valid(row) for row in x)


def test_header_takes_meter_and_tempo_changes_on_the_downbeat():
    p = index_piece(TOK.encode(piece_score(0)), V.style_id("pop"), V)
    sampler = WindowSampler([p], V, context=64)
    seq = sampler.window(p, 10)  # the 3/4 bar
    assert V.describe(seq[:5]) == ["BOS", "Style_pop", "TimeSig_3/4", V.names[seq[3]], "Bar"]
    seq5 = sampler.window(p, 5)  # tempo change to 140 on the downbeat of bar 5
    assert abs(float(V.names[seq5[3]].split("_")[1]) - 140) < 8


def test_transpose_moves_pitched_notes_only_and_stays_in_range():
    tokens = TOK.encode(piece_score(1))
    for shift in (-6, 3, 6, 100):
        out = transpose(tokens.astype(np.int64), V, shift)
        a, b = TOK.decode(tokens), TOK.decode(out)
        for ta, tb in zip(a.tracks, b.tracks):
            d = tb.notes[:, 2] - ta.notes[:, 2]
            if ta.key == DRUM_KEY:
                assert (d == 0).all()
            else:
                assert len(set(d)) == 1 and (tb.notes[:, 2] <= 127).all()
        assert grammar.is_valid(V, out)


def test_split_is_by_file_and_deterministic():
    keys = [f"file{i}" for i in range(200)]
    train, val = split_by_file(keys, 0.1)
    assert sorted(train + val) == list(range(200)) and not set(train) & set(val)
    assert len(val) == 20  # round(0.1 * 200)
    assert split_by_file(keys, 0.1) == (train, val)
    assert split_by_file(keys, 0.0) == (list(range(200)), [])


def test_split_holds_out_every_style_with_two_files_and_follows_the_seed():
    keys = [f"file{i}" for i in range(300)]
    styles = ["folk"] * 200 + ["jazz"] * 40 + ["pop"] * 3 + ["duo"] * 2 + ["solo"] + [None] * 54
    train, val = split_by_file(keys, 0.05, styles, seed=0)
    assert sorted(train + val) == list(range(300)) and not set(train) & set(val)
    held = [styles[i] for i in val]
    assert {s: held.count(s) for s in set(held)} == {"folk": 10, "jazz": 2, "pop": 1, "duo": 1, None: 3}
    assert "solo" in [styles[i] for i in train]  # a style of one file trains
    assert split_by_file(keys, 0.05, styles, seed=0) == (train, val)  # deterministic for a seed
    other = split_by_file(keys, 0.05, styles, seed=1)
    assert other != (train, val) and [styles[i] for i in other[1]].count("folk") == 10
    # a style is never held out whole, however large the fraction
    _, all_but = split_by_file(keys[:4], 0.9, ["a", "a", "b", "b"])
    assert sorted(["a", "a", "b", "b"][i] for i in all_but) == ["a", "b"]


def test_split_keeps_files_with_the_same_content_together():
    keys = ["x", "y", "x", "z", "y", "w"] * 2
    for seed in range(5):
        train, val = split_by_file(keys, 0.3, seed=seed)
        assert not {keys[i] for i in train} & {keys[i] for i in val}
        assert val


def test_keep_key_leaves_that_share_of_windows_in_their_own_key():
    """A window is in its own key when it equals the untransposed window at its piece and bar;
    with one bar-long piece per window the comparison is exact."""
    p = index_piece(TOK.encode(piece_score(2)), V.style_id("jazz"), V)
    untransposed = {b: WindowSampler([p], V, context=64).window(p, b) for b in range(len(p.bars))}

    def share_in_key(keep_key, n=400):
        sampler = WindowSampler([p], V, context=64, style_dropout=0.0, keep_key=keep_key)
        rng = np.random.default_rng(0)
        same = 0
        for _ in range(n):
            x, y = sampler.sample(rng, 1)
            row = np.r_[x[0], y[0, -1]]
            same += any(np.array_equal(row[:len(w)], w) for w in untransposed.values())
        return same / n

    assert share_in_key(1.0) == 1.0
    assert 0.45 < share_in_key(0.5) < 0.65  # half kept, plus the transpositions by 0 (1 in 13)
    assert share_in_key(0.0) < 0.15  # only the shifts by 0
