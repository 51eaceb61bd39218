"""Builders for the style-labelled training corpus of composer's bundled model.

One module per source; each turns its source files into `Piece`s (a `Score` plus where it came
from) and is usable on its own:

    from recipe.sources import pop909
    for job in pop909.jobs("/work/shared/data"):
        for piece in pop909.build(job):      # or a Skip naming the reason
            ...

- `music21_sources`: Bach chorales (chorale), folk tunes (folk), string quartets (classical)
- `mutopia`: Mutopia Project MIDI files (classical)
- `pop909`: POP909 songs (pop)
- `improvisor`: Impro-Visor leadsheets rendered through MMA (jazz, latin, blues)
- `balance`: held-out split and token balancing across styles

`scripts/build_corpus.py` runs them all into `OUT/<style>/<source>/<name>.mid`.
"""

from recipe.sources.common import Job, Piece, Skip  # noqa: F401
