"""The tokenizer's contract: encode/decode are exact inverses on the grid, and decode survives
anything a model could emit. Property tests over random scores and random token sequences."""

import json

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from composer import fills, grammar
from composer.score import DRUM_KEY, Score, Track
from composer.tokenizer import Tokenizer
from composer.vocab import BAR, BOS, EOS, TokenizerConfig
from grammar_walk import random_walk

TOK = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))  # compact notes (the default)
V = TOK.vocab
RES = TOK.config.resolution
# every note spelled out in full, as before compact notes (and as old tokenizer configs load)
TOK_FULL = Tokenizer(TokenizerConfig(styles=["jazz", "pop"], drum_durations=True, elide_repeats=False))
BOTH = pytest.mark.parametrize("tok", [TOK, TOK_FULL], ids=["compact", "full"])


def note_set(score: Score) -> set:
    """(key, pitch, onset, duration, velocity) in grid steps, for any tpq."""
    f = RES / score.tpq
    return {(t.key, int(p), round(o * f), round(d * f), int(v))
            for t in score.tracks for o, d, p, v in t.notes}


def expected_notes(score: Score, tok: Tokenizer) -> set:
    """note_set of a grid score as `tok` keeps it: drum notes last a 16th without drum durations."""
    fixed = None if tok.config.drum_durations else RES // 4
    return {(k, p, o, fixed if k == DRUM_KEY and fixed else d, v) for k, p, o, d, v in note_set(score)}


def meter_list(score: Score) -> list:
    f = RES / score.tpq
    return [(round(t * f), int(n), int(d)) for t, n, d in score.time_signatures]


def tempo_list(score: Score) -> list:
    f = RES / score.tpq
    return [(round(t * f), int(np.argmin(abs(np.log(V.tempos) - np.log(q))))) for t, q in score.tempos]


@st.composite
def grid_scores(draw):
    """A random multi-track score already on the tokenizer's grid and bins."""
    tpq = draw(st.sampled_from([12, 96, 120, 384, 480, 960]))
    f = tpq // RES
    segments = draw(st.lists(st.tuples(st.integers(1, 3), st.integers(0, len(V.time_signatures) - 1)),
                             min_size=1, max_size=3))
    meters, bar_starts, step = [], [], 0
    for n_bars, ts in segments:
        if not meters or meters[-1][1] != ts:
            meters.append((step, ts))
        length = int(V.bar_steps[ts])
        bar_starts += [step + i * length for i in range(n_bars)]
        step += n_bars * length
    end = step
    tempo_bins = draw(st.lists(st.integers(0, len(V.tempos) - 1), min_size=1, max_size=4))
    tempo_steps = sorted(set([0] + draw(st.lists(st.integers(1, end - 1), max_size=3)))) if end > 1 else [0]
    tempos, last = [], None
    for s, b in zip(tempo_steps, tempo_bins):
        if b != last:
            tempos.append((s, b))
            last = b
    keys = draw(st.lists(st.sampled_from([0, 1, 24, 33, 56, 73, DRUM_KEY]), min_size=1, max_size=4, unique=True))
    notes = {}
    for _ in range(draw(st.integers(1, 40))):
        onset = draw(st.integers(0, end - 1))
        fits = [i for i, d in enumerate(V.durations) if onset + d <= end]
        if not fits:
            continue
        k, p = draw(st.sampled_from(keys)), draw(st.integers(0, 127))
        notes[(k, p, onset)] = (int(V.durations[draw(st.sampled_from(fits))]),
                                int(V.velocities[draw(st.integers(0, len(V.velocities) - 1))]))
    tracks = []
    for k in keys:
        rows = [[o * f, d * f, p, v] for (kk, p, o), (d, v) in notes.items() if kk == k]
        if rows:
            tracks.append(Track(program=0 if k == DRUM_KEY else k, is_drum=k == DRUM_KEY,
                                notes=np.array(rows, dtype=np.int64)))
    return Score(tpq=tpq, tracks=tracks,
                 tempos=np.array([[s * f, V.tempos[b]] for s, b in tempos], dtype=np.float64),
                 time_signatures=np.array([[s * f, *V.time_signatures[ts]] for s, ts in meters], dtype=np.int64),
                 end=end * f)


@BOTH
@given(score=grid_scores())
def test_decode_inverts_encode_on_the_grid(tok, score):
    tokens = tok.encode(score, style="jazz")
    back = tok.decode(tokens)
    assert note_set(back) == expected_notes(score, tok)
    assert meter_list(back) == meter_list(score)
    assert tempo_list(back) == tempo_list(score)
    assert back.end * score.tpq == score.end * back.tpq
    assert {t.is_drum for t in back.tracks} == {t.is_drum for t in score.tracks}
    assert grammar.is_valid(tok.vocab, tokens)
    assert tok.vocab.style_name(tokens[1]) == "jazz"


