#!/usr/bin/env python
"""Build the style-labelled training corpus of composer's bundled model.

    python recipe/build_corpus.py --out ../corpus [--shared-data DIR] [--heldout DIR]
        [--styles jazz,latin,blues,pop,classical,folk,chorale] [--max-per-source N]
        [--style-tokens 800000] [--workers 2] [--seed 0] [--overwrite] [--keep-heldout MANIFEST]

Writes `OUT/<style>/<source>/<name>.mid` (what `compose train OUT` reads: the first sub-folder
is the style), `OUT/MANIFEST.csv` and `OUT/SUMMARY.md`, and a disjoint held-out set (about 5%
of each style's compositions) in `HELDOUT/<style>/<source>/` with its own MANIFEST.csv.

Sources (see recipe/sources/): music21's corpus (Bach chorales, folk tunes, string
quartets), SHARED/mutopia, SHARED/pop909 and SHARED/improvisor leadsheets rendered with MMA
(`apt-get install mma`), half of them with a SHARED/groove (Groove MIDI) drummer's take in place
of MMA's drums. SHARED is --shared-data, else $COMPOSER_SHARED_DATA, else ../shared/data beside
the repository; it is only read.

Reproducible: every choice (job order, tempos, grooves, instruments, held-out split, balancing)
is seeded by --seed and the piece's identity, and each source is cut at the shortest prefix of
its seeded job order that reaches its token budget, whatever order the workers finish in.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import os
import shutil
import signal
import sys
import time
from collections import Counter, defaultdict
from dataclasses import dataclass
from multiprocessing import Pool
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import numpy as np  # noqa: E402

from recipe.sources import balance, default_shared_data, improvisor, music21_sources, mutopia, pop909  # noqa: E402
from recipe.sources.common import Job, Piece, Skip, stable_hash  # noqa: E402

STYLES = ("jazz", "latin", "blues", "pop", "classical", "folk", "chorale")
# jazz is the model's headline style and has the most material; pop909's 809 songs are more
# varied than 800k tokens (~110 songs) show
STYLE_WEIGHT = {"jazz": 1.5, "pop": 1.5}
IMPROVISOR_VARIANTS = {"jazz": 1, "latin": 3, "blues": 4}  # renditions per leadsheet (budget permitting)
MAX_PIECE_TOKENS = 32000
MIN_PIECE_TOKENS = 48
JOB_TIMEOUT = 180
STAGING = ".staging"

# (style, source, weight within the style) in build order; earlier sources' unused budget
# passes on to later ones of the same style
SOURCES = [
    ("chorale", "bach-chorales", 1.0),
    ("classical", "music21-quartets", 0.35),
    ("classical", "mutopia", 0.65),
    ("folk", "music21-oneills1850", 0.35),
    ("folk", "music21-ryansMammoth", 0.25),
    ("folk", "music21-essenFolksong", 0.40),
    ("pop", "pop909", 1.0),
    ("jazz", "improvisor", 1.0),
    ("latin", "improvisor", 1.0),
    ("blues", "improvisor", 1.0),
]

LICENCES = {
    "bach-chorales": "music21 corpus (BSD-3-Clause), J. S. Bach chorales (public domain)",
    "music21-quartets": "music21 corpus (BSD-3-Clause), Beethoven / Mozart / Haydn (public domain)",
    "music21-oneills1850": "music21 corpus (BSD-3-Clause), O'Neill's Music of Ireland 1850 (public domain; "
                           "ABC transcription by Norbert Paap)",
    "music21-ryansMammoth": "music21 corpus (BSD-3-Clause), Ryan's Mammoth Collection 1883 (public domain; "
                            "ABC by the Ryan's Mammoth project contributors)",
    "music21-essenFolksong": "music21 corpus (BSD-3-Clause), Essen Folksong Collection (Schaffrath)",
    "mutopia": "Mutopia Project: Public Domain / CC BY / CC BY-SA per piece (see MANIFEST.csv; "
               "credit the Mutopia Project and each typesetter)",
    "pop909": "MIT, POP909 (Wang et al., ISMIR 2020, Music X Lab)",
    "improvisor": "GPL-2, Impro-Visor leadsheets (Robert Keller et al.); arrangements rendered with "
                  "MMA - Musical MIDI Accompaniment (Bob van der Poel, GPL-2); drums in about half of them "
                  "from the Groove MIDI Dataset (CC BY 4.0, Gillick et al. 2019, Magenta)",
}


# ============================================================================ jobs


def collect_jobs(shared: Path, styles: set[str], log) -> tuple[dict[tuple[str, str], list[Job]], list[Skip]]:
    """All jobs per (style, source), each list in seeded order later; skips found while listing."""
    jobs: dict[tuple[str, str], list[Job]] = defaultdict(list)
    skips: list[Skip] = []

    def add(found: list[Job]):
        for j in found:
            if j.style in styles:
                jobs[(j.style, j.source)].append(j)

    def guarded(name, fn):
        try:
            return fn()
        except Exception as e:  # noqa: BLE001  (a broken source is reported, not fatal)
            skips.append(Skip(name, f"source unavailable: {type(e).__name__}: {e}"))
            log(f"  {name}: unavailable ({e})")
            return None

    if "chorale" in styles:
        add(guarded("bach-chorales", music21_sources.chorale_jobs) or [])
    if "classical" in styles:
        add(guarded("music21-quartets", music21_sources.quartet_jobs) or [])
        found = guarded("mutopia", lambda: mutopia.jobs(shared))
        if found:
            add(found[0])
            skips += found[1]
    if "folk" in styles:
        add(guarded("music21-folk", music21_sources.folk_jobs) or [])
    if "pop" in styles:
        found = guarded("pop909", lambda: pop909.jobs(shared))
        if found:
            add(found[0])
            skips += found[1]
    if styles & {"jazz", "latin", "blues"}:
        if not improvisor.mma_available():
            log("  improvisor: mma is not installed (apt-get install mma): jazz, latin, blues skipped")
            skips.append(Skip("improvisor", "mma is not installed"))
        else:
            found = guarded("improvisor", lambda: improvisor.jobs(shared, IMPROVISOR_VARIANTS))
            if found:
                add(found[0])
                skips += found[1]
    return jobs, skips


def ordered(jobs: list[Job], seed: int) -> list[Job]:
    """Seeded order; renditions (variants) of every tune come before the next rendition of any.

    Within a variant, leadsheets with a melody alternate with chord-only ones (melodies are the
    minority: a budget cut would otherwise keep few of them)."""
    out = []
    for v in sorted({j.args.get("variant", 0) for j in jobs}):
        mine = sorted((j for j in jobs if j.args.get("variant", 0) == v),
                      key=lambda j: (stable_hash(seed, "order", j.key), j.key))
        with_melody = [j for j in mine if j.args.get("melody")]
        without = [j for j in mine if not j.args.get("melody")]
        for i in range(max(len(with_melody), len(without))):
            out += with_melody[i:i + 1] + without[i:i + 1]
    return out


# ============================================================================ worker

_W: dict = {}


def _init_worker(staging: str, seed: int):
    try:
        os.nice(5)
    except OSError:
        pass
    from composer.tokenizer import Tokenizer

    _W.update(staging=Path(staging), seed=seed, tok=Tokenizer())


def _timeout(signum, frame):
    raise TimeoutError(f"took longer than {JOB_TIMEOUT} s")


def _builder(job: Job):
    if job.source == "mutopia":
        return mutopia.build
    if job.source == "pop909":
        return pop909.build
    if job.source == "improvisor":
        return improvisor.build
    return music21_sources.build


def work(task: tuple[int, Job]) -> tuple[int, list[dict]]:
    """Build one job; write each piece's MIDI to staging; never raises."""
    from composer.midi_io import midi_bytes

    index, job = task
    out: list[dict] = []
    signal.signal(signal.SIGALRM, _timeout)
    signal.alarm(JOB_TIMEOUT)
    try:
        results = _builder(job)(job, _W["seed"])
        for k, r in enumerate(results):
            if isinstance(r, Skip):
                out.append({"kind": "skip", "key": r.key, "reason": r.reason})
                continue
            out.append(_finish(job, k, r, midi_bytes))
    except BaseException as e:  # noqa: BLE001  (timeouts, music21 oddities, anything)
        if isinstance(e, KeyboardInterrupt):
            raise
        out.append({"kind": "skip", "key": job.key, "reason": f"{type(e).__name__}: {e}"[:200]})
    finally:
        signal.alarm(0)
    return index, out


