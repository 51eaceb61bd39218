"""Tests of the corpus recipe (recipe/sources, recipe/build_corpus.py) on tiny inline data.

Nothing here reads ../shared; the MMA rendering test is skipped when `mma` is not installed.
"""

from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

from recipe.sources import balance, improvisor as im, music21_sources as m21, mutopia, pop909
from recipe.sources.common import Job, distinct_duplicates, merge_tracks, norm_title, slug, stable_hash
from composer.score import Score, Track
from composer.tokenizer import Tokenizer

F = Fraction


def notes(*rows):
    return np.array(rows, dtype=np.int64).reshape(-1, 4)


def track(program, pitches, name="", drum=False, tpq=480):
    rows = [(i * tpq, tpq, p, 80) for i, p in enumerate(pitches)]
    return Track(program=program, is_drum=drum, name=name, notes=notes(*rows))


# ============================================================================ leadsheets

LEADSHEET = """(title Tiny Blues)
(composer Nobody)
(meter 4 4)
(key -1)
(tempo 140.0)
(style swing
    (swing 0.67)
    (comp-swing 0.67)
)
(part
    (type chords)
    (title )
    (instrument 0)
     (roadmap
       (blocks
         (brick (name POT) (blocks (chord F7 480) (chord Bb7 480)))
       )
     )
)

(section (style swing))

F7 | Bb7 | F7 | Cm7 F7 |

(phrase (style))
Bb7 | / | F7 | D7#5#9 |

(section (style))

Gm7 | C7 | F7 D7 | Gm7 C7 |

(part
    (type melody)
    (title Head)
    (instrument 11)
    (stave treble)
)
 r2 a8 r8 c+8 f1 d+8 c+8 bb8 r4 a8/3 r8/3 c+8/3 e2+4+8
(part
    (type melody)
    (title Head 2)
    (stave treble)
)
 f-4 g-4. a-8 r2 c8 d8 e8 f8 g8 a8 bb8 c+8 d+4 c+4 a4 f4
"""


def test_parse_duration():
    assert im.parse_duration("4") == 1
    assert im.parse_duration("8") == F(1, 2)
    assert im.parse_duration("8.") == F(3, 4)
    assert im.parse_duration("4..") == F(7, 4)
    assert im.parse_duration("8/3") == F(1, 3)
    assert im.parse_duration("16/5") == F(1, 5)
    assert im.parse_duration("2+4+8") == F(7, 2)
    assert im.parse_duration("1+1") == 8
    assert im.parse_duration("x") is None
    assert im.parse_duration("0") is None


def test_parse_melody_pitches_octaves_rests():
    mel = im.parse_melody("c8 c+4 c-4 bb8 f#++16 r2 eb-8/3 junk (x) a")
    assert mel == [(60, F(1, 2)), (72, 1), (48, 1), (70, F(1, 2)), (90, F(1, 4)), (None, 2), (51, F(1, 3))]


def test_read_items_nesting_and_text():
    items = im.read_items("(a b (c d)) text | more (e) tail")
    assert items == [["a", "b", ["c", "d"]], " text | more ", ["e"], " tail"]
    assert im.read_items("(open (never closed") == [["open", ["never", "closed"]]]


def test_parse_bars():
    assert im.parse_bars(" | C | D E |  | F | / |") == [["C"], ["D", "E"], ["F"], ["/"]]
    assert im.parse_bars("") == []


def test_parse_leadsheet():
    s = im.parse_leadsheet(LEADSHEET)
    assert s.title == "Tiny Blues" and s.composer == "Nobody"
    assert s.meter == (4, 4) and s.key == -1 and s.tempo == 140.0
    assert s.style == "swing" and s.swing == pytest.approx(0.67)
    assert len(s.bars) == 12
    assert s.bars[3] == ["Cm7", "F7"] and s.bars[5] == ["/"] and s.bars[10] == ["F7", "D7"]
    assert len(s.melody) == 2
    assert s.melody[0][:3] == [(None, 2), (69, F(1, 2)), (None, F(1, 2))]
    assert s.melody[1][0] == (53, 1) and s.has_melody()
    assert s.bar_quarters == 4


