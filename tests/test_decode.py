"""Generation: every sampled sequence is well-formed, constraints hold, seeds reproduce."""

import numpy as np
import pytest
import torch

from composer import grammar
from composer.errors import ComposerError
from composer.model import ModelConfig, build_model
from composer.generate import ComposerModel
from composer.score import DRUM_KEY, Score, Track
from composer.tokenizer import Tokenizer
from composer.vocab import BAR, TokenizerConfig

TOK = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))


def untrained(arch="transformer", context=256) -> ComposerModel:
    torch.manual_seed(0)
    model = build_model(ModelConfig.preset("tiny", arch, vocab_size=len(TOK), context=context))
    return ComposerModel(model, TOK)


@pytest.mark.slow
def test_a_thousand_untrained_samples_are_all_well_formed():
    cm = untrained()
    n_ok = 0
    for seed in range(10):
        # an untrained model writes very dense bars: max_tokens makes it close them early
        seqs = cm.generate_tokens(_opts(style="jazz", bars=2, num_samples=100, seed=seed, max_tokens=60))
        for s in seqs:
            assert grammar.validate(TOK.vocab, s) == []  # decodes without any repair
            assert int((s == BAR).sum()) == 2
            n_ok += 1
    assert n_ok == 1000


def _opts(**kw):
    from composer.generate import SamplingOptions
    return SamplingOptions(**kw)


@pytest.mark.parametrize("arch", ["transformer", "lstm"])
def test_constraints_seed_and_guidance(arch):
    cm = untrained(arch)
    kw = dict(style="pop", bars=3, instruments=["piano", "bass", "drums"], tempo=90,
              time_signature=(3, 4), seed=7, guidance=2.0, top_k=50, top_p=0.95, temperature=0.9)
    a, b = cm.generate_batch(num_samples=2, **kw), cm.generate_batch(num_samples=2, **kw)
    for sa, sb in zip(a, b):
        assert {t.key for t in sa.tracks} <= set(range(8)) | set(range(32, 40)) | {DRUM_KEY}
        assert [tuple(x) for x in sa.time_signatures[:, 1:]] == [(3, 4)]
        assert sa.tempos.tolist() == [[0.0, 90.0]]  # exactly the tempo asked for, not its bin
        assert sa.end == 3 * 36
        assert all(np.array_equal(x.notes, y.notes) for x, y in zip(sa.tracks, sb.tracks))
    c = cm.generate_batch(num_samples=2, **{**kw, "seed": 8})
    assert any(not np.array_equal(x.notes, y.notes) for x, y in zip(a[0].tracks, c[0].tracks)) or \
        len(a[0].tracks) != len(c[0].tracks)


@pytest.mark.parametrize("n", [1, 2])
def test_guidance_defaults_to_the_models_choice_per_style(n):
    cm = untrained()
    cm.config = {"guidance": {"pop": 2.5}}
    assert (cm.guidance_for("pop"), cm.guidance_for("jazz"), cm.guidance_for(None)) == (2.5, 1.0, 1.0)
    kw = dict(bars=2, seed=3, num_samples=n, max_tokens=80)
    tokens = lambda **o: [s.tolist() for s in cm.generate_tokens(_opts(**kw, **o))]  # noqa: E731
    assert tokens(style="pop") == tokens(style="pop", guidance=2.5) != tokens(style="pop", guidance=1.0)
    assert tokens(style="jazz") == tokens(style="jazz", guidance=1.0)


