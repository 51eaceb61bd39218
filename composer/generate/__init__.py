"""Generation: a request (options.py) → prompt and masks (api.py, masks.py, primer.py) → the
decoding loop (decode.py) → a Score.

    model = load_model()          # the bundled model, or load_model("runs/mine")
    score = model.generate(style="jazz", bars=16)
"""

from .api import ComposerModel, as_decoder, load_model
from .options import SamplingOptions

__all__ = ["ComposerModel", "SamplingOptions", "as_decoder", "load_model"]
