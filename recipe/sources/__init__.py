"""Builders for the style-labelled training corpus of composer's bundled model.

One module per source; each turns its source files into `Piece`s (a `Score` plus where it came
from) and is usable on its own:

    from recipe.sources import default_shared_data, pop909
    jobs, skips = pop909.jobs(default_shared_data())
    for job in jobs:
        for piece in pop909.build(job):      # or a Skip naming the reason
            ...

- `music21_sources`: Bach chorales (chorale), folk tunes (folk), string quartets (classical)
- `mutopia`: Mutopia Project MIDI files (classical)
- `pop909`: POP909 songs (pop)
- `improvisor`: Impro-Visor leadsheets rendered through MMA (jazz, latin, blues)
- `groove`: Groove MIDI drummers in place of MMA's drums (used by `improvisor`)
- `balance`: held-out split and token balancing across styles

`recipe/build_corpus.py` runs them all into `OUT/<style>/<source>/<name>.mid`.
"""

from __future__ import annotations

import os
from pathlib import Path

from recipe.sources.common import Job, Piece, Skip  # noqa: F401

REPO = Path(__file__).resolve().parents[2]
SHARED_DATA_ENV = "COMPOSER_SHARED_DATA"


def default_shared_data() -> Path:
    """The shared-data root (pop909/, mutopia/, improvisor/, groove/): $COMPOSER_SHARED_DATA if
    set, else ../shared/data beside the repository."""
    env = os.environ.get(SHARED_DATA_ENV)
    return Path(env) if env else REPO.parent / "shared" / "data"