@st.composite
def off_grid_scores(draw):
    """Arbitrary notes, tempos and meters at any tick: quantise must make them representable."""
    tpq = draw(st.integers(1, 1000))
    n = draw(st.integers(0, 30))
    tracks = []
    for k in draw(st.lists(st.sampled_from([0, 5, 33, DRUM_KEY]), min_size=1, max_size=3, unique=True)):
        rows = [[draw(st.integers(0, 20 * tpq)), draw(st.integers(0, 10 * tpq)), draw(st.integers(0, 127)),
                 draw(st.integers(0, 127))] for _ in range(n)]
        tracks.append(Track(program=0 if k == DRUM_KEY else k, is_drum=k == DRUM_KEY,
                            notes=np.array(rows, dtype=np.int64).reshape(-1, 4)))
    tempos = [[draw(st.integers(0, 20 * tpq)), draw(st.floats(1, 1000))] for _ in range(draw(st.integers(0, 3)))]
    sigs = [[draw(st.integers(0, 20 * tpq)), draw(st.integers(1, 19)), draw(st.sampled_from([1, 2, 4, 8, 16, 32]))]
            for _ in range(draw(st.integers(0, 3)))]
    return Score(tpq=tpq, tracks=tracks, tempos=np.array(tempos, dtype=np.float64).reshape(-1, 2),
                 time_signatures=np.array(sorted(sigs), dtype=np.int64).reshape(-1, 3),
                 end=draw(st.integers(0, 30 * tpq)))


@BOTH
@given(score=off_grid_scores())
def test_quantise_is_idempotent_and_tokens_are_canonical(tok, score):
    tokens = tok.encode(score)
    assert grammar.is_valid(tok.vocab, tokens), grammar.validate(tok.vocab, tokens)[:3]
    q = tok.quantise(score)
    assert np.array_equal(tok.encode(q), tokens)
    assert note_set(tok.quantise(q)) == note_set(q)
    # nothing is lost but what the grid merges: one note per (instrument, pitch, onset step)
    assert len(note_set(q)) == len({(t.key, p, round(o * RES / score.tpq))
                                    for t in score.tracks for o, _, p, _ in t.notes})


@BOTH
def test_encode_inverts_decode_for_valid_sequences(tok):
    rng = np.random.default_rng(0)
    for i in range(300):
        tokens = random_walk(rng, n_max=rng.integers(5, 400), vocab=tok.vocab)
        assert grammar.is_valid(tok.vocab, tokens)
        again = tok.encode(tok.decode(tokens), style=tok.vocab.style_name(tokens[1]))
        plain = fills.splice(tokens, tok.vocab)  # placeholders and fills: each fill in its bar
        assert grammar.is_valid(tok.vocab, plain)
        assert np.array_equal(again, plain), (i, V.describe(tokens), V.describe(again))


@BOTH
def test_decode_never_crashes_on_random_tokens(tok):
    rng = np.random.default_rng(1)
    valid = random_walk(rng, 300, vocab=tok.vocab)
    for i in range(3000):
        kind = i % 3
        if kind == 0:  # uniform noise
            tokens = rng.integers(0, len(V), rng.integers(0, 200))
        elif kind == 1:  # a valid sequence with tokens replaced, dropped and duplicated
            tokens = valid.copy()
            idx = rng.integers(0, len(tokens), 20)
            tokens[idx] = rng.integers(0, len(V), 20)
            tokens = np.delete(tokens, rng.integers(0, len(tokens), 5))
            tokens = np.insert(tokens, rng.integers(0, len(tokens), 5), tokens[rng.integers(0, len(tokens), 5)])
        else:  # out-of-range ids, negative ids, truncation
            tokens = np.concatenate([valid[: rng.integers(0, len(valid))], rng.integers(-5, len(V) + 50, 10)])
        score = tok.decode(tokens)
        assert grammar.is_valid(tok.vocab, tok.encode(score))
        for t in score.tracks:
            assert (t.notes[:, 1] >= 1).all() and (t.notes[:, 0] >= 0).all()
            assert ((t.notes[:, 2] >= 0) & (t.notes[:, 2] <= 127)).all()


def test_repair_keeps_the_well_formed_parts():
    tokens = [BOS, V.style_id("pop"), V.timesig + V.ts_index[(4, 4)], V.tempo + 10, BAR,
              V.position + 0, V.program + 0, V.pitch + 60, V.velocity + 20,  # missing Duration
              V.position + 12, V.program + 0, V.pitch + 64, V.velocity + 20, V.duration + 11, EOS]
    score = TOK.decode(tokens)
    assert note_set(score) == {(0, 64, 12, 12, int(V.velocities[20]))}