@pytest.mark.parametrize("n", [1, 2])  # one piece (speculative, drops the twin) and a batch (per-row scales)
def test_guidance_can_steer_only_the_opening_bars(n):
    cm = untrained()
    fed = []
    step = cm.decoder.step
    cm.decoder.step = lambda idx, cache=None, **kw: (fed.append(idx.shape[0]), step(idx, cache, **kw))[1]
    kw = dict(style="pop", bars=4, seed=3, num_samples=n, max_tokens=600, guidance=2.5)
    tokens = lambda **o: [s.tolist() for s in cm.generate_tokens(_opts(**{**kw, **o}))]  # noqa: E731
    whole, opening = tokens(guidance_bars=0), tokens(guidance_bars=2)
    for w, o in zip(whole, opening):
        third_bar = [i for i, t in enumerate(o) if t == BAR][2]
        assert o[:third_bar + 1] == w[:third_bar + 1]  # steered alike up to the third Bar token
        assert o != w  # and on its own after it
        assert grammar.validate(TOK.vocab, np.array(o)) == [] and o.count(BAR) == 4
    fed.clear()
    tokens(guidance_bars=2)
    if n == 1:  # after the opening bars the twin row is gone: no more batch-2 steps
        last_guided = max(i for i, b in enumerate(fed) if b == 2)
        assert fed[last_guided + 1:] and set(fed[last_guided + 1:]) == {1}
    cm.config = {"guidance": {"pop": 2.5}, "guidance_bars": {"pop": 2}}
    assert cm.guidance_bars_for("pop") == 2 and cm.guidance_bars_for("jazz") == 0
    assert tokens(guidance=None, guidance_bars=None) == opening


def test_a_style_keeps_to_its_corpus_instruments_unless_told_otherwise():
    cm = untrained()
    kw = dict(style="pop", bars=2, num_samples=6, max_tokens=80)
    free = {t.key for s in cm.generate_batch(**kw) for t in s.tracks}
    assert len(free) > 2  # an untrained model picks all sorts of instruments
    cm.config = {"style_instruments": {"pop": [0, 73]}}
    assert {t.key for s in cm.generate_batch(**kw) for t in s.tracks} <= {0, 73}
    assert {t.key for s in cm.generate_batch(**kw, instruments=["flute"]) for t in s.tracks} == {73}
    with pytest.raises(ComposerError, match="never plays it; pop plays piano, flute"):
        cm.generate_batch(**kw, instruments=["drums"])  # refused, not ignored
    assert len({t.key for s in cm.generate_batch(**{**kw, "style": "jazz"}) for t in s.tracks}) > 2


@pytest.mark.parametrize("n", [1, 2])  # one piece (speculative) and a batch
def test_sliding_window_keeps_going_past_the_context(n):
    cm = untrained(context=64)
    seqs = cm.generate_tokens(_opts(style="jazz", bars=12, num_samples=n, seed=1))
    for s in seqs:
        assert len(s) > 64
        assert grammar.validate(TOK.vocab, s) == []
        assert int((s == BAR).sum()) == 12


def test_primer_notes_are_kept_unchanged():
    cm = untrained()
    notes = np.array([[0, 240, 60, 80], [250, 100, 64, 81], [700, 480, 67, 82]])  # off-grid on purpose
    primer = Score(tpq=480, tracks=[Track(0, False, "Piano", notes)], tempos=np.array([[0, 100.0]]),
                   time_signatures=np.array([[0, 4, 4]]), end=1920)
    out = cm.generate(style="jazz", bars=2, primer=primer, seed=3, time_signature=(4, 4))  # no meter change
    assert out.tpq == 480
    piano = next(t for t in out.tracks if t.key == 0)
    first_bar = piano.notes[piano.notes[:, 0] < 1920]
    assert np.array_equal(first_bar, notes)
    assert out.end == 3 * 1920


def test_unknown_style_is_a_clear_error():
    with pytest.raises(ComposerError, match="unknown style 'polka'.*jazz, pop"):
        untrained().generate(style="polka")


def test_generic_instrument_names_admit_their_whole_kind():
    from composer.gm import instrument_keys

    c = untrained().constraints(_opts(instruments=["bass", "tenor sax", "drums"]), 0)
    assert c.programs == [*range(32, 40), 66, DRUM_KEY]
    assert instrument_keys("acoustic bass") == [32] and instrument_keys("pianos") == list(range(8))


