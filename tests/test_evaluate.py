"""composer.evaluate: per-piece metrics on hand-made pieces, overlapping areas, the style
classifier and evaluate_dirs end to end on tiny MIDI folders."""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest

from composer.errors import ComposerError
from composer.evaluate import (
    DISTRIBUTIONS,
    METRICS,
    evaluate_dirs,
    evaluate_sets,
    format_report,
    histogram_oa,
    kde_oa,
    piece_stats,
    train_style_classifier,
    write_json,
)
from composer.midi_io import write_midi
from composer.score import Score, Track

TPQ = 480
Q = TPQ  # one quarter note in ticks


def score_of(*tracks: Track, tpq: int = TPQ, qpm: float = 120.0, sig=(4, 4)) -> Score:
    s = Score(tpq=tpq, tracks=list(tracks))
    s.tempos = np.array([[0, qpm]], dtype=np.float64)
    s.time_signatures = np.array([[0, *sig]], dtype=np.int64)
    s.end = s.notes_end()
    return s


def track(notes, program: int = 0, drum: bool = False) -> Track:
    return Track(program, drum, "", np.array(notes, dtype=np.int64).reshape(-1, 4))


def melody(pitches, step: int = Q, dur: int | None = None, start: int = 0):
    return [[start + i * step, dur or step, p, 80] for i, p in enumerate(pitches)]


def metrics(score: Score) -> dict:
    return piece_stats(score).metrics


# ---------------------------------------------------------------------------- metrics


def test_c_major_scale():
    m = metrics(score_of(track(melody([60, 62, 64, 65, 67, 69, 71]))))
    assert m["pitch_class_entropy"] == pytest.approx(math.log2(7))
    assert m["scale_consistency"] == pytest.approx(1.0)
    assert m["pitch_range"] == 11
    assert m["polyphony"] == pytest.approx(1.0)
    assert m["empty_beat_rate"] == 0.0
    # 7 quarters = 2 bars of 4/4; 7 quarters at 120 qpm = 3.5 s
    assert m["notes_per_bar"] == pytest.approx(3.5)
    assert m["notes_per_second"] == pytest.approx(2.0)
    assert m["drum_notes_per_bar"] == 0.0


def test_chromatic_scale_and_single_pitch():
    m = metrics(score_of(track(melody(range(60, 72)))))
    assert m["pitch_class_entropy"] == pytest.approx(math.log2(12))
    assert m["scale_consistency"] == pytest.approx(7 / 12)
    one = metrics(score_of(track(melody([60, 72, 48, 60]))))
    assert one["pitch_class_entropy"] == pytest.approx(0.0)
    assert one["scale_consistency"] == 1.0 and one["pitch_range"] == 24


