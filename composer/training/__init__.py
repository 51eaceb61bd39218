"""Training (placeholder while composer/train.py moves here)."""
