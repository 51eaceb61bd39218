"""Objective evaluation of generated music against a reference corpus (`compose evaluate`)."""

from .report import (
    DISTRIBUTIONS,
    GRID,
    METRICS,
    PieceStats,
    StyleClassifier,
    compare_stats,
    empty_beat_rate,
    evaluate_dirs,
    evaluate_sets,
    format_report,
    groove_consistency,
    histogram_oa,
    kde_oa,
    piece_stats,
    plot_distributions,
    polyphony,
    train_style_classifier,
    write_json,
)

__all__ = [
    "DISTRIBUTIONS", "GRID", "METRICS", "PieceStats", "StyleClassifier", "compare_stats", "empty_beat_rate",
    "evaluate_dirs", "evaluate_sets", "format_report", "groove_consistency", "histogram_oa", "kde_oa",
    "piece_stats", "plot_distributions", "polyphony", "train_style_classifier", "write_json",
]