def _finish(job: Job, k: int, piece: Piece, midi_bytes) -> dict:
    score = piece.score
    score.tracks = [t for t in score.tracks if len(t.notes)]
    if score.note_count < 8:
        return {"kind": "skip", "key": job.key, "reason": f"too few notes ({score.note_count})"}
    ids = _W["tok"].encode(score, style=None)
    n = int(len(ids))
    if n > MAX_PIECE_TOKENS:
        return {"kind": "skip", "key": job.key, "reason": f"too long ({n} tokens > {MAX_PIECE_TOKENS})"}
    if n < MIN_PIECE_TOKENS:
        return {"kind": "skip", "key": job.key, "reason": f"too short ({n} tokens)"}
    data = midi_bytes(score, title=piece.name)
    staged = _W["staging"] / f"{stable_hash(job.key, k):016x}.mid"
    staged.write_bytes(data)
    return {"kind": "piece", "key": job.key if k == 0 else f"{job.key}/{k}", "style": piece.style,
            "source": piece.source, "name": piece.name, "original": piece.original, "licence": piece.licence,
            "group": piece.group or job.group, "notes": piece.notes, "tokens": n,
            "n_notes": int(score.note_count), "seconds": round(float(score.seconds()), 1),
            "tracks": " ".join("drums" if t.is_drum else str(t.program) for t in score.tracks),
            "sha": hashlib.sha256(np.asarray(ids, dtype=np.int32).tobytes()).hexdigest(),
            "staged": str(staged), "variant": int(job.args.get("variant", 0))}


