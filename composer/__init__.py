"""composer: symbolic music generation. MIDI in, event tokens, a small model, MIDI out.

Importing the package is cheap (no torch, no music21); heavy modules load on first use.
"""

__version__ = "0.1.0"

from .errors import ComposerError, ScoreError  # noqa: E402
from .score import Score, Track  # noqa: E402
from .tokenizer import Tokenizer  # noqa: E402
from .vocab import TokenizerConfig  # noqa: E402



def load_model(path=None, device: str = "cpu"):
    """A trained run directory (or the bundled model when `path` is None): an object with
    `.generate(style=..., bars=..., ...) -> Score`, `.styles` and `.save(score, path)`."""
    from .generate import load_model as _load  # imports torch only off the CPU or for an LSTM

    return _load(path, device=device)


def load_score(path) -> Score:
    """Any supported music file (.mid/.midi, .musicxml/.mxl/.xml, .abc, .krn) as a `Score`;
    ScoreError (one line: the file and the reason) if it cannot be used."""
    from .load import load_score as _load_score

    return _load_score(path, channels=True)


__all__ = ["load_model", "load_score", "ComposerError", "Score", "ScoreError", "Tokenizer", "TokenizerConfig", "Track", "__version__"]
