"""Copy a trained run into data/ as the bundled model (what `compose generate` uses by default).

    python recipe/ship_model.py RUN_DIR [--data data] [--guidance pop=1.5,blues=1.5:4]

Copies the weights, config (plus one line per style on where its music came from, for
`compose styles`), the replay sample that fine-tunes rehearse, and the loss curve and
metrics for the model card. Refuses a run without a replay sample or over the 25 MB budget.
--guidance records the classifier-free guidance `compose generate` uses per style when the
user gives none (choose it with recipe/evaluate_model.py), and with :BARS that it steers only
the opening bars (config.json's "guidance_bars"); it adds to the run's own (a fine-tune
inherits its base's), and styles named nowhere get 1.0, off.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a checkout

from composer.atomic import write_text_atomic  # noqa: E402

# what `compose styles` prints beside each style: recipe/sources builds these
STYLE_SOURCES = {
    "blues": "Impro-Visor blues leadsheets arranged with MMA blues/shuffle grooves (GPL-2), "
             "half with Groove MIDI shuffle drummers (CC BY 4.0)",
    "chorale": "Bach chorales from music21's corpus, SATB on violin/viola/cello/contrabass",
    "classical": "Beethoven/Mozart/Haydn quartets (music21) and Mutopia keyboard and chamber pieces",
    "folk": "O'Neill's 1850, Ryan's Mammoth Collection and Essen folk songs (music21)",
    "jazz": "Impro-Visor leadsheets and solos arranged with MMA swing/ballad/waltz grooves (GPL-2), "
            "half with Groove MIDI jazz drummers (CC BY 4.0)",
    "latin": "Impro-Visor latin/bossa/samba leadsheets arranged with MMA grooves (GPL-2), "
             "some with Groove MIDI bossa/samba drummers (CC BY 4.0)",
    "pop": "POP909 songs: flute melody over piano accompaniment (MIT)",
}
FILES = ("model.safetensors", "replay.safetensors", "loss.png", "metrics.jsonl")
BUDGET = 25 * 2**20


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("run", type=Path)
    ap.add_argument("--data", type=Path, default=Path(__file__).resolve().parent.parent / "data")
    ap.add_argument("--guidance", default="",
                    help="style=G or style=G:BARS,... (default guidance per style; BARS: only the opening bars)")
    args = ap.parse_args()
    missing = [f for f in (*FILES, "config.json") if not (args.run / f).exists()]
    if missing:
        sys.exit(f"{args.run}: missing {', '.join(missing)}")
    size = sum((args.run / f).stat().st_size for f in (*FILES, "config.json"))
    if size > BUDGET:
        sys.exit(f"{args.run}: {size / 2**20:.1f} MB is over the {BUDGET / 2**20:.0f} MB budget of data/")
    config = json.loads((args.run / "config.json").read_text())
    config["style_sources"] = {s: STYLE_SOURCES.get(s, "") for s in config["styles"]}
    try:
        items = [(s, *g.split(":")) for s, g in (item.split("=") for item in args.guidance.split(",") if item)]
        guidance = {s: float(g) for s, g, *_ in items}
        bars = {s: int(b[0]) if b else 0 for s, g, *b in items}
    except ValueError:
        sys.exit(f"--guidance {args.guidance!r}: expected style=G or style=G:BARS,... (e.g. pop=1.5,blues=1.5:4)")
    unknown = set(guidance) - set(config["styles"])
    if unknown:
        sys.exit(f"--guidance: {', '.join(sorted(unknown))} not among the run's styles")
    config["guidance"] = {**config.get("guidance", {}), **guidance}  # a fine-tune's inherited values stay
    config["guidance_bars"] = {s: b for s, b in {**config.get("guidance_bars", {}), **bars}.items() if b}
    if "style_instruments" not in config:  # runs trained before composer recorded them
        from composer.corpus import load_index, style_instruments
        config["style_instruments"] = style_instruments(load_index(args.run / "cache"))
    for f in FILES:
        tmp = args.data / f".{f}.tmp"
        shutil.copyfile(args.run / f, tmp)
        tmp.replace(args.data / f)
    write_text_atomic(args.data / "config.json", json.dumps(config, indent=1))
    print(f"shipped {args.run} into {args.data} ({size / 2**20:.1f} MB): styles {', '.join(config['styles'])}")


if __name__ == "__main__":
    main()
