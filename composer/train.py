"""Training moved to the composer/training package (its __init__ says which module owns what);
this module keeps the names cli.py, scripts and bench import from here."""

from .training import TrainConfig, train
from .training.loop import validation_by_style

__all__ = ["TrainConfig", "train", "validation_by_style"]