def test_parse_leadsheet_without_chart_fails():
    with pytest.raises(ValueError):
        im.parse_leadsheet("(title x)\n(part (type melody))\n c4 d4")


def test_mma_chords():
    assert im.mma_chord("Bo7") == "Bdim7"
    assert im.mma_chord("Co") == "Cdim3"
    assert im.mma_chord("Ch7") == "Cm7b5"
    assert im.mma_chord("F13b9#11") == "F13b9"
    assert im.mma_chord("Dm7/G") == "Dm7/G"
    assert im.mma_chord("C#M7") == "DbM7"
    assert im.mma_chord("Cb7") == "B7"
    assert im.mma_chord("E#m") == "Fm"
    assert im.mma_chord("F13_") == "F13"
    assert im.mma_chord("\\F7") == "F7"
    assert im.mma_chord("NC") == "z"
    assert im.mma_chord("/") == "/"
    assert im.mma_chord("xyz") is None
    for q in ["7", "m7", "M7", "m7b5", "7alt", "7#9", "7b9", "69", "m6", "7sus4", "mM7", "+", "7+", "sus24",
              "M9#11", "13b9#11", "7b9b13", "m7add11", "weird7thing", "mFoo", "Mfoo"]:
        assert im.mma_quality(q) in im._MMA_QUALITIES, q


def test_mma_bar_positions():
    assert im.mma_bar(["Cm7", "F7"], 4) == "Cm7 F7@3"
    assert im.mma_bar(["C", "D", "E"], 4) == "C D@3 E@4"
    assert im.mma_bar(["C", "D", "E"], 3) == "C D@2 E@3"
    assert im.mma_bar(["/", "F7"], 4) == "/ F7@3"
    assert im.mma_bar(["/"], 4) == "/"
    assert im.mma_bar(["C", "/", "/", "G7"], 4) == "C G7@4"
    assert im.mma_bar(["C"] * 8, 4).endswith("C@4.5")


def test_mma_song_text():
    s = im.parse_leadsheet(LEADSHEET)
    s.bars[0] = ["/", "F7"]
    text = im.mma_song(s, "SwingWalk", 140, 2, seed=5)
    lines = text.splitlines()
    assert "Groove SwingWalk" in lines and "Tempo 140" in lines and "Time 4" in lines and "RndSeed 5" in lines
    assert lines[5] == "1 z F7@3"  # nothing to hold before the first chord
    assert lines[-1].startswith("24 ")


def test_style_classes_and_blues_form():
    s = im.parse_leadsheet(LEADSHEET)
    assert im.is_blues_form(s) and im.style_class(s) == "blues"
    s.title, s.bars = "Not A Twelve-Bar", [["C"], ["Am"], ["Dm"], ["G7"]] * 8
    assert im.style_class(s) == "swing"
    s.style = "ballad"
    assert im.style_class(s) == "ballad"
    s.style = "latin-fast"
    assert im.style_class(s) == "latin"
    s.style, s.meter = "swing", (3, 4)
    assert im.style_class(s) == "waltz"
    s.style = "funk"
    assert im.style_class(s) is None
    s.style, s.meter = "swing", (5, 4)
    assert im.style_class(s) is None


def test_choose_rendition_is_seeded_and_in_range():
    s = im.parse_leadsheet(LEADSHEET)
    for cls in ("swing", "ballad", "latin", "blues"):
        for v in range(4):
            a = im.choose_rendition(s, cls, v, 0, "k")
            assert a == im.choose_rendition(s, cls, v, 0, "k")
            groove, tempo, family = a
            assert groove in im.GROOVES[family]
            assert im.TEMPO_RANGE[family][0] <= tempo <= im.TEMPO_RANGE[family][1]
    latin = {im.choose_rendition(s, "latin", v, 0, "k")[0] for v in range(2)}
    assert latin & set(im.GROOVES["bossa"]) and latin & set(im.GROOVES["samba"])