# ============================================================================ building


@dataclass
class SourceRun:
    style: str
    source: str
    jobs: int = 0
    used_jobs: int = 0
    pieces: int = 0
    tokens: int = 0
    skipped: int = 0
    seconds: float = 0.0


def run_source(pool, jobs: list[Job], budget: int, window: int, seen_sha: dict, log,
               label: str) -> tuple[list[dict], list[dict], SourceRun]:
    """Build `jobs` in order until `budget` tokens: the cut is the shortest prefix of the job
    order reaching the budget, whatever order the workers finish in (reproducible)."""
    run = SourceRun(*label.split("/", 1), jobs=len(jobs))
    t0 = last = time.time()
    pieces, skips = [], []
    pending: dict[int, object] = {}
    done: dict[int, list[dict]] = {}
    nxt = commit = 0
    stop = False
    while (commit < len(jobs)) and not (stop and not pending):
        while not stop and nxt < len(jobs) and len(pending) < window:
            pending[nxt] = pool.apply_async(work, ((nxt, jobs[nxt]),))
            nxt += 1
        ready = [i for i, r in pending.items() if r.ready()]
        if not ready:
            time.sleep(0.02)
        for i in ready:
            try:
                done[i] = pending.pop(i).get()[1]
            except Exception as e:  # noqa: BLE001  (a worker that died)
                done[i] = [{"kind": "skip", "key": jobs[i].key, "reason": f"worker failed: {e}"}]
        while commit in done and not stop:
            for r in done.pop(commit):
                if r["kind"] == "skip":
                    skips.append(r)
                    continue
                dup = seen_sha.get(r["sha"])
                if dup:
                    skips.append({"kind": "skip", "key": r["key"], "reason": f"duplicate of {dup}"})
                    _unlink(r["staged"])
                    continue
                seen_sha[r["sha"]] = r["key"]
                pieces.append(r)
                run.tokens += r["tokens"]
            commit += 1
            if run.tokens >= budget:
                stop = True
        if time.time() - last > 15:
            last = time.time()
            log(f"  {label}: {commit}/{len(jobs)} jobs, {len(pieces)} pieces, {run.tokens:,}/{budget:,} tokens, "
                f"{len(skips)} skipped, {time.time() - t0:.0f} s")
    for i, r in list(pending.items()):  # past the cut: wait, then discard
        try:
            done[i] = r.get()[1]
        except Exception:  # noqa: BLE001
            pass
    for i, results in done.items():
        for r in results:
            if r["kind"] == "piece":
                _unlink(r["staged"])
    run.used_jobs, run.pieces, run.skipped = commit, len(pieces), len(skips)
    run.seconds = time.time() - t0
    log(f"  {label}: done: {commit}/{len(jobs)} jobs, {len(pieces)} pieces, {run.tokens:,} tokens, "
        f"{len(skips)} skipped, {run.seconds:.0f} s")
    return pieces, skips, run


