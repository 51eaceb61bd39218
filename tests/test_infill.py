"""Infilling and arrangement: the token form (fills.py), the grammar's placeholders and fills,
training windows, and the requests (infill, arrange) on real files: every note outside a
request stays exactly as `compose roundtrip` has it, whatever the model writes."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from composer import fills, grammar
from composer.errors import ComposerError
from composer.generate.api import ComposerModel
from composer.generate.infill import bar_of
from composer.midi_io import read_midi, write_midi
from composer.model import ModelConfig, build_model, save_weights
from composer.score import DRUM_KEY, Score, Track
from composer.tokenizer import Tokenizer
from composer.training.windows import WindowSampler, draw_cells, index_piece
from composer.vocab import BAR, EOS, TokenizerConfig

TOK = Tokenizer(TokenizerConfig(styles=["jazz", "pop"]))
V = TOK.vocab
RES = TOK.config.resolution


def band_piece(bars: int = 12, seed: int = 0) -> Score:
    """A three-track 4/4 piece on the grid: a melody, a bass line and drums, `bars` long."""
    rng = np.random.default_rng(seed)
    bar = 4 * RES
    mel, bass, drums = [], [], []
    for b in range(bars):
        for beat in range(4):
            t = b * bar + beat * RES
            mel.append([t, RES // 2, int(rng.integers(60, 80)), 90])
            if rng.random() < 0.5:
                mel.append([t + RES // 2, RES // 2, int(rng.integers(60, 80)), 70])
            drums.append([t, RES // 4, 36 if beat % 2 == 0 else 38, 100])
        bass += [[b * bar, 2 * RES, 36 + b % 5, 80], [b * bar + 2 * RES, 2 * RES, 43 + b % 3, 80]]
    arr = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return Score(tpq=RES, tracks=[Track(73, name="Tune", notes=arr(mel)), Track(33, name="Bass", notes=arr(bass)),
                                  Track(0, is_drum=True, name="Kit", notes=arr(drums))],
                 tempos=np.array([[0.0, 120.0]]), time_signatures=np.array([[0, 4, 4]]), end=bars * bar)


@pytest.fixture(scope="module")
def model() -> ComposerModel:
    """An untrained tiny model: it writes nonsense, which the exactness checks do not mind."""
    torch.manual_seed(0)
    net = build_model(ModelConfig.preset("tiny", "transformer", vocab_size=len(TOK), context=256)).eval()
    return ComposerModel(net, TOK, {"style_instruments": {"jazz": [0, 32, 33, 66, 73, 128], "pop": [0, 73]}})


def notes_outside(score: Score, bars: set, keys=None) -> set:
    """(key, onset, duration, pitch, velocity) of every note outside `bars` (or, with keys,
    outside the cells of those keys in those bars)."""
    out = set()
    for t in score.tracks:
        if not len(t.notes):
            continue
        b = bar_of(score, t.notes[:, 0])
        for n, bar in zip(t.notes.tolist(), b.tolist()):
            if bar not in bars or (keys is not None and t.key not in keys):
                out.add((t.key, *n))
    return out


# ---- the token form -------------------------------------------------------------------------

def test_hide_then_splice_gives_the_piece_back():
    rng = np.random.default_rng(0)
    for seed in range(6):
        tokens = TOK.encode(band_piece(10, seed), style="jazz")
        piece = fills.parse(tokens, V)
        assert piece.tokens() == tokens.tolist()
        for _ in range(20):
            cells = draw_cells(piece, int(rng.integers(len(piece.bars))), rng)
            main, contents = fills.hide(tokens, cells, V)
            whole = fills.with_fills(main, contents, V)
            assert grammar.is_valid(V, whole), grammar.validate(V, whole)[:3]
            assert np.array_equal(fills.splice(whole, V), tokens)
            assert whole.count(V.fill) == len(cells) == len(contents)


def test_a_placeholder_shows_only_what_is_not_hidden():
    tokens = TOK.encode(band_piece(4), style="jazz")
    main, contents = fills.hide(tokens, {1: frozenset({33})}, V)
    bar2 = fills.parse(main, V)  # (the listed Program is not a group: parse skips the Fill token)
    names = V.describe(main)
    i = names.index("Fill")
    assert names[i - 1] == "Bar" and names[i + 1] == "Program_33"
    shown = fills.parse(tokens, V).bars[1].split(frozenset({33}))[0]
    assert all(k != 33 for _, _, groups in shown.onsets for k, _ in groups)
    assert contents[0] and all(V.describe([t])[0] in ("Program_33",) for t in contents[0] if V.program <= t < V.pitch)
    assert len(bar2.bars) == 4


def test_the_grammar_keeps_fills_to_their_placeholders():
    tokens = TOK.encode(band_piece(4), style="jazz")
    main, contents = fills.hide(tokens, {1: frozenset({33}), 2: None}, V)
    state = grammar.GrammarState(V)
    for t in main:
        assert state.feed(t)
    assert not state.copy().feed(EOS)  # fills are owed
    assert state.feed(V.fill + 1)
    m = state.allowed()
    progs = np.flatnonzero(m[V.program:V.pitch])
    assert m[V.position] and not m[BAR] and not m[V.tempo:V.position].any()
    assert state.feed(V.position + 3)
    assert list(np.flatnonzero(state.allowed()[V.program:V.pitch])) == [33]  # only the hidden bass
    assert len(progs) == 0  # (before a Position, no Program)
    for t in [V.program + 33, V.pitch + 40, V.velocity + 20, V.duration + 5, V.fill + 2]:
        assert state.feed(t)
    assert list(np.flatnonzero(state.allowed())) == [V.fill + 1]  # the second placeholder's fill
    assert state.feed(V.fill + 1) and state.feed(V.position + 47)  # a whole bar: any instrument, in 4/4
    assert not state.copy().feed(V.position + 48)
    assert state.feed(V.program + 5) and state.feed(V.pitch + 60) and state.feed(V.velocity + 3)
    assert state.feed(V.duration + 2) and state.feed(V.fill + 2)
    assert list(np.flatnonzero(state.allowed())) == [EOS]


def test_training_windows_hide_cells_and_stay_well_formed():
    pieces = [index_piece(TOK.encode(band_piece(16, s)), V.style_id("jazz"), V) for s in range(3)]
    sampler = WindowSampler(pieces, V, 256, infill=1.0)
    x, y = sampler.sample(np.random.default_rng(1), 16)
    rows = np.concatenate([x, y[:, -1:]], axis=1)
    for row in rows:
        row = row[row != 0]
        assert (row == V.fill).sum() >= 1 and (row == V.fill + 1).sum() >= 1
        state = grammar.GrammarState(V)
        assert all(state.feed(t) for t in row)


# ---- requests on a piece ------------------------------------------------------------------------

def test_infill_changes_nothing_outside_the_bars(model):
    score = band_piece(12)
    kept = TOK.decode(TOK.encode(score))
    for bars, tracks in (("5-6", None), ("1", None), ("11-12", ["bass"]), ("3-4,8", ["#3", "Tune"])):
        out = model.infill(score, bars, tracks, style="jazz", seed=1)
        chosen = {b - 1 for part in bars.split(",") for b in
                  range(int(part.split("-")[0]), int(part.split("-")[-1]) + 1)}
        keys = None if tracks is None else {33} if tracks == ["bass"] else {DRUM_KEY, 73}
        assert notes_outside(out, chosen, keys) == notes_outside(kept, chosen, keys)
        assert [t.key for t in out.tracks][:3] == [t.key for t in kept.tracks]
        assert np.array_equal(out.tempos, [[0.0, 120.0]])  # the file's own tempo (not the tokens' bin)
        assert np.array_equal(out.time_signatures, kept.time_signatures)
        assert [t.name for t in out.tracks][:3] == ["Bass", "Tune", "Kit"]  # (in key order, as roundtrip)


def test_infill_is_seeded(model):
    score = band_piece(8)
    a = model.infill(score, "3-4", style="jazz", seed=5)
    b = model.infill(score, "3-4", style="jazz", seed=5)
    c = model.infill(score, "3-4", style="jazz", seed=6)
    same = lambda x, y: all(np.array_equal(s.notes, t.notes) for s, t in zip(x.tracks, y.tracks))  # noqa: E731
    assert same(a, b) and not same(a, c)


def test_a_piece_longer_than_the_context_is_filled_window_by_window(model):
    score = band_piece(40)  # ~2,000 tokens against a context of 256
    kept = TOK.decode(TOK.encode(score))
    out = model.infill(score, "18-21", style="jazz", seed=0)
    assert notes_outside(out, set(range(17, 21))) == notes_outside(kept, set(range(17, 21)))


def test_arrange_keeps_the_melody_and_adds_the_band(model):
    melody = Score(tpq=RES, tracks=[band_piece(6).tracks[0]], tempos=np.array([[0.0, 100.0]]),
                   time_signatures=np.array([[0, 4, 4]]), end=6 * 4 * RES)
    kept = TOK.decode(TOK.encode(melody))
    out = model.arrange(melody, style="jazz", instruments=["bass", "drums"], seed=0)
    assert out.tracks[0].name == "Tune" and np.array_equal(out.tracks[0].notes, kept.tracks[0].notes)
    assert {t.key for t in out.tracks[1:]} <= {32, 33, DRUM_KEY}
    # a melody on an instrument the band is to play: heard as the style's lead, kept as it is
    piano = Score(tpq=RES, tracks=[Track(0, name="Right hand", notes=melody.tracks[0].notes)],
                  time_signatures=np.array([[0, 4, 4]]), end=melody.end)
    out = model.arrange(piano, style="jazz", instruments=["piano"], seed=0)
    assert out.tracks[0].name == "Right hand" and len(out.tracks) <= 2


def test_arrange_samples_colder_unless_told(model):
    """arrange's default temperature is ARRANGE_TEMPERATURE (generate's and infill's 1.0)."""
    from composer.generate.options import ARRANGE_TEMPERATURE

    melody = Score(tpq=RES, tracks=[band_piece(6).tracks[0]], time_signatures=np.array([[0, 4, 4]]), end=6 * 4 * RES)

    def notes(**options):
        out = model.arrange(melody, style="jazz", instruments=["bass", "drums"], seed=3, **options)
        return [t.notes.tolist() for t in out.tracks]
    assert ARRANGE_TEMPERATURE < 1.0
    assert notes() == notes(temperature=None) == notes(temperature=ARRANGE_TEMPERATURE)
    assert notes() != notes(temperature=1.0)


