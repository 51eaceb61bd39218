"""Measure infilling and arrangement on music the model never trained on (the README's
"Your own music" figures).

    python recipe/evaluate_infill.py --model default --heldout $WORK/corpus_heldout \
        --melodies ../shared/data/openscore/lieder --reference $WORK/corpus --out $WORK/eval_infill

1. Bar infill: in each held-out piece of at least 12 bars, 4 bars (from bar 5 on) are removed
   and written three ways: `model.infill` (it hears the bars after them), plain continuation
   of the bars before them (`generate --primer`, no look-ahead), and the original bars. For
   each: agreement with the 4 bars that follow (pitch-class profile cosine, same estimated
   key), note density, and the overlap (OA) of their metric distributions with the originals'.
   Also the model's NLL of the original bars, in bits per note, with and without the bars
   after them in its context.
2. Accompaniment: the voice line of --n-melodies art songs (OpenScore Lieder, CC0; no style
   of the corpus is art song) is arranged in each style; per style, the share of melody notes
   on beats that are chord tones of the accompaniment sounding then, and key agreement, for
   the real pairs and for shuffled pairs (the accompaniment written for melody A under melody
   B); and the share of arrangements the evaluation's style classifier (trained on --n-ref
   training pieces a style) reads as the style asked for; and, to tell the accompaniment from
   the melody's own instrument (an art song's voice line, which the arrangement keeps), the
   same share with the melody track's program set to the style's commonest lead (cells.LEADS),
   and for the accompaniment alone (the melody track left out). With --pop909, the same in pop
   for the melodies of POP909 songs the corpus does not hold (pop's own held-out melodies).
Writes OUT/infill.json and prints markdown tables.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer import fills  # noqa: E402
from composer.corpus import discover  # noqa: E402
from composer.evaluate.classifier import train_style_classifier  # noqa: E402
from composer.evaluate.metrics import piece_stats  # noqa: E402
from composer.evaluate.overlap import compare_stats  # noqa: E402
from composer.generate.cells import LEADS  # noqa: E402
from composer.generate.primer import primer_bars  # noqa: E402
from composer.key import estimate_key  # noqa: E402
from composer.load import load_score  # noqa: E402
from composer.score import ONSET, PITCH, Score, Track  # noqa: E402
from composer.vocab import BAR  # noqa: E402

ARRANGED = ("jazz", "latin", "blues", "pop")


def excerpt(score: Score, first: int, count: int) -> Score:
    """Bars first..first+count-1 of a score, moved to start at 0."""
    starts = score.bar_starts(max(score.end, score.notes_end()) + 1)
    lo = int(starts[first]) if first < len(starts) else score.end
    hi = int(starts[first + count]) if first + count < len(starts) else max(score.end, score.notes_end()) + 1
    tracks = []
    for t in score.tracks:
        sel = t.notes[(t.notes[:, ONSET] >= lo) & (t.notes[:, ONSET] < hi)].copy()
        sel[:, ONSET] -= lo
        tracks.append(Track(t.program, t.is_drum, t.name, sel))
    return Score(tpq=score.tpq, tracks=tracks, time_signatures=score.time_signatures[:1].copy() * [0, 1, 1],
                 tempos=np.array([[0.0, 120.0]]), end=hi - lo)


def pc_profile(score: Score) -> np.ndarray:
    h = np.zeros(12)
    for t in score.tracks:
        if not t.is_drum and len(t.notes):
            np.add.at(h, t.notes[:, PITCH] % 12, t.notes[:, 1].astype(float))
    return h


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    return float(a @ b / (na * nb)) if na > 0 and nb > 0 else math.nan


def notes_per_bar(score: Score, bars: int) -> float:
    return sum(len(t.notes) for t in score.tracks) / bars


def nll_bits_per_note(model, tokens: np.ndarray, first: int, count: int) -> tuple[float, float]:
    """(bits per note of bars first..first+count-1 read left to right, the same bars written as
    fills with the following bars in the context), over the bars whose fill fits the context."""
    v, dec = model.tokenizer.vocab, model.decoder
    ctx = dec.max_positions
    piece = fills.parse(tokens, v)
    # the context: the bars before (as many as fit in a third of it) and after (another third)
    lo = first
    while lo > 0 and sum(len(piece.bars[b].tokens()) for b in range(lo - 1, first)) < ctx // 3:
        lo -= 1
    hi = first + count
    while hi < len(piece.bars) and sum(len(piece.bars[b].tokens()) for b in range(first + count, hi + 1)) < ctx // 3:
        hi += 1
    from composer.bars import index_piece, window_at
    ip = index_piece(np.asarray(tokens), int(tokens[1]), v)
    win = fills.parse(window_at(ip, lo, v, len(tokens) + 8, int(tokens[1])), v)
    win.bars, win.ended = win.bars[:hi - lo], False
    plain = win.tokens()
    cells = {b - lo: None for b in range(first, first + count)}
    main, contents = fills.hide(plain, cells, v)
    seq = fills.with_fills(main, contents, v)[:ctx]
    # which fills are whole within the context
    done = sum(1 for i, t in enumerate(seq) if t == v.fill + 2)
    if done == 0:
        return math.nan, math.nan

    def nll(sequence, mask):
        logits, _ = dec.step(np.asarray(sequence, dtype=np.int64)[None])
        logp = logits[0, :-1] - np.logaddexp.reduce(logits[0, :-1].astype(np.float64), axis=-1, keepdims=True)
        target = np.asarray(sequence[1:])
        return float(-(logp[np.arange(len(target)), target] * mask[1:]).sum()) / math.log(2)

    # with the future: the content tokens of the finished fills
    fam = v.family(np.asarray(seq))
    in_fill = np.zeros(len(seq), bool)
    k, inside = 0, False
    for i, t in enumerate(seq):
        if t == v.fill + 1:
            inside = k < done
        elif t == v.fill + 2:
            inside, k = False, k + 1
        elif inside:
            in_fill[i] = True
    notes_with = int((fam[in_fill] == 5).sum())  # PITCH family: one per note
    with_future = nll(seq, in_fill.astype(float))
    # without: the same bars in plain order, the bars before them as context
    bar_at = [i for i, t in enumerate(plain) if t == BAR]
    stop = bar_at[first - lo + done] if first - lo + done < len(bar_at) else len(plain)
    start = bar_at[first - lo]
    left = np.asarray(plain[:stop])
    mask = np.zeros(len(left))
    famp = v.family(left)
    mask[start:] = (famp[start:] >= 3) & (famp[start:] <= 7)  # the notes' tokens (Position..Duration)
    notes_plain = int((famp[start:] == 5).sum())
    without = nll(left[-ctx:], mask[-ctx:]) if len(left) <= ctx else math.nan
    if notes_plain != notes_with or notes_with == 0:
        return math.nan, math.nan
    return without / notes_plain, with_future / notes_with


def bar_infill(model, heldout: Path, n: int, seed: int) -> dict:
    tok = model.tokenizer
    rng = random.Random(seed)
    files = [(p, s) for p, s in discover([heldout]).files]
    rng.shuffle(files)
    rows, stats = [], {"infill": [], "continuation": [], "original": []}
    t0 = time.perf_counter()
    for path, style in files:
        if len(rows) >= n:
            break
        try:
            score = load_score(path)
        except Exception:
            continue
        tokens = tok.encode(score, style=style)
        n_bars = int((tokens == BAR).sum())
        if n_bars < 12 or not score.note_count:
            continue
        kept = tok.decode(tokens)
        first = rng.randint(4, n_bars - 8)
        bars = f"{first + 1}-{first + 4}"
        filled = model.infill(score, bars, style=style, seed=len(rows), top_p=0.95)
        cut = int(kept.bar_starts()[first])
        primer = Score(tpq=kept.tpq, tracks=[Track(t.program, t.is_drum, t.name, t.notes[t.notes[:, 0] < cut])
                                             for t in kept.tracks],
                       tempos=kept.tempos, time_signatures=kept.time_signatures, end=cut)
        primer = replace(primer, tracks=[t for t in primer.tracks if len(t.notes)])
        cont = model.generate(style=style, primer=primer, bars=4, seed=len(rows), top_p=0.95)
        new_from = primer_bars(tok, primer)  # (the new bars start after the primer's last onset)
        versions = {"infill": excerpt(filled, first, 4), "original": excerpt(kept, first, 4),
                    "continuation": excerpt(cont, new_from, 4)}
        after = excerpt(kept, first + 4, 4)
        key_after = estimate_key(after)
        row = {"file": str(path.name), "style": style, "bars": bars}
        for name, x in versions.items():
            row[f"{name}_pc_cos"] = cosine(pc_profile(x), pc_profile(after))
            k = estimate_key(x)
            row[f"{name}_same_key"] = float(k is not None and key_after is not None and k == key_after)
            row[f"{name}_notes_per_bar"] = notes_per_bar(x, 4)
            if x.note_count:
                stats[name].append(piece_stats(x, name))
        row["bits_per_note_past_only"], row["bits_per_note_with_future"] = nll_bits_per_note(model, tokens, first, 4)
        rows.append(row)
        print(f"{len(rows):3d} {style:<9} {path.name[:40]:<40} bars {bars}: pc cos infill "
              f"{row['infill_pc_cos']:.2f} cont {row['continuation_pc_cos']:.2f} orig {row['original_pc_cos']:.2f}",
              flush=True)
    summary = {}
    for name in versions:
        for m in ("pc_cos", "same_key", "notes_per_bar"):
            vals = np.array([r[f"{name}_{m}"] for r in rows], dtype=float)
            summary[f"{name}_{m}"] = float(np.nanmean(vals))
    for m in ("bits_per_note_past_only", "bits_per_note_with_future"):
        summary[m] = float(np.nanmean([r[m] for r in rows]))
    summary["nll_pieces"] = int(np.sum([not math.isnan(r["bits_per_note_with_future"]) for r in rows]))
    for name in ("infill", "continuation"):
        cmp = compare_stats(stats[name], stats["original"])
        summary[f"{name}_oa"] = {**{k: d["oa"] for k, d in cmp["distributions"].items()},
                                 **{k: d["oa"] for k, d in cmp["metrics"].items()}}
        summary[f"{name}_oa_raw"] = cmp
    summary["pieces"], summary["seconds"] = len(rows), time.perf_counter() - t0
    return {"rows": rows, "summary": summary}


def melodies(folder: Path, n: int, seed: int, bars: int = 16) -> list[tuple[str, Score]]:
    """The voice line (the first part) of n songs, its first `bars` bars, in 4/4, 3/4 or 2/4."""
    rng = random.Random(seed)
    files = sorted(folder.rglob("*.mxl"))
    rng.shuffle(files)
    out = []
    for f in files:
        if len(out) >= n:
            break
        try:
            s = load_score(f)
        except Exception:
            continue
        if not s.tracks or not len(s.tracks[0].notes):
            continue
        ts = s.time_signatures
        if len(ts) and tuple(ts[0, 1:]) not in ((4, 4), (3, 4), (2, 4)):
            continue
        voice = Score(tpq=s.tpq, tracks=[replace(s.tracks[0], name="Voice")], tempos=s.tempos[:1],
                      time_signatures=s.time_signatures[:1], end=s.end)
        cut = excerpt(voice, 0, bars)
        if cut.note_count >= 16:
            cut.tempos = s.tempos[:1].copy() if len(s.tempos) else np.array([[0.0, 100.0]])
            out.append((f.stem, cut))
    return out


def chord_tone_share(melody: Track, accomp: list[Track], tpq: int, beats_per_bar: int = 4) -> float:
    """Share of melody notes starting on a beat whose pitch class sounds in the accompaniment then."""
    hits = total = 0
    for onset, _, pitch, _ in melody.notes.tolist():
        if onset % tpq:
            continue
        sounding = set()
        for t in accomp:
            if t.is_drum or not len(t.notes):
                continue
            on = (t.notes[:, 0] <= onset) & (t.notes[:, 0] + t.notes[:, 1] > onset)
            sounding |= set((t.notes[on, PITCH] % 12).tolist())
        if sounding:
            total += 1
            hits += pitch % 12 in sounding
    return hits / total if total else math.nan


def pop909_melodies(folder: Path, exclude: set[str], n: int, seed: int, bars: int = 16) -> list[tuple[str, Score]]:
    """The melody of n POP909 songs the corpus does not hold (`exclude`: its and the held-out
    set's originals, `pop909/NNN.mid`), made as the corpus recipe makes it (recipe/sources/
    pop909.py: GM 73, 4/4 bars), its `bars` bars from the first bar it plays in."""
    from recipe.sources import pop909
    from recipe.sources.common import Job, Piece

    files = sorted(p for p in folder.glob("*.mid") if f"pop909/{p.name}" not in exclude)
    random.Random(seed).shuffle(files)
    out = []
    for f in files:
        if len(out) >= n:
            break
        built = pop909.build(Job(pop909.SOURCE, "pop", f"pop909:{f.name}", {"path": str(f)}, group=f"pop:{f.stem}"))
        if not built or not isinstance(built[0], Piece):
            continue
        s = built[0].score
        mel = next(t for t in s.tracks if t.program == pop909.MELODY_PROGRAM)
        starts = s.bar_starts(max(s.end, s.notes_end()) + 1)
        first = int(np.searchsorted(starts, int(mel.notes[:, ONSET].min()), side="right")) - 1
        ts = s.time_signatures
        if len(ts) > 1:  # align_bars put a pickup bar before the song's 4/4 bars: start after it
            first = max(first, int(np.searchsorted(starts, ts[-1, 0])))
        cut = excerpt(replace(s, tracks=[mel]), first, bars)
        cut.time_signatures = np.array([[0, *ts[-1, 1:]]], dtype=np.int64)
        cut.tempos = np.array([[0.0, float(s.tempos[0, 1]) if len(s.tempos) else 120.0]])
        if cut.note_count >= 16:
            out.append((f.stem, cut))
    return out


def corpus_originals(*folders: Path) -> set[str]:
    """The `original` column of each folder's MANIFEST.csv (build_corpus.py writes it; exits
    without one, as the songs to leave out would be unknown)."""
    from recipe.extend_heldout import manifest

    return {row["original"].split(" (")[0] for folder in folders for row in manifest(folder)}


def accompaniment(model, mels: list[tuple[str, Score]], reference: Path, n_ref: int, seed: int,
                  styles=ARRANGED, guidance: float | None = None, temperature: float | None = None) -> dict:
    print(f"{len(mels)} melodies", flush=True)
    ref: dict[str, list] = {}
    rng = random.Random(seed)
    by_style: dict[str, list] = {}
    for p, s in discover([reference]).files:
        by_style.setdefault(s, []).append(p)
    for s, paths in by_style.items():
        for p in rng.sample(sorted(paths), min(n_ref, len(paths))):
            try:
                ref.setdefault(s, []).append(piece_stats(load_score(p), p.name))
            except Exception:
                pass
    clf = train_style_classifier(ref)
    out = {}
    for style in styles:
        t0 = time.perf_counter()
        arranged = []
        for i, (name, mel) in enumerate(mels):
            extra = {} if temperature is None else {"temperature": temperature}
            arranged.append(model.arrange(mel, style=style, seed=i, top_p=0.95, guidance=guidance, **extra))
        secs = time.perf_counter() - t0
        real, fake, key_real, key_fake = [], [], [], []
        for i, a in enumerate(arranged):
            m, acc = a.tracks[0], a.tracks[1:]
            real.append(chord_tone_share(m, acc, a.tpq))
            b = arranged[(i + 1) % len(arranged)]
            fake.append(chord_tone_share(m, b.tracks[1:], a.tpq))
            km = estimate_key(Score(tpq=a.tpq, tracks=[m]))
            ka = estimate_key(Score(tpq=a.tpq, tracks=acc))
            kb = estimate_key(Score(tpq=b.tpq, tracks=b.tracks[1:]))
            key_real.append(float(km is not None and km == ka))
            key_fake.append(float(km is not None and km == kb))
        labels = clf.predict([piece_stats(a, f"{style}_{i}") for i, a in enumerate(arranged)])
        lead = LEADS[style][0]
        on_lead = clf.predict([piece_stats(replace(a, tracks=[replace(a.tracks[0], program=lead)] + a.tracks[1:]))
                               for a in arranged])
        band = clf.predict([piece_stats(replace(a, tracks=a.tracks[1:])) for a in arranged])
        share = (lambda labs: float(np.mean([lab == style for lab in labs])) if labs else math.nan)
        out[style] = {"melodies": len(arranged), "seconds": secs,
                      "chord_tone_share": float(np.nanmean(real)), "chord_tone_share_shuffled": float(np.nanmean(fake)),
                      "same_key": float(np.mean(key_real)), "same_key_shuffled": float(np.mean(key_fake)),
                      "classified_as_style": share(labels),
                      "classified": dict(zip(*np.unique(labels, return_counts=True))) if labels else {},
                      "lead_program": lead,
                      "classified_as_style_melody_on_lead": share(on_lead),
                      "classified_as_style_band_alone": share(band)}
        out[style]["classified"] = {str(k): int(v) for k, v in out[style]["classified"].items()}
        print(style, json.dumps({k: v for k, v in out[style].items() if k != "classified"}), flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="default")
    ap.add_argument("--heldout", type=Path, required=True)
    ap.add_argument("--melodies", type=Path, required=True)
    ap.add_argument("--reference", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--n", type=int, default=100, help="held-out pieces for bar infill")
    ap.add_argument("--n-melodies", type=int, default=50)
    ap.add_argument("--n-ref", type=int, default=60)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: infill, arrange")
    ap.add_argument("--styles", default=",".join(ARRANGED), help="styles to arrange in")
    ap.add_argument("--guidance", type=float, default=None,
                    help="arrangement guidance on every window (default: the model's own per style)")
    ap.add_argument("--temperature", type=float, default=None, help="arrangement temperature (default: arrange's)")
    ap.add_argument("--pop909", type=Path, default=None,
                    help="POP909 folder: also arrange in pop the melodies of songs the corpus does not hold")
    args = ap.parse_args()
    from composer.generate import load_model

    model = load_model(None if args.model == "default" else args.model)
    args.out.mkdir(parents=True, exist_ok=True)
    result = {}
    if "infill" not in args.skip:
        result["bar_infill"] = bar_infill(model, args.heldout, args.n, args.seed)
        print(json.dumps({k: v for k, v in result["bar_infill"]["summary"].items() if "raw" not in k}, indent=1))
    if "arrange" not in args.skip:
        mels = melodies(args.melodies, args.n_melodies, args.seed)
        result["accompaniment"] = accompaniment(model, mels, args.reference, args.n_ref, args.seed,
                                                args.styles.split(","), args.guidance, args.temperature)
    if args.pop909:
        mels = pop909_melodies(args.pop909, corpus_originals(args.reference, args.heldout), args.n_melodies, args.seed)
        result["accompaniment_pop909"] = accompaniment(model, mels, args.reference, args.n_ref, args.seed,
                                                       ["pop"], args.guidance, args.temperature)
    (args.out / "infill.json").write_text(json.dumps(result, indent=1, default=str))


if __name__ == "__main__":
    main()