def test_melody_track_swing_and_choruses():
    s = im.parse_leadsheet(LEADSHEET)
    t = im.melody_track(s, 12, 2, 0.67, 66)
    assert t.program == 66 and not t.is_drum
    on = t.notes[:, 0].tolist()
    assert on[0] == 24  # a8 after r2: beat 2 at 12 ticks per quarter
    assert on[1:3] == [36, 44]  # c+8 on beat 4, then f1 on its off-beat, swung to 2/3 of the beat
    assert on[9] == 48 * 12  # the second chorus starts at bar 13
    straight = im.melody_track(s, 12, 1, None, 66)
    assert straight.notes[2, 0] == 42 and len(straight.notes) < len(t.notes)
    assert im.melody_track(s, 12, 0, None, 66) is None
    # a head shorter than the arrangement: head in, comping, head out
    head = im.melody_track(s, 12, 4, None, 66)
    starts = head.notes[:, 0] // (48 * 12)
    assert sorted(set(starts.tolist())) == [0, 1, 3]
    assert im.choruses_for(s) == 3  # two parts, but 12 bars: about 32 bars wanted
    s.bars = s.bars * 3
    assert im.choruses_for(s) == 2


def test_arrange_roles_and_merge():
    score = Score(tpq=480, tracks=[
        track(0, [36, 38], "Drum", drum=True),
        track(26, [33, 36, 40], "Bass"),
        track(36, [31, 35], "Walk"),
        track(48, [60, 64], "Bass-Sus"),
        track(18, [72, 76], "Chord"),
        track(27, [60, 64], "Chord-Guitar"),
        track(99, [60], "Chord"),
    ])
    im.arrange(score, "jazz", "SwingWalk")
    keys = [t.key for t in score.tracks]
    assert keys == [128, 32, 48, 0, 26]
    assert len(score.tracks[1].notes) == 5  # Bass + Walk merged
    score2 = Score(tpq=480, tracks=[track(26, [60, 64], "Chord"), track(26, [31, 33], "Bass")])
    im.arrange(score2, "latin", "BossaNova")
    assert [t.program for t in score2.tracks] == [24, 32]
    assert im.role_program("blues", "bass", 36, "FastBlues") == 33
    assert im.role_program("blues", "comp", 18, "Blues") == 16


@pytest.mark.skipif(shutil.which("mma") is None, reason="mma is not installed")
def test_render_with_mma():
    s = im.parse_leadsheet(LEADSHEET)
    score, note = im.render(s, "jazz", "SwingWalk", 140, seed=0, key="t")
    drums = [t for t in score.tracks if t.is_drum]
    assert drums and len(drums[0].notes) > 20
    programs = {t.program for t in score.tracks if not t.is_drum}
    assert 32 in programs and programs & {66, 56, 65, 11} and len(programs) >= 3
    assert score.tracks[0].name == "Melody" and len(score.tracks[0].notes) == 9 + 15 + 9  # head out on chorus 3
    assert score.time_signatures.tolist() == [[0, 4, 4]]
    assert score.key_signatures.tolist() == [[0, -1, 0]]
    assert "groove SwingWalk" in note
    again, _ = im.render(s, "jazz", "SwingWalk", 140, seed=0, key="t")
    assert [t.notes.tolist() for t in again.tracks] == [t.notes.tolist() for t in score.tracks]
    with pytest.raises(RuntimeError):
        im.run_mma("Groove NoSuchGrooveAnywhere\n1 C\n")


# ============================================================================ music21 sources


def test_chorale_voices_get_distinct_programs():
    score = Score(tpq=480, tracks=[track(0, [48, 50], "Bass"), track(0, [67, 69], "Soprano"),
                                   track(0, [55, 57], "Tenor"), track(0, [60, 62], "Alto"),
                                   track(0, [40], "Continuo")])
    score, _ = m21.chorale_score(score)
    assert [t.name for t in score.tracks] == ["Soprano", "Alto", "Tenor", "Bass"]
    assert [t.program for t in score.tracks] == [40, 41, 42, 43]
    back = Tokenizer().decode(Tokenizer().encode(score))
    assert len(back.tracks) == 4  # four voices survive tokenisation


