"""The style classifier: which style does a piece sound like?

Per piece a feature vector (metrics.py: key-normalised pitch-class histogram, interval, IOI and
duration histograms, the metrics, pitch mean/std, velocity mean/std, drum
presence/density/share, GM program families present, track count, tempo, meter), standardised
on the training pieces, then multinomial logistic regression with L2 (class-balanced,
Nesterov-accelerated full-batch gradient descent). `cv_accuracy` is stratified k-fold
(k = min(5, smallest class)) accuracy on the references: the ceiling for the generated pieces,
whose accuracy is the fraction classified as the style they were generated for.

Why numpy and not scikit-learn's LogisticRegression (measured with scikit-learn 1.9.1): the
solver is ~20 lines for a few hundred pieces and 98 features. LogisticRegression with the same
objective (class_weight="balanced", C = 1 / (l2 * n)) on the same standardised features and
folds gives the same cross-validated and generated accuracies on the tests' pieces (2 styles
of 10 and of 4 pieces; 3 overlapping styles of 15 made the same way: 0.822 CV and 0.717 on 60
new pieces, both), the same predicted style for every piece, and probabilities within 0.013
(lbfgs converges further than 400 Nesterov steps), so a borderline piece could change style.
It would bring scipy, scikit-learn and narwhals (~170 MB installed; joblib is already there
through music21) and ~1.2-2 s of import into `compose evaluate`, which runs in ~2.5 s on 36
pieces; training speed is no reason either (~0.03 s a fit here). The cross-validation folds
are a seeded permutation per class, a few lines too.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..errors import ComposerError
from .metrics import PieceStats, piece_stats


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _fit_logreg(x: np.ndarray, y: np.ndarray, classes: int, l2: float, iterations: int) -> np.ndarray:
    """Class-balanced multinomial logistic regression, L2 on the weights (not the bias)."""
    n, f = x.shape
    xb = np.hstack([x, np.ones((n, 1))])
    counts = np.bincount(y, minlength=classes).astype(np.float64)
    w_sample = (n / (classes * np.maximum(counts, 1)))[y] / n  # sums to 1
    onehot = np.eye(classes)[y]
    # step 1/L, L bounds the Hessian: 0.5 * ||X||^2 (weighted) + l2
    lipschitz = 0.5 * float(np.linalg.norm(xb * np.sqrt(w_sample)[:, None], 2)) ** 2 + l2
    lr = 1.0 / lipschitz
    reg = np.ones((f + 1, 1))
    reg[-1] = 0.0
    w = np.zeros((f + 1, classes))
    v = w.copy()
    for k in range(iterations):
        look = w + (k / (k + 3)) * (w - v)
        grad = xb.T @ ((_softmax(xb @ look) - onehot) * w_sample[:, None]) + l2 * reg * look
        v, w = w, look - lr * grad
    return w


@dataclass
class StyleClassifier:
    """Multinomial logistic regression on standardised piece features."""

    styles: list[str]
    mean: np.ndarray
    scale: np.ndarray
    weights: np.ndarray
    cv_accuracy: float | None = None
    cv_folds: int = 0
    cv_per_style: dict[str, float] = field(default_factory=dict)
    n_train: dict[str, int] = field(default_factory=dict)

    def _matrix(self, items) -> np.ndarray:
        feats = []
        for item in items:
            s = item if isinstance(item, PieceStats) else piece_stats(item)
            feats.append(s.features)
        x = np.array(feats, dtype=np.float64).reshape(len(feats), -1)
        x = np.where(np.isfinite(x), x, self.mean)
        return (x - self.mean) / self.scale

    def predict_proba(self, scores) -> np.ndarray:
        """(N, len(styles)) probabilities for Scores (or PieceStats)."""
        x = self._matrix(list(scores))
        return _softmax(np.hstack([x, np.ones((len(x), 1))]) @ self.weights)

    def predict(self, scores) -> list[str]:
        """Most likely style of each Score (or PieceStats)."""
        scores = list(scores)
        if not scores:
            return []
        return [self.styles[i] for i in self.predict_proba(scores).argmax(axis=1)]

    def to_dict(self) -> dict:
        return {"styles": self.styles, "cv_accuracy": self.cv_accuracy, "cv_folds": self.cv_folds,
                "cv_per_style": self.cv_per_style, "n_reference": self.n_train}


def _fit(stats: list[PieceStats], y: np.ndarray, styles: list[str], l2: float, iterations: int) -> StyleClassifier:
    x = np.array([s.features for s in stats], dtype=np.float64)
    finite = np.isfinite(x)
    mean = np.where(finite, x, 0.0).sum(axis=0) / np.maximum(finite.sum(axis=0), 1)  # nanmean, 0 if none
    x = np.where(np.isfinite(x), x, mean)
    scale = x.std(axis=0)
    scale = np.where(scale > 1e-9, scale, 1.0)
    w = _fit_logreg((x - mean) / scale, y, len(styles), l2, iterations)
    return StyleClassifier(list(styles), mean, scale, w)


def _cross_validate(stats: list[PieceStats], y: np.ndarray, styles: list[str], k: int, l2: float,
                    iterations: int, seed: int) -> np.ndarray:
    """Out-of-fold predicted class of every piece, stratified k-fold (folds drawn per class)."""
    rng = np.random.default_rng(seed)
    fold = np.zeros(len(y), dtype=np.int64)
    for c in range(len(styles)):
        idx = np.flatnonzero(y == c)
        fold[rng.permutation(idx)] = np.arange(len(idx)) % k
    pred = np.zeros(len(y), dtype=np.int64)
    for f in range(k):
        test = fold == f
        sub = _fit([s for s, t in zip(stats, test) if not t], y[~test], styles, l2, iterations)
        pred[test] = sub.predict_proba([s for s, t in zip(stats, test) if t]).argmax(axis=1)
    return pred


def train_style_classifier(reference_by_style: dict, *, l2: float = 0.03, iterations: int = 400,
                           folds: int = 5, seed: int = 0) -> StyleClassifier:
    """Train on {style: [Score or PieceStats, ...]} (at least 2 styles with pieces).

    `cv_accuracy` is stratified k-fold accuracy with k = min(folds, smallest class size), None
    when a style has fewer than 2 pieces.
    """
    styles = sorted(s for s, items in reference_by_style.items() if len(items))
    if len(styles) < 2:
        raise ComposerError("a style classifier needs reference pieces of at least 2 styles")
    stats, labels = [], []
    for i, s in enumerate(styles):
        for item in reference_by_style[s]:
            stats.append(item if isinstance(item, PieceStats) else piece_stats(item))
            labels.append(i)
    y = np.array(labels, dtype=np.int64)
    counts = np.bincount(y, minlength=len(styles))
    clf = _fit(stats, y, styles, l2, iterations)
    clf.n_train = {s: int(c) for s, c in zip(styles, counts)}
    k = min(folds, int(counts.min()))
    if k >= 2:
        pred = _cross_validate(stats, y, styles, k, l2, iterations, seed)
        clf.cv_accuracy = float((pred == y).mean())
        clf.cv_folds = k
        clf.cv_per_style = {s: float((pred[y == c] == c).mean()) for c, s in enumerate(styles)}
    return clf