def test_checking_a_draft_samples_exactly_the_distribution():
    from composer.generate.decode import _check_draft

    rng = np.random.default_rng(0)
    cand, p = np.array([10, 11, 12, 13]), np.array([0.5, 0.3, 0.15, 0.05])
    for draft in (11, 10, 99):  # a likely draft, the favourite, one the grammar forbids
        draws = np.array([_check_draft(cand, p, draft, rng) for _ in range(20000)])
        freq = np.array([(draws == c).mean() for c in cand])
        assert np.abs(freq - p).max() < 0.015, (draft, freq)
    assert _check_draft(np.array([7]), np.array([1.0]), 7, rng) == 7


def test_prompt_lookup_drafts_what_followed_last_time():
    from composer.generate.decode import PromptLookup

    look = PromptLookup(n=2, k=3)
    assert look.propose([1, 2, 3]) == []
    assert look.propose([1, 2, 3, 4, 5, 1, 2]) == [3, 4, 5]
    assert look.propose([1, 2, 3, 4, 5, 1, 2, 3, 9, 2, 3]) == [9, 2, 3]  # the latest occurrence wins


def test_one_piece_is_sampled_speculatively_well_formed_and_reproducibly(monkeypatch):
    from composer.generate import decode

    # an untrained model rarely repeats four tokens: draft from any one-token match instead
    lookup = decode.PromptLookup
    monkeypatch.setattr(decode, "PromptLookup", lambda k: lookup(n=1, k=k))
    cm = untrained()
    fed = []
    step = cm.decoder.step
    cm.decoder.step = lambda idx, cache=None, **kw: (fed.append(idx.shape[1]), step(idx, cache, **kw))[1]
    for guidance in (1.0, 2.0):  # with guidance, the unconditioned twin row checks the same drafts
        fed.clear()
        kw = dict(style="jazz", bars=4, seed=5, instruments=["piano", "drums"], max_tokens=300, guidance=guidance)
        a = cm.generate_tokens(_opts(**kw))[0]
        b = cm.generate_tokens(_opts(**kw))[0]
        assert np.array_equal(a, b)
        assert grammar.validate(TOK.vocab, a) == [] and int((a == BAR).sum()) == 4
        assert max(fed[1:len(fed) // 2]) > 1  # drafts were checked several at a time


@pytest.mark.parametrize("n", [1, 2])
def test_a_primer_longer_than_the_context_continues_from_its_last_bars(n):
    cm = untrained(context=64)
    notes = np.array([[i * 120, 120, 60 + i % 12, 80] for i in range(64)])  # 8 bars of eighths: > 64 tokens
    primer = Score(tpq=480, tracks=[Track(0, False, "Piano", notes)], tempos=np.array([[0, 100.0]]),
                   time_signatures=np.array([[0, 4, 4]]), end=8 * 1920)
    assert len(TOK.encode(primer)) > 64
    outs = cm.generate_batch(style="jazz", bars=2, primer=primer, seed=3, num_samples=n, time_signature=(4, 4))
    for out in outs:
        piano = next(t for t in out.tracks if t.key == 0)
        assert np.array_equal(piano.notes[piano.notes[:, 0] < 8 * 1920], notes)  # the primer, untouched
        assert out.end == 10 * 1920


def test_a_full_cache_slides_to_the_window_and_refills_only_where_the_header_changes():
    from composer.generate.decode import _window, slide_window

    cm = untrained(context=64)
    prefills = []
    step = cm.decoder.step
    cm.decoder.step = lambda idx, cache=None, **kw: (prefills.append(cache is None), step(idx, cache, **kw))[1]
    s = cm.generate_tokens(_opts(style="jazz", bars=12, seed=1, guidance=1.0, time_signature=(4, 4)))[0]
    assert len(s) > 3 * 64 and grammar.validate(TOK.vocab, s) == []
    assert sum(prefills) == 1  # the prompt only: every full cache slid (one meter throughout)
    v = TOK.vocab
    start = slide_window(s, v, 64, tuple(s[:4]), 63)
    window = _window(s, v, 48)
    assert start is not None and 63 - start == len(window) - 5  # the window's bars, less the new token
    assert np.array_equal(window[4:], s[len(s) - len(window) + 4:])
    assert slide_window(s, v, 64, (s[0], s[1], s[2] + 1, s[3]), 63) is None  # another meter in force