def test_chorale_unnamed_and_bad():
    score = Score(tpq=480, tracks=[track(0, [48]), track(0, [72]), track(0, [60]), track(0, [55])])
    score, _ = m21.chorale_score(score)
    assert [int(t.notes[0, 2]) for t in score.tracks] == [72, 60, 55, 48]
    with pytest.raises(ValueError):
        m21.chorale_score(Score(tpq=480, tracks=[track(0, [60]), track(0, [50])]))


def test_quartet_programs():
    score = Score(tpq=480, tracks=[track(40, [76], "Violin I"), track(40, [72], "Violin II"),
                                   track(41, [64], "Viola"), track(42, [48], "Cello")])
    m21.quartet_programs(score)
    assert [t.program for t in score.tracks] == [40, 110, 41, 42]
    piano = Score(tpq=480, tracks=[track(0, [72]), track(0, [48])])
    m21.quartet_programs(piano)
    assert [t.program for t in piano.tracks] == [0, 0]


def test_split_abc_and_folk_score():
    text = "%header\nM:2/4\nL:1/8\n\nX: 1\nT: One\nK:G\nGABc|d2d2|]\n\nX:2\nT: Two\nK:D\nDEFG|A4|]\n"
    tunes = m21.split_abc(text)
    assert [n for n, _ in tunes] == ["1", "2"]
    assert tunes[1][1].startswith("X:2\nM:2/4\nL:1/8\nT: Two")
    assert m21.abc_title(tunes[0][1]) == "One"
    score = Score(tpq=480, tracks=[track(0, [50, 52]), track(0, [67, 69, 71])])
    score, _ = m21.folk_score(score, "oneills1850")
    assert len(score.tracks) == 1 and score.tracks[0].program == 110 and len(score.tracks[0].notes) == 3
    assert m21.folk_score(Score(tpq=480, tracks=[track(0, [60])]), "essenFolksong")[0].tracks[0].program == 73


def test_build_folk_from_inline_abc():
    job = Job("music21-essenFolksong", "folk", "k", {"abc": "X:7\nT: Tune\nM:4/4\nL:1/4\nK:C\nCDEF|GABc|cBAG|FEDC|]\n",
                                                     "collection": "essenFolksong", "rel": "essenFolksong/x.abc",
                                                     "number": "7", "title": "Tune"}, group="g")
    (piece,) = m21.build(job)
    assert piece.style == "folk" and piece.name == "x_7_Tune" and piece.score.note_count == 16
    bad = Job("music21-essenFolksong", "folk", "b", {**job.args, "abc": "X:1\nT:x\nK:C\n"}, group="g")
    (skip,) = m21.build(bad)
    assert isinstance(skip, m21.Skip)


# ============================================================================ pop909, mutopia, common


def test_pop909_remap():
    score = Score(tpq=480, tracks=[track(0, [72, 74], "MELODY"), track(0, [67], "BRIDGE"), track(0, [48, 55], "PIANO")])
    score, note = pop909.remap(score)
    assert [(t.name, t.program, len(t.notes)) for t in score.tracks] == [("Melody", 73, 2), ("Piano", 0, 3)]
    assert "MELODY -> GM 73" in note
    with pytest.raises(ValueError):
        pop909.remap(Score(tpq=480, tracks=[track(0, [60], "PIANO")]))