def test_arrange_replace_writes_one_track_anew(model):
    score = band_piece(6)
    kept = TOK.decode(TOK.encode(score))
    out = model.arrange(score, style="jazz", replace_tracks=["bass"], seed=0)
    assert notes_outside(out, set(range(6)), {33}) == notes_outside(kept, set(range(6)), {33})


@pytest.mark.parametrize("call, message", [
    (lambda m, s: m.infill(s, "9-13"), "has 12 bars"),
    (lambda m, s: m.infill(s, "0-2"), "count from 1"),
    (lambda m, s: m.infill(s, "x"), "expected bar numbers"),
    (lambda m, s: m.infill(s, "2", ["violin"]), "no such track"),
    (lambda m, s: m.infill(s, "2", ["#9"]), "#1 Tune"),
    (lambda m, s: m.infill(Score(tpq=RES), "1"), "no notes"),
    (lambda m, s: m.arrange(s), "needs --style"),
    (lambda m, s: m.arrange(s, style="pop", instruments=["tuba"]), "never plays it"),
    (lambda m, s: m.arrange(s, style="jazz", instruments=["bass"], replace_tracks=["bass"]), "not both"),
])
def test_bad_requests_are_one_line_errors(model, call, message):
    with pytest.raises(ComposerError, match=message) as e:
        call(model, band_piece(12))
    assert "\n" not in str(e.value)