def _unlink(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def place(pieces: list[dict], root: Path) -> None:
    """Move staged files to root/<style>/<source>/<name>.mid (names made unique); sets 'path'."""
    used: set[str] = set()
    for p in sorted(pieces, key=lambda r: (r["style"], r["source"], r["name"], r["key"])):
        base = f"{p['style']}/{p['source']}/{p['name']}"
        rel, n = f"{base}.mid", 1
        while rel.lower() in used:
            n += 1
            rel = f"{base}_{n}.mid"
        used.add(rel.lower())
        dest = root / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(p["staged"], dest)
        p["path"] = rel


MANIFEST_FIELDS = ["style", "source", "path", "original", "licence", "notes", "tokens", "n_notes",
                   "seconds", "tracks", "group"]


def write_manifest(pieces: list[dict], path: Path) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=MANIFEST_FIELDS, extrasaction="ignore")
        w.writeheader()
        for p in sorted(pieces, key=lambda r: r["path"]):
            w.writerow(p)


def table(pieces: list[dict], by: str = "style") -> list[tuple]:
    agg: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0])
    for p in pieces:
        a = agg[p[by] if by == "style" else f"{p['style']}/{p['source']}"]
        a[0] += 1
        a[1] += p["n_notes"]
        a[2] += p["tokens"]
    total = sum(a[2] for a in agg.values()) or 1
    return [(k, a[0], a[1], a[2], 100.0 * a[2] / total) for k, a in sorted(agg.items())]


def format_table(rows, head="style") -> str:
    lines = [f"| {head} | pieces | notes | tokens | % tokens |", "|---|---:|---:|---:|---:|"]
    for k, n, notes, tok, pct in rows:
        lines.append(f"| {k} | {n:,} | {notes:,} | {tok:,} | {pct:.1f} |")
    tot = [sum(r[i] for r in rows) for i in (1, 2, 3)]
    lines.append(f"| **total** | {tot[0]:,} | {tot[1]:,} | {tot[2]:,} | 100.0 |")
    return "\n".join(lines)


def write_summary(path: Path, train: list[dict], held: list[dict], runs: list[SourceRun], skips: list[dict],
                  args, seconds: float) -> None:
    sources = sorted({p["source"] for p in train + held})
    reasons = Counter(_reason_kind(s["reason"]) for s in skips)
    text = [
        "# composer training corpus", "",
        f"Built by `recipe/build_corpus.py` (seed {args.seed}, style budget {args.style_tokens:,} tokens, "
        f"{args.workers} workers) in {seconds / 60:.1f} min. Layout `<style>/<source>/<name>.mid`; "
        "`compose train` takes the style from the first sub-folder. Token counts use composer's default "
        "Tokenizer.", "",
        "## Training set per style", "", format_table(table(train)), "",
        "## Training set per source", "", format_table(table(train, "source"), "style/source"), "",
        f"## Held-out set ({args.heldout})", "",
        "About 5% of each style's compositions (all renditions of a held-out tune stay out of training; "
        "the held-out set keeps one rendition).", "", format_table(table(held)), "",
        "## Build per source", "", "| style/source | jobs available | jobs used | pieces | tokens | skipped | seconds |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *[f"| {r.style}/{r.source} | {r.jobs:,} | {r.used_jobs:,} | {r.pieces:,} | {r.tokens:,} | {r.skipped:,} | "
          f"{r.seconds:.0f} |" for r in runs], "",
        "## Skipped (reason: count)", "", *[f"- {k}: {v}" for k, v in reasons.most_common()], "",
        "## Instruments (GM programs)", "",
        "- chorale: soprano 40 Violin, alto 41 Viola, tenor 42 Cello, bass 43 Contrabass (distinct programs so "
        "the tokenizer keeps four voices).",
        "- classical: music21 quartets violin I 40, violin II 110 (Fiddle, a violin timbre with its own "
        "program), viola 41, cello 42; Mutopia as typeset (a second violin -> 110).",
        "- folk: O'Neill / Ryan's fiddle tunes 110 Fiddle; Essen songs 73 Flute (melody only).",
        "- pop: POP909 MELODY -> 73 Flute; BRIDGE + PIANO -> one 0 Acoustic Grand Piano track.",
        "- jazz / latin / blues: MMA grooves (jazz: SwingWalk, Swing1Walk, JazzCombo, MellowJazz, SlowJazz, "
        "Ballad, JazzWaltz...; latin: BossaNova*, Samba*, LatinWaltz; blues: Blues, BluesTriple, SlowBlues, "
        "FastBlues, ShuffleBoggie...), drums on channel 10 (in about half the renditions a Groove MIDI "
        "drummer's take of a matching style: jazz / jazz-swing, brazilian bossa / samba, blues / rock "
        "shuffle, looped by whole bars), bass -> 32 (33 in electric blues grooves), "
        "piano comping -> 0, guitar -> 26 (24 nylon in latin), pads -> 48; leadsheet melody on its own "
        "track (66/56/65/11 jazz, 73/66/65/11 latin, 66/65/56/22 blues).", "",
        "## Licences to credit", "", *[f"- **{s}**: {LICENCES.get(s, '?')}" for s in sources], "",
    ]
    path.write_text("\n".join(text))