def test_pop909_bars_a_beat_grid_that_starts_off_tick_zero():
    """Like a POP909 file: every beat a bar of 1/4, the beat grid 171 ticks after tick 0, a
    pickup of one beat, then bars whose downbeat has a long low note and whose other beats
    have short high chords."""
    tpq, phase = 480, 171
    piano, melody = [], []
    for beat in range(1, 33):
        on = phase + beat * tpq
        if (beat - 1) % 4 == 0:
            piano.append([on, 4 * tpq - 10, 36, 80])  # the bass on each downbeat
        piano.append([on, tpq // 2, 64, 60])
        melody.append([on + tpq // 4, tpq // 4, 72, 90])  # off the beat, on the 16th grid
    score = Score(tpq=tpq, tracks=[Track(73, notes=np.array(melody)), Track(0, notes=np.array(piano))],
                  tempos=np.array([[0, 100.0], [phase + 20 * tpq, 90.0]]), time_signatures=np.array([[0, 1, 4]]),
                  end=phase + 34 * tpq)
    note = pop909.align_bars(score)
    onsets = np.concatenate([t.notes[:, 0] for t in score.tracks])
    assert (onsets % (tpq // 4) == 0).all()  # every note on the grid now
    assert score.time_signatures.tolist() == [[0, 1, 4], [tpq, 4, 4]]  # a beat's pickup, then 4/4
    bass = score.tracks[1].notes[score.tracks[1].notes[:, 2] == 36]
    assert ((bass[:, 0] - tpq) % (4 * tpq) == 0).all()  # every bass note on a downbeat
    assert score.tempos[1, 0] == 20 * tpq and score.end == 34 * tpq  # moved with the notes
    assert note == "grid moved -171 ticks; 4/4 from beat 1"


def test_mutopia_filter_and_licence():
    row = {"instrument": "Piano", "notes": "1200", "seconds": "200", "licence": "CC BY-SA 4.0", "typesetter": "X"}
    assert mutopia.wanted(row) is None
    assert "instrumentation" in mutopia.wanted({**row, "instrument": "Voice and Piano"})
    assert "instrumentation" in mutopia.wanted({**row, "instrument": "Orchestra: Flute, Horn"})
    assert "too many notes" in mutopia.wanted({**row, "notes": "99999"})
    assert "too long" in mutopia.wanted({**row, "seconds": "5000"})
    assert mutopia.licence_of(row) == "CC BY-SA 4.0 (Mutopia Project, typeset by X)"


def test_mutopia_jobs_missing_folder(tmp_path):
    jobs, skips = mutopia.jobs(tmp_path)
    assert jobs == [] and skips and "no manifest" in skips[0].reason
    assert pop909.jobs(tmp_path)[0] == []
    assert im.jobs(tmp_path)[0] == []


def test_distinct_duplicates_and_helpers():
    score = Score(tpq=480, tracks=[track(40, [76]), track(40, [72]), track(0, [60]), track(0, [48])])
    distinct_duplicates(score)
    assert [t.program for t in score.tracks] == [40, 110, 0, 0]
    merged = merge_tracks([track(0, [60, 62]), track(0, [48])], 5, "x")
    assert merged.program == 5 and merged.notes[:, 0].tolist() == [0, 0, 480]
    assert slug("Ça va? / Blues #2") == "Ca_va_Blues_2"
    assert norm_title("The Blue Room") == norm_title("blue room")
    assert stable_hash("a", 1) == stable_hash("a", 1) != stable_hash("a", 2)


# ============================================================================ balancing


def test_heldout_groups():
    pieces = {"jazz": [(f"j{i}", 1) for i in range(100)], "folk": [(f"f{i}", 1) for i in range(40)],
              "tiny": [("t", 1)] * 5}
    held = balance.heldout_groups(pieces, 0.05, seed=0)
    assert len([g for g in held if g.startswith("j")]) == 5
    assert len([g for g in held if g.startswith("f")]) == 2
    assert "t" not in held
    assert held == balance.heldout_groups(pieces, 0.05, seed=0)
    assert held != balance.heldout_groups(pieces, 0.05, seed=1)
    # a group shared by two styles is held out in both
    shared = balance.heldout_groups({"a": [("x", 1)] * 3 + [(f"a{i}", 1) for i in range(20)],
                                     "b": [("x", 1)] + [(f"b{i}", 1) for i in range(20)]}, 0.05, 0)
    assert shared


def test_cap_styles_and_shares():
    pieces = {"pop": [(f"p{i}", 1000) for i in range(100)], "jazz": [(f"j{i}", 1000) for i in range(20)],
              "folk": [(f"f{i}", 100) for i in range(100)]}
    caps = balance.style_caps({s: sum(t for _, t in v) for s, v in pieces.items()}, 2.5)
    assert caps["pop"] == 50000  # median style: jazz 20000
    dropped = balance.cap_styles(pieces, 2.5, seed=0)
    assert len(dropped["pop"]) == 50 and not dropped["jazz"] and not dropped["folk"]
    assert dropped == balance.cap_styles(pieces, 2.5, seed=0)
    sh = balance.shares({"a": 1, "b": 3})
    assert sh == {"a": 0.25, "b": 0.75}
    assert balance.under_floor({"a": 4, "b": 96}, 0.05) == ["a"]


def test_source_budgets():
    assert balance.source_budgets(1000, [0.35, 0.65], []) == 350
    assert balance.source_budgets(1000, [0.35, 0.65], [100]) == 900
    assert balance.source_budgets(1000, [1.0], []) == 1000
    assert balance.source_budgets(1000, [0.5, 0.5], [1200]) == 0


# ============================================================================ the script


def _script():
    from recipe import build_corpus

    return build_corpus


def test_script_order_and_tables(tmp_path):
    bc = _script()
    jobs = [Job("improvisor", "latin", f"k{i}#{v}", {"variant": v}) for v in (1, 0) for i in range(5)]
    order = bc.ordered(jobs, 0)
    assert [j.args["variant"] for j in order] == [0] * 5 + [1] * 5
    assert order == bc.ordered(list(reversed(jobs)), 0)
    mixed = [Job("improvisor", "jazz", f"m{i}", {"variant": 0, "melody": i < 2}) for i in range(6)]
    assert [j.args["melody"] for j in bc.ordered(mixed, 0)] == [True, False, True, False, False, False]
    rows = bc.table([{"style": "a", "source": "s", "n_notes": 10, "tokens": 30},
                     {"style": "b", "source": "t", "n_notes": 5, "tokens": 10}])
    assert rows == [("a", 1, 10, 30, 75.0), ("b", 1, 5, 10, 25.0)]
    staged = tmp_path / "x.mid"
    staged.write_bytes(b"MThd")
    staged2 = tmp_path / "y.mid"
    staged2.write_bytes(b"MThd")
    pieces = [{"style": "a", "source": "s", "name": "n", "key": "1", "staged": str(staged)},
              {"style": "a", "source": "s", "name": "n", "key": "2", "staged": str(staged2)}]
    bc.place(pieces, tmp_path / "out")
    assert sorted(p["path"] for p in pieces) == ["a/s/n.mid", "a/s/n_2.mid"]
    assert (tmp_path / "out" / "a" / "s" / "n_2.mid").is_file()


def test_shared_data_root_from_the_environment_or_beside_the_repository(monkeypatch, tmp_path):
    from recipe.sources import REPO, default_shared_data

    monkeypatch.delenv("COMPOSER_SHARED_DATA", raising=False)
    assert default_shared_data() == REPO.parent / "shared" / "data"
    monkeypatch.setenv("COMPOSER_SHARED_DATA", str(tmp_path))
    assert default_shared_data() == tmp_path


def test_script_refuses_repository_output():
    bc = _script()
    with pytest.raises(SystemExit):
        bc.main(["--out", str(Path(bc.__file__).resolve().parents[1] / "corpus_here")])


# ============================================================================ Groove MIDI drums


def _groove_folder(tmp_path, bars=6):
    """A Groove-MIDI-like folder: one swing beat of `bars` 4/4 bars (a TD-11 hi-hat 22 on every
    beat, kick on 1, snare on beat b of bar b), a fill and a 2-bar beat that must be ignored."""
    from composer.midi_io import write_midi

    rows = []
    for b in range(bars):
        for beat in range(4):
            rows.append((b * 1920 + beat * 480, 60, 22, 70 + b))
        rows.append((b * 1920, 120, 36, 100))
        rows.append((b * 1920 + (b % 4) * 480 + 320, 60, 38, 50))
    beat = Score(tpq=480, tracks=[Track(0, True, "Drums", np.array(sorted(rows), dtype=np.int64))])
    (tmp_path / "d1").mkdir()
    for name in ("swing.mid", "fill.mid", "short.mid"):
        write_midi(beat, tmp_path / "d1" / name)
    (tmp_path / "info.csv").write_text(
        "drummer,session,id,style,bpm,beat_type,time_signature,midi_filename,audio_filename,duration,split\n"
        f"d1,d1/s1,d1/s1/1,jazz/swing,120,beat,4-4,d1/swing.mid,x.wav,{bars * 2.0},train\n"
        "d1,d1/s1,d1/s1/2,jazz/swing,120,fill,4-4,d1/fill.mid,x.wav,12.0,train\n"
        "d1,d1/s1,d1/s1/3,jazz/swing,120,beat,4-4,d1/short.mid,x.wav,4.0,train\n")
    return tmp_path


def test_groove_index_keeps_long_beats_of_used_styles(tmp_path):
    from recipe.sources import groove

    takes = groove.index(str(_groove_folder(tmp_path)))
    assert [t.path for t in takes] == ["d1/swing.mid"]
    assert groove.candidates(takes, "swing", (4, 4)) == list(takes)
    assert groove.candidates(takes, "swing", (3, 4)) == [] and groove.candidates(takes, "bossa", (4, 4)) == []


def test_groove_drums_loop_whole_bars_onto_the_arrangement_grid(tmp_path):
    from recipe.sources import groove
    from recipe.sources.common import rng_for

    folder = _groove_folder(tmp_path, bars=6)
    track, note = groove.drums_for(folder, "swing", (4, 4), 130, 10, 96, rng_for("t"))
    assert track.is_drum and track.name == "Drums" and "jazz/swing" in note
    n = track.notes
    bar = n[:, 0] // 384  # 96 ticks a quarter
    assert sorted(set(bar.tolist())) == list(range(10))  # every one of the 10 bars, nothing after
    assert 22 not in n[:, 2] and (n[:, 2] == 42).sum() == 40  # TD-11 hi-hat as GM closed hi-hat
    # the velocity of the hi-hats tells which source bar each bar is: consecutive, wrapping 5 -> 0
    src = [int(n[(bar == b) & (n[:, 2] == 42), 3][0]) - 70 for b in range(10)]
    start = int(note.split("from bar ")[1].rstrip(")")) - 1
    assert src == [(start + i) % 6 for i in range(10)]
    snares = n[n[:, 2] == 38]
    assert ((snares[:, 0] % 384) == ((snares[:, 0] // 384 + start) % 6 % 4) * 96 + 64).all()
    again, _ = groove.drums_for(folder, "swing", (4, 4), 130, 10, 96, rng_for("t"))
    assert again.notes.tolist() == n.tolist()
    assert groove.drums_for(folder, "latin-waltz", (3, 4), 130, 10, 96, rng_for("t")) is None


@pytest.mark.skipif(shutil.which("mma") is None, reason="mma is not installed")
def test_render_with_groove_midi_drums(tmp_path):
    folder = _groove_folder(tmp_path)
    s = im.parse_leadsheet(LEADSHEET)
    score, note = im.render(s, "jazz", "SwingWalk", 140, seed=0, key="t", drums=(str(folder), "swing"))
    drums = [t for t in score.tracks if t.is_drum]
    assert len(drums) == 1 and "Groove MIDI d1/swing" in note
    assert 36 in drums[0].notes[:, 2] and drums[0].notes[:, 0].max() < score.end
    assert [t.program for t in score.tracks if not t.is_drum]  # MMA's bass and comping stay