def test_groove_consistency():
    bar = [[0, Q // 2, 36, 100], [Q, Q // 2, 38, 100], [Q + Q // 2, Q // 4, 36, 100], [3 * Q, Q // 2, 38, 100]]
    same = [[t + b * 4 * Q, d, p, v] for b in range(4) for t, d, p, v in bar]
    assert metrics(score_of(track(same, drum=True)))["groove_consistency"] == pytest.approx(1.0)
    # bar 1: onsets on the four beats; bar 2: only beat 1 -> 3 of 48 grid cells differ
    alt = melody([60, 62, 64, 65]) + [[4 * Q, 4 * Q, 67, 80]]
    assert metrics(score_of(track(alt)))["groove_consistency"] == pytest.approx(1 - 3 / 48)
    # drums and piano together: the union of their onsets forms the pattern
    piano = track([[b * 4 * Q, 4 * Q, 60, 80] for b in range(3)])
    hats = track([[b * 4 * Q + 2 * Q, Q, 42, 80] for b in range(3)], drum=True)
    assert metrics(score_of(piano, hats))["groove_consistency"] == pytest.approx(1.0)
    # one bar only: undefined
    assert math.isnan(metrics(score_of(track(melody([60, 62]))))["groove_consistency"])


def test_empty_beats():
    # bar 1: beats 1 and 4 played, 2 and 3 silent; bar 2: a half note -> 6 beats, 2 empty
    notes = [[0, Q, 60, 80], [3 * Q, Q, 62, 80], [4 * Q, 2 * Q, 64, 80]]
    assert metrics(score_of(track(notes)))["empty_beat_rate"] == pytest.approx(2 / 6)
    # a sustained whole note fills every beat even without onsets there
    assert metrics(score_of(track([[0, 4 * Q, 60, 80]])))["empty_beat_rate"] == 0.0
    # leading silence counts: nothing in bar 1, drums (not pitched) fill bar 2
    drums = track([[4 * Q + b * Q, Q // 4, 36, 100] for b in range(4)], drum=True)
    assert metrics(score_of(drums))["empty_beat_rate"] == pytest.approx(4 / 8)
    # 6/8: two dotted-quarter beats per bar; a note in the first eighth of beat 2 only
    dotted = score_of(track([[3 * Q // 2, Q // 2, 60, 80]]), sig=(6, 8))
    assert metrics(dotted)["empty_beat_rate"] == pytest.approx(1 / 2)


def test_polyphony():
    chord_then_note = [[0, Q, 60, 80], [0, Q, 64, 80], [0, 2 * Q, 67, 80], [Q, Q, 72, 80]]
    # onset 0: 3 sounding; onset Q: 72 plus the still-held 67
    assert metrics(score_of(track(chord_then_note)))["polyphony"] == pytest.approx((3 + 2) / 2)


def test_drum_only_piece_has_nan_pitched_metrics():
    st = piece_stats(score_of(track([[i * Q, Q // 2, 36, 100] for i in range(8)], drum=True)))
    m = st.metrics
    for key in ("pitch_class_entropy", "scale_consistency", "polyphony", "pitch_range", "notes_per_bar"):
        assert math.isnan(m[key])
    assert m["groove_consistency"] == pytest.approx(1.0)
    assert m["drum_notes_per_bar"] == pytest.approx(4.0)
    # rhythm distributions include drum tracks, pitch ones do not
    assert st.hists["ioi"][6] == 7 and st.hists["ioi"].sum() == 7
    assert st.hists["pitch_class"].sum() == 0 and st.hists["duration"].sum() == 0


def test_other_tpq_same_metrics():
    a = metrics(score_of(track(melody([60, 64, 67, 72], step=Q // 2))))
    b = metrics(score_of(track(melody([60, 64, 67, 72], step=96 // 2)), tpq=96))
    for key, _ in METRICS:
        assert a[key] == pytest.approx(b[key], nan_ok=True), key


def test_histograms():
    st = piece_stats(score_of(track(melody([60, 62, 64, 62, 79], step=Q // 2))))
    assert st.hists["pitch_class"][[0, 2, 4, 7]].tolist() == [1, 2, 1, 1]
    # intervals +2 +2 -2 +17 (clipped into the >=+12 bin)
    iv = st.hists["interval"]
    assert iv[12 + 2] == 2 and iv[12 - 2] == 1 and iv[24] == 1 and iv.sum() == 4
    # eighth notes: IOI 6 grid steps ("5-6" bin), duration 6 steps
    assert st.hists["ioi"][4] == 4 and st.hists["duration"][4] == 5
    # only the top voice of a chord counts for intervals
    chords = piece_stats(score_of(track([[0, Q, 60, 80], [0, Q, 67, 80], [Q, Q, 55, 80], [Q, Q, 69, 80]])))
    assert chords.hists["interval"][12 + 2] == 1 and chords.hists["interval"].sum() == 1


# ---------------------------------------------------------------------------- overlapping areas


def test_oa_identical_and_disjoint():
    assert histogram_oa([1, 2, 3, 0], [2, 4, 6, 0]) == pytest.approx(1.0)
    assert histogram_oa([1, 0, 0], [0, 0, 5]) == 0.0
    assert histogram_oa([1, 1], [1, 0]) == pytest.approx(0.5)
    x = np.array([0.1, 0.5, 0.7, 0.9])
    assert kde_oa(x, x) == pytest.approx(1.0)
    assert kde_oa(x, x + 100) < 1e-6
    assert kde_oa([3.0, 3.0], [3.0]) == pytest.approx(1.0)
    assert math.isnan(kde_oa([np.nan], [1.0]))


def test_evaluate_sets_identical_and_disjoint():
    major = [score_of(track(melody([60 + k, 62 + k, 64 + k, 65 + k, 67 + k] * 2))) for k in range(3)]
    res = evaluate_sets(major, major)
    assert res["n_generated"] == res["n_reference"] == 3
    for key, _, _ in DISTRIBUTIONS:
        assert res["distributions"][key]["oa"] == pytest.approx(1.0)
    for key, _ in METRICS:
        m = res["metrics"][key]
        assert m["generated"]["mean"] == pytest.approx(m["reference"]["mean"], nan_ok=True)
        if m["generated"]["n"]:
            assert m["oa"] == pytest.approx(1.0)
    # disjoint pitch classes and rhythms: C/D quarter notes vs F#/G# sixteenths
    a = [score_of(track(melody([60, 62] * 4)))]
    b = [score_of(track(melody([66, 68] * 8, step=Q // 4)))]
    res = evaluate_sets(a, b)
    assert res["distributions"]["pitch_class"]["oa"] == 0.0
    assert res["distributions"]["ioi"]["oa"] == 0.0
    assert res["distributions"]["duration"]["oa"] == 0.0
    text = format_report(res)
    assert "pitch-class entropy" in text and "OA pitch classes" in text


def test_evaluate_sets_paths_and_bad_files(tmp_path):
    good = tmp_path / "good.mid"
    write_midi(score_of(track(melody([60, 64, 67]))), good)
    (tmp_path / "bad.mid").write_bytes(b"not a midi file")
    res = evaluate_sets([good, tmp_path / "bad.mid", tmp_path / "missing.mid"],
                        [score_of(track(melody([60, 64, 67])))])
    assert res["n_generated"] == 1
    reasons = {s["path"].rsplit("/", 1)[-1]: s["reason"] for s in res["skipped"]}
    assert set(reasons) == {"bad.mid", "missing.mid"} and reasons["missing.mid"] == "no such file"
    assert res["distributions"]["pitch_class"]["oa"] == pytest.approx(1.0)
    assert "skipped 2 files" in format_report(res)


# ---------------------------------------------------------------------------- classifier


def piano_piece(rng) -> Score:
    """C-major-ish piano melodies in the middle register, eighths and quarters, slow tempo."""
    scale = np.array([0, 2, 4, 5, 7, 9, 11, 12, 14, 16])
    t, notes = 0, []
    for _ in range(rng.integers(24, 40)):
        d = int(rng.choice([Q // 2, Q]))
        notes.append([t, d, 60 + int(rng.choice(scale)), int(rng.integers(60, 90))])
        t += d
    return score_of(track(notes, program=0), qpm=float(rng.uniform(80, 110)))


def bass_drums_piece(rng) -> Score:
    """Low bass roots and fifths in half notes plus a kick/snare/hat eighth-note groove."""
    root = int(rng.integers(28, 36))
    bars = int(rng.integers(4, 8))
    bass = [[b * 4 * Q + h * 2 * Q, 2 * Q, root + int(rng.choice([0, 7, 5, 12])), 100]
            for b in range(bars) for h in range(2)]
    drums = []
    for i in range(bars * 8):
        drums.append([i * Q // 2, Q // 4, 42, 70])
        if i % 4 == 0:
            drums.append([i * Q // 2, Q // 4, 36, 110])
        elif i % 4 == 2:
            drums.append([i * Q // 2, Q // 4, 38, 110])
    return score_of(track(bass, program=33), track(drums, drum=True), qpm=float(rng.uniform(115, 140)))


def test_classifier_separates_two_styles():
    rng = np.random.default_rng(1)
    ref = {"piano": [piano_piece(rng) for _ in range(10)], "groove": [bass_drums_piece(rng) for _ in range(10)]}
    clf = train_style_classifier(ref)
    assert clf.styles == ["groove", "piano"]
    assert clf.cv_accuracy is not None and clf.cv_accuracy >= 0.9 and clf.cv_folds == 5
    new_piano = [piano_piece(rng) for _ in range(15)]
    new_groove = [bass_drums_piece(rng) for _ in range(15)]
    pred = clf.predict(new_piano + new_groove)
    truth = ["piano"] * 15 + ["groove"] * 15
    assert np.mean([p == t for p, t in zip(pred, truth)]) >= 0.9
    proba = clf.predict_proba(new_piano[:3])
    assert proba.shape == (3, 2) and np.allclose(proba.sum(axis=1), 1.0)
    assert clf.predict([]) == []


def test_classifier_needs_two_styles_and_small_classes_skip_cv():
    rng = np.random.default_rng(2)
    with pytest.raises(ComposerError):
        train_style_classifier({"piano": [piano_piece(rng)]})
    clf = train_style_classifier({"piano": [piano_piece(rng)], "groove": [bass_drums_piece(rng)] * 3})
    assert clf.cv_accuracy is None
    assert clf.predict([bass_drums_piece(rng)]) in (["groove"], ["piano"])
    # drum-only styles: every pitched feature is NaN, still trains and predicts
    slow = [score_of(track([[i * Q, Q // 2, 36, 100] for i in range(8)], drum=True), qpm=70) for _ in range(3)]
    fast = [score_of(track([[i * Q // 4, Q // 8, 42, 100] for i in range(64)], drum=True), qpm=160)
            for _ in range(3)]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        clf = train_style_classifier({"slow": slow, "fast": fast})
    assert clf.cv_accuracy == 1.0 and clf.predict([slow[0], fast[0]]) == ["slow", "fast"]


# ---------------------------------------------------------------------------- folders


def test_evaluate_dirs_writes_json_and_plots(tmp_path):
    rng = np.random.default_rng(3)
    makers = {"piano": piano_piece, "groove": bass_drums_piece}
    for style, make in makers.items():
        for i in range(4):
            write_midi(make(rng), tmp_path / "ref" / style / f"r{i}.mid")
        for i in range(2):
            write_midi(make(rng), tmp_path / "gen" / style / f"g{i}.mid")
    (tmp_path / "gen" / "piano" / "broken.mid").write_bytes(b"MThd garbage")
    out_json, plots = tmp_path / "eval" / "result.json", tmp_path / "eval" / "plots"

    res = evaluate_dirs(tmp_path / "gen", tmp_path / "ref", out_json=out_json, plots_dir=plots)
    assert res["n_generated"] == 4 and res["n_reference"] == 8
    assert [s["path"].rsplit("/", 1)[-1] for s in res["skipped"]] == ["broken.mid"]
    assert set(res["styles"]) == {"piano", "groove"}
    assert res["styles"]["piano"]["n_reference"] == 4 and res["styles"]["piano"]["reference_style"] == "piano"
    clf = res["classifier"]
    assert clf["cv_accuracy"] >= 0.9 and clf["generated_accuracy"] >= 0.75
    assert clf["per_style"]["piano"]["n"] == 2

    saved = json.loads(out_json.read_text())  # strict JSON: NaN written as null
    assert saved["classifier"]["styles"] == ["groove", "piano"]
    assert set(saved["overall"]["distributions"]) == {"pitch_class", "interval", "ioi", "duration"}
    pngs = sorted(p.name for p in plots.glob("*.png"))
    assert pngs == ["distributions.png", "distributions_groove.png", "distributions_piano.png"]
    for p in plots.glob("*.png"):
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not list(out_json.parent.glob(".*.tmp"))

    text = format_report(res)
    assert "style piano" in text and "reference cross-validated accuracy" in text
    assert "broken.mid" in text and "generated classified as their style" in text


def test_evaluate_dirs_flat_generated_with_style(tmp_path):
    rng = np.random.default_rng(4)
    for i in range(3):
        write_midi(piano_piece(rng), tmp_path / "ref" / "piano" / f"p{i}.mid")
        write_midi(bass_drums_piece(rng), tmp_path / "ref" / "groove" / f"g{i}.mid")
        write_midi(bass_drums_piece(rng), tmp_path / "gen" / f"x{i}.mid")
    res = evaluate_dirs(tmp_path / "gen", tmp_path / "ref", style="groove")
    assert list(res["styles"]) == ["groove"] and res["styles"]["groove"]["n_reference"] == 3
    assert res["classifier"]["per_style"]["groove"]["accuracy"] == 1.0
    # flat generated folder without a style: overall comparison, predictions but no accuracy
    res = evaluate_dirs(tmp_path / "gen", tmp_path / "ref")
    assert res["styles"] == {} and res["classifier"]["generated_accuracy"] is None
    assert res["classifier"]["per_style"]["(no style)"]["predicted"] == {"groove": 3}
    assert any("no style" in w for w in res["warnings"])
    assert "3 generated vs 6 reference" in format_report(res)


def test_evaluate_dirs_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    write_midi(score_of(track(melody([60]))), tmp_path / "ref" / "a.mid")
    with pytest.raises(ComposerError):
        evaluate_dirs(tmp_path / "empty", tmp_path / "ref")
    with pytest.raises(ComposerError):
        evaluate_dirs(tmp_path / "nowhere", tmp_path / "ref")


def test_write_json_nan_is_null(tmp_path):
    path = write_json({"a": float("nan"), "b": np.float64(1.5), "c": np.arange(2)}, tmp_path / "x.json")
    assert json.loads(path.read_text()) == {"a": None, "b": 1.5, "c": [0, 1]}
