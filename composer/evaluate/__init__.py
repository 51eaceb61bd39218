"""Objective evaluation of generated music against a reference corpus (`compose evaluate`).

    result = evaluate_dirs("out/generated", "data/corpus", out_json="eval.json", plots_dir="eval")
    print(format_report(result))

One module per concern, each with the definitions of what it computes in its docstring:

- metrics.py: one Score -> PieceStats (per-piece metrics, histograms, classifier features).
- overlap.py: two sets of PieceStats -> set distributions, metric summaries, overlapping areas.
- classifier.py: the style classifier (logistic regression) and its cross-validation.
- report.py: folders and files in, JSON, PNG plots and the terminal report out.

Everything is numpy (matplotlib only for plots); the docstrings of overlap.py and
classifier.py say why scipy's gaussian_kde and scikit-learn's LogisticRegression are not used.
Not to be confused with train.evaluate (validation loss during training) or with
`compose evaluate --model` (validation NLL per style, train.validation_by_style).
"""

from .classifier import StyleClassifier, train_style_classifier
from .metrics import (
    DISTRIBUTIONS,
    GRID,
    METRICS,
    PieceStats,
    empty_beat_rate,
    groove_consistency,
    piece_stats,
    polyphony,
)
from .overlap import compare_stats, histogram_oa, kde_oa
from .report import evaluate_dirs, evaluate_sets, format_report, plot_distributions, write_json

__all__ = [
    "DISTRIBUTIONS", "GRID", "METRICS", "PieceStats", "StyleClassifier", "compare_stats", "empty_beat_rate",
    "evaluate_dirs", "evaluate_sets", "format_report", "groove_consistency", "histogram_oa", "kde_oa",
    "piece_stats", "plot_distributions", "polyphony", "train_style_classifier", "write_json",
]