def test_a_model_without_fill_tokens_says_what_to_do():
    old = Tokenizer(TokenizerConfig(styles=["jazz"], infill=False))
    net = build_model(ModelConfig.preset("tiny", "transformer", vocab_size=len(old), context=64)).eval()
    with pytest.raises(ComposerError, match="fine-tune"):
        ComposerModel(net, old).infill(band_piece(4), "2")


# ---- the command line ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, model) -> Path:
    """The tiny model as a run folder, for the command line."""
    run = tmp_path_factory.mktemp("tiny_run")
    net = model.decoder.model if hasattr(model.decoder, "model") else None
    torch.manual_seed(0)
    net = net or build_model(ModelConfig.preset("tiny", "transformer", vocab_size=len(TOK), context=256))
    save_weights(net, run / "model.safetensors")
    (run / "config.json").write_text(json.dumps({
        "format": "composer-run", "version": 1, "model": net.config.to_dict(), "tokenizer": TOK.to_dict(),
        "styles": TOK.config.styles, "style_instruments": {"jazz": [0, 32, 33, 66, 73, 128], "pop": [0, 73]}}))
    return run


def test_compose_infill_and_arrange_write_files(run_dir, tmp_path):
    from click.testing import CliRunner

    from composer.cli import cli
    song = tmp_path / "song.mid"
    write_midi(band_piece(8), song)
    r = CliRunner().invoke(cli, ["infill", str(song), "--bars", "3-4", "--tracks", "bass", "--model", str(run_dir),
                                 "--style", "jazz", "-o", str(tmp_path / "in.mid")])
    assert r.exit_code == 0, r.output
    assert "bars 3-4 written anew (bass)" in r.output
    assert [t.name for t in read_midi(tmp_path / "in.mid").tracks] == ["Bass", "Tune", "Kit"]
    r = CliRunner().invoke(cli, ["arrange", str(song), "--replace", "drums", "--model", str(run_dir),
                                 "--style", "jazz", "-o", str(tmp_path / "arr.mid"), "--num-samples", "2"],
                           )
    assert r.exit_code == 0, r.output
    assert (tmp_path / "arr_01.mid").exists() and (tmp_path / "arr_02.mid").exists()
    for name, extra in (("a.mid", []), ("b.mid", ["--temperature", "0.8"]), ("c.mid", ["--temperature", "1"])):
        r = CliRunner().invoke(cli, ["arrange", str(song), "--instruments", "bass", "--model", str(run_dir),
                                     "--style", "jazz", "-o", str(tmp_path / name), *extra])
        assert r.exit_code == 0, r.output
    data = {n: (tmp_path / n).read_bytes() for n in ("a.mid", "b.mid", "c.mid")}
    assert data["a.mid"] == data["b.mid"] != data["c.mid"]  # arrange's default temperature is 0.8
    from composer.generate.options import ARRANGE_TEMPERATURE
    assert f"[default: {ARRANGE_TEMPERATURE}:" in CliRunner().invoke(cli, ["arrange", "--help"]).output