def _reason_kind(reason: str) -> str:
    r = reason.split(" (")[0]
    return r[:90]


# ============================================================================ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, type=Path, help="output folder (outside the repository)")
    ap.add_argument("--heldout", type=Path, default=None, help="held-out folder (default OUT + '_heldout')")
    ap.add_argument("--shared-data", type=Path, default=None,
                    help="folder with pop909/, mutopia/, improvisor/, groove/ (default: $COMPOSER_SHARED_DATA, "
                         "else ../shared/data beside the repository)")
    ap.add_argument("--styles", default=",".join(STYLES), help="comma-separated styles to build")
    ap.add_argument("--max-per-source", type=int, default=None, help="at most N jobs per source")
    ap.add_argument("--style-tokens", type=int, default=800_000,
                    help="token budget per style (jazz and pop get 1.5x); sources stop once reached")
    ap.add_argument("--cap-factor", type=float, default=2.5,
                    help="drop training pieces of styles above this x the median style's tokens")
    ap.add_argument("--heldout-fraction", type=float, default=0.05)
    ap.add_argument("--keep-heldout", type=Path, default=None, metavar="MANIFEST",
                    help="hold out exactly the compositions of an earlier build's held-out MANIFEST.csv "
                         "(rebuilding for a model continued from one trained on that build: its "
                         "held-out pieces stay unseen, and no piece it trained on is held out)")
    ap.add_argument("--workers", type=int, default=min(2, os.cpu_count() or 1))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--overwrite", action="store_true", help="replace OUT and HELDOUT if they exist")
    args = ap.parse_args(argv)

    t_start = time.time()
    log = lambda msg: print(msg, file=sys.stderr, flush=True)  # noqa: E731
    out = args.out.resolve()
    args.heldout = (args.heldout or Path(str(args.out) + "_heldout")).resolve()
    shared = (args.shared_data or default_shared_data()).resolve()
    styles = {s.strip() for s in args.styles.split(",") if s.strip()}
    unknown = styles - set(STYLES)
    if unknown:
        ap.error(f"unknown styles: {', '.join(sorted(unknown))} (choose from {', '.join(STYLES)})")
    for d in (out, args.heldout):
        if d == REPO or REPO in d.parents:
            ap.error(f"{d}: inside the repository; write the corpus elsewhere")
        if d == shared or shared in d.parents:
            ap.error(f"{d}: inside the shared data folder, which must stay read-only")
        if d.exists() and any(d.iterdir()):
            if not args.overwrite:
                ap.error(f"{d} exists and is not empty (use --overwrite to replace it)")
            if not (d / "MANIFEST.csv").is_file():
                ap.error(f"{d}: not a corpus built by this script (no MANIFEST.csv); not removing it")
            shutil.rmtree(d)
    if out == args.heldout:
        ap.error("--heldout must differ from --out")
    if not shared.is_dir():
        log(f"warning: {shared}: no such folder; only music21's corpus will be used")
    out.mkdir(parents=True, exist_ok=True)
    args.heldout.mkdir(parents=True, exist_ok=True)
    staging = out / STAGING
    staging.mkdir(exist_ok=True)
    try:
        os.nice(5)
    except OSError:
        pass

    log(f"listing sources (shared data: {shared})")
    jobs, list_skips = collect_jobs(shared, styles, log)
    skips: list[dict] = [{"kind": "skip", "key": s.key, "reason": s.reason} for s in list_skips]
    runs: list[SourceRun] = []
    pieces: list[dict] = []
    seen_sha: dict[str, str] = {}
    used_by_style: dict[str, list[int]] = defaultdict(list)
    window = max(2, 4 * args.workers)
    with Pool(args.workers, initializer=_init_worker, initargs=(str(staging), args.seed)) as pool:
        for style, source, _w in SOURCES:
            if style not in styles or (style, source) not in jobs:
                continue
            todo = ordered(jobs[(style, source)], args.seed)
            if args.max_per_source:
                todo = todo[:args.max_per_source]
            weights = [w for s, _src, w in SOURCES if s == style and (s, _src) in jobs]
            total = int(args.style_tokens * STYLE_WEIGHT.get(style, 1.0))
            budget = balance.source_budgets(total, weights, used_by_style[style])
            log(f"[{style}/{source}] {len(todo)} jobs, budget {budget:,} tokens")
            got, sk, run = run_source(pool, todo, budget, window, seen_sha, log, f"{style}/{source}")
            pieces += got
            skips += sk
            runs.append(run)
            used_by_style[style].append(run.tokens)

    # held-out split: by composition, ~5% of each style's pieces; one rendition per held-out piece
    by_style = defaultdict(list)
    for p in pieces:
        by_style[p["style"]].append((p["group"], 1 if p["variant"] == 0 else 0))
    if args.keep_heldout:
        with open(args.keep_heldout, newline="", encoding="utf-8") as f:
            held_groups = {row["group"] for row in csv.DictReader(f)}
    else:
        held_groups = balance.heldout_groups(by_style, args.heldout_fraction, args.seed)
    held = [p for p in pieces if p["group"] in held_groups and p["variant"] == 0]
    for p in pieces:
        if p["group"] in held_groups and p["variant"] != 0:
            _unlink(p["staged"])
    train = [p for p in pieces if p["group"] not in held_groups]

    # balance the training side: no style above cap-factor x the median style
    dropped = balance.cap_styles({s: [(p["key"], p["tokens"]) for p in train if p["style"] == s]
                                  for s in {p["style"] for p in train}}, args.cap_factor, args.seed)
    drop_keys = set().union(*dropped.values()) if dropped else set()
    for p in train:
        if p["key"] in drop_keys:
            _unlink(p["staged"])
            skips.append({"kind": "skip", "key": p["key"], "reason": "dropped to balance styles"})
    train = [p for p in train if p["key"] not in drop_keys]

    place(train, out)
    place(held, args.heldout)
    shutil.rmtree(staging, ignore_errors=True)
    write_manifest(train, out / "MANIFEST.csv")
    write_manifest(held, args.heldout / "MANIFEST.csv")
    with open(out / "SKIPPED.csv", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["key", "reason"])
        for s in skips:
            w.writerow([s["key"], s["reason"]])
    seconds = time.time() - t_start
    write_summary(out / "SUMMARY.md", train, held, runs, skips, args, seconds)

    tokens = {s: sum(p["tokens"] for p in train if p["style"] == s) for s in {p["style"] for p in train}}
    low = balance.under_floor(tokens, 0.05)
    print(format_table(table(train)))
    print(f"\nheld out: {len(held)} pieces, {sum(p['tokens'] for p in held):,} tokens in {args.heldout}")
    print(f"skipped: {len(skips)} (reasons in {out / 'SKIPPED.csv'}); time {seconds / 60:.1f} min")
    if low:
        print(f"warning: under 5% of training tokens: {', '.join(low)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