def test_style_ids_survive_adding_a_style():
    bigger = TOK.with_styles(["blues"])
    assert bigger.vocab.names[: len(V)] == V.names
    assert bigger.vocab.style_id("blues") == len(V)
    assert bigger.vocab.style_id("jazz") == V.style_id("jazz")


def test_config_round_trips_through_json(tmp_path):
    again = Tokenizer.from_dict(json.loads(json.dumps(TOK.to_dict())))
    assert again.vocab.names == V.names
    assert again.config.fingerprint() == TOK.config.fingerprint()
    with pytest.raises(ValueError):
        TokenizerConfig(resolution=10)


def test_drums_are_never_program_zero():
    piano = Track(program=0, notes=np.array([[0, 12, 36, 100]]))
    drums = Track(program=0, is_drum=True, notes=np.array([[0, 12, 36, 100]]))
    score = TOK.decode(TOK.encode(Score(tpq=12, tracks=[piano, drums])))
    assert sorted((t.program, t.is_drum) for t in score.tracks) == [(0, False), (0, True)]


def test_triplets_and_sixteenths_are_exact():
    tpq = 480
    sixteenths = [[i * tpq // 4, tpq // 4, 60 + i, 80] for i in range(4)]
    triplets = [[tpq + i * tpq // 3, tpq // 3, 70 + i, 80] for i in range(3)]
    score = Score(tpq=tpq, tracks=[Track(program=0, notes=np.array(sixteenths + triplets))])
    back = TOK.decode(TOK.encode(score))
    assert sorted(map(tuple, back.tracks[0].notes[:, :3].tolist())) == sorted(
        (o * RES // tpq, d * RES // tpq, p) for o, d, p, _ in sixteenths + triplets)


@pytest.mark.parametrize("work", ["bach/bwv66.6", "bach/bwv7.7", "palestrina/agnus_01"])
def test_real_files_from_music21_round_trip(work, tmp_path):
    """Real music: chorales (MusicXML) and a mass (kern), directly and via a MIDI file."""
    music21 = pytest.importorskip("music21")
    from composer.load import load_score
    from composer.midi_io import write_midi

    path = music21.corpus.getWork(work)
    path = path[0] if isinstance(path, list) else path
    score = load_score(path)
    write_midi(score, tmp_path / "x.mid")
    for s in (score, load_score(tmp_path / "x.mid")):
        tokens = TOK.encode(s)
        back = TOK.decode(tokens)
        assert np.array_equal(TOK.encode(back), tokens)
        # onsets and pitches are exact (this music sits on the grid); durations are
        # the nearest bin; voices with the same program merge, so unisons between them count once
        f = RES / s.tpq
        expected = {(t.key, int(p), round(o * f)) for t in s.tracks for o, _, p, _ in t.notes}
        assert {(k, p, o) for k, p, o, _, _ in note_set(back)} == expected
        assert len(note_set(back)) == len(expected) > 20
        assert meter_list(back)[0][1:] == meter_list(s)[0][1:]


def test_configs_from_before_compact_notes_load_with_full_notes_and_keep_their_hash():
    import hashlib
    import json

    old = TokenizerConfig().to_dict()
    del old["drum_durations"], old["elide_repeats"]
    cfg = TokenizerConfig.from_dict(old)
    assert cfg.drum_durations and not cfg.elide_repeats
    d = dict(old)
    d.pop("styles")
    assert cfg.fingerprint() == hashlib.sha256(json.dumps(d, sort_keys=True).encode()).hexdigest()[:16]
    assert TokenizerConfig().fingerprint() != cfg.fingerprint()


def test_a_note_ringing_past_the_last_bar_line_adds_no_bar():
    # two bars of 4/4; the last note starts on beat 4 of bar 2 and rings a half note past it,
    # and the file ends where that note is released (as MIDI files written by any DAW do)
    vel = int(V.velocities[20])
    notes = np.array([[0, 12, 60, vel], [84, 24, 62, vel]])
    score = Score(tpq=12, tracks=[Track(0, False, "", notes)], end=108)
    tokens = TOK.encode(score)
    assert int((tokens == BAR).sum()) == 2
    assert note_set(TOK.decode(tokens)) == note_set(score)  # the note keeps its length
    silent = Score(tpq=12, tracks=[Track(0, False, "", notes[:1])], end=144)  # three bars, two silent
    assert int((TOK.encode(silent) == BAR).sum()) == 3