def test_real_files_keep_every_note_outside_random_requests(model, tmp_path):
    """Random bar ranges and track choices on real files (a hand-made 6/8 file at 384 ticks
    with three piano tracks and two drum tracks, a Bach chorale, POP909 and Groove excerpts
    when the shared corpora are there): the output equals the roundtrip outside them."""
    from test_primer import real_files

    from composer.load import load_score
    rng = np.random.default_rng(11)
    files = [f for f in real_files(tmp_path) if f.name != "generated.mid"]
    for case in range(12):
        path = files[case % len(files)]
        score = load_score(path, channels=True)
        kept = TOK.decode(TOK.encode(score))
        n_bars = int((TOK.encode(score) == BAR).sum())
        a = int(rng.integers(1, n_bars + 1))
        b = int(rng.integers(a, min(n_bars, a + 3) + 1))
        names = None
        if rng.random() < 0.5:
            pick = rng.choice(len(score.tracks), size=int(rng.integers(1, len(score.tracks) + 1)), replace=False)
            names = [f"#{i + 1}" for i in sorted(pick.tolist())]
        out = model.infill(score, f"{a}-{b}", names, seed=case)
        keys = None if names is None else {score.tracks[int(n[1:]) - 1].key for n in names}
        chosen = set(range(a - 1, b))
        assert notes_outside(out, chosen, keys) == notes_outside(kept, chosen, keys), (path.name, a, b, names)
        assert np.allclose(out.tempos[:, 1], score.tempos[:, 1])  # the file's own tempos, on the grid
        assert np.array_equal(out.time_signatures, kept.time_signatures)
    song = files[0]
    melody = load_score(song, channels=True)
    out = model.arrange(melody, style="jazz", instruments=["bass"], seed=1)
    kept = TOK.decode(TOK.encode(melody))
    assert notes_outside(Score(tpq=out.tpq, tracks=out.tracks[:len(kept.tracks)], time_signatures=out.time_signatures),
                         set()) == notes_outside(kept, set())


def test_written_drum_pushes_go_onto_the_beat_within_the_written_bars_and_the_users_stay():
    from composer.generate.infill import assemble

    def drums(*onsets):
        return Track(0, True, "Drums", np.array([[t, 60, 42, 90] for t in onsets]))

    def score(track):
        return Score(tpq=480, tracks=[track], tempos=np.array([[0, 120.0]]),
                     time_signatures=np.array([[0, 4, 4]]), end=3 * 1920)

    kept = score(drums(0, 480 - 40, 1920, 3840))  # the user's own push before beat 2 of bar 1
    written = score(drums(0, 1920 + 480 - 40, 3840 - 40, 3840))  # bar 2 written: a push, and one into bar 3
    out = assemble(kept, written, {1: None}, replace=True)
    assert out.tracks[0].notes[:, 0].tolist() == [0, 440, 1920 + 480, 3840 - 40, 3840]
    raw = assemble(kept, written, {1: None}, replace=True, straighten=False)
    assert raw.tracks[0].notes[:, 0].tolist() == [0, 440, 1920 + 440, 3840 - 40, 3840]
    both = assemble(kept, written, {1: None, 2: None}, replace=True)  # bar 3 written too: the push
    assert both.tracks[0].notes[:, 0].tolist() == [0, 440, 1920 + 480, 3840]  # goes onto its downbeat
