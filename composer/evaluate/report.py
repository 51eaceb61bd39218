"""Evaluating folders and sets of pieces: loading, the comparison, JSON, plots and the text report.

    result = evaluate_dirs("out/generated", "data/corpus", out_json="eval.json", plots_dir="eval")
    print(format_report(result))

What is compared is defined in metrics.py (per piece), overlap.py (per set) and classifier.py
(the style classifier); matplotlib is imported only when plots are asked for.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, write_text_atomic
from ..errors import ComposerError, ScoreError
from ..score import Score
from .classifier import train_style_classifier
from .metrics import DISTRIBUTIONS, GRID, PieceStats, piece_stats
from .overlap import compare_stats

# ============================================================================ sets


def _load_all(items, label: str) -> tuple[list[PieceStats], list[dict]]:
    """PieceStats of Scores and/or paths; unreadable or empty files are skipped with a reason."""
    from ..load import load_score

    stats, skipped = [], []
    for i, item in enumerate(items):
        if isinstance(item, Score):
            name = f"{label}[{i}]"
            score = item
        else:
            name = str(item)
            try:
                score = load_score(item)
            except ScoreError as e:
                skipped.append({"path": name, "reason": e.reason})
                continue
            except OSError as e:
                skipped.append({"path": name, "reason": f"cannot read file ({e.strerror or e})"})
                continue
            except Exception as e:  # a corrupt file must not end the evaluation
                skipped.append({"path": name, "reason": f"internal error: {type(e).__name__}: {e}"})
                continue
        if score.note_count == 0:
            skipped.append({"path": name, "reason": "no notes"})
            continue
        stats.append(piece_stats(score, name))
    return stats, skipped


def evaluate_sets(generated, reference) -> dict:
    """Compare two sets of pieces (each a list of Scores and/or file paths).

    Returns {"n_generated", "n_reference", "metrics": {name: {"label", "generated": {mean, std, n},
    "reference": {...}, "oa"}}, "distributions": {name: {"label", "bins", "generated", "reference",
    "n_generated", "n_reference", "oa"}}, "skipped": [{"path", "reason"}]}. NaN = not computable.
    """
    g, sg = _load_all(generated, "generated")
    r, sr = _load_all(reference, "reference")
    return {**compare_stats(g, r), "skipped": sg + sr}


# ============================================================================ folders


def _safe_name(style: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", style).strip("._") or "style"


def _by_style(stats: list[PieceStats], labels: list[str | None]) -> dict[str | None, list[PieceStats]]:
    out: dict[str | None, list[PieceStats]] = {}
    for s, lab in zip(stats, labels):
        out.setdefault(lab, []).append(s)
    return out


def _discover_load(root, style, role: str):
    from ..corpus import discover

    found = discover(root, style)
    if not found.files:
        raise ComposerError(f"{root}: no music files found ({role})")
    stats, labels, skipped = [], [], []
    for path, label in found.files:
        got, skip = _load_all([path], role)
        stats += got
        labels += [label] * len(got)
        skipped += [{**s, "set": role} for s in skip]
    return stats, labels, skipped, [f"{role}: {w}" for w in found.warnings]


def _classify_generated(reference_by_style: dict, gen_by: dict, warnings: list[str]) -> dict:
    """Train the style classifier on the references; how it classifies each generated style."""
    clf = train_style_classifier(reference_by_style)
    info = clf.to_dict()
    per_style, right, total = {}, 0, 0
    for s in sorted(gen_by, key=lambda k: (k is None, k or "")):
        pred = clf.predict(gen_by[s])
        counts = {p: pred.count(p) for p in clf.styles if pred.count(p)}
        entry = {"n": len(pred), "predicted": counts}
        if s is not None and s in clf.styles:
            hit = sum(p == s for p in pred)
            entry["accuracy"] = hit / len(pred)
            right, total = right + hit, total + len(pred)
        else:
            entry["accuracy"] = None
        per_style["(no style)" if s is None else s] = entry
    info["per_style"] = per_style
    info["generated_accuracy"] = right / total if total else None
    info["n_generated_scored"] = total
    if total == 0:
        warnings.append("no generated piece has a style the classifier knows: no classifier accuracy "
                        "(put generated files in style sub-folders or pass style)")
    return info


def _plot_all(result: dict, plots_dir: Path, overwrite: bool) -> list[str]:
    """One PNG for all styles together and one per generated style; their paths."""
    paths = [plot_distributions(result["overall"], plots_dir / "distributions.png", title="all styles",
                                overwrite=overwrite)]
    for s, res in result["styles"].items():
        paths.append(plot_distributions(res, plots_dir / f"distributions_{_safe_name(s)}.png", title=s,
                                        overwrite=overwrite))
    return [str(p) for p in paths]


def evaluate_dirs(generated_dir, reference_dir, style: str | None = None, out_json=None,
                  plots_dir=None, overwrite: bool = True) -> dict:
    """Evaluate the music files under `generated_dir` against those under `reference_dir`.

    Styles come from the first sub-folder of each root (`root/<style>/...`); with `style`, every
    generated file is of that style (the generated folder may be flat). Returns {"overall":
    evaluate_sets-like result for everything, "styles": {style: result against the references of
    that style (or all references, "reference_style": None, when there are none)}, "classifier":
    {cv_accuracy, generated_accuracy, per_style: {style: {n, accuracy, predicted}}, ...} or None,
    "skipped", "warnings", "plots", ...}. Writes it as JSON to `out_json` (atomically) and one PNG
    of the four distributions per comparison into `plots_dir`, when given (overwrite=False: none
    of those files may exist yet; WriteError if one does).
    """
    gen, gen_labels, gen_skip, gen_warn = _discover_load(generated_dir, style, "generated")
    ref, ref_labels, ref_skip, ref_warn = _discover_load(reference_dir, None, "reference")
    warnings = gen_warn + ref_warn
    if not gen:
        raise ComposerError(f"{generated_dir}: no usable generated pieces ({len(gen_skip)} skipped)")
    if not ref:
        raise ComposerError(f"{reference_dir}: no usable reference pieces ({len(ref_skip)} skipped)")
    ref_by = {k: v for k, v in _by_style(ref, ref_labels).items() if k is not None}
    gen_by = _by_style(gen, gen_labels)

    result: dict = {
        "generated_dir": str(generated_dir), "reference_dir": str(reference_dir), "style": style,
        "grid_per_quarter": GRID, "n_generated": len(gen), "n_reference": len(ref),
        "overall": compare_stats(gen, ref), "styles": {}, "classifier": None,
        "skipped": gen_skip + ref_skip, "warnings": warnings, "plots": [],
    }
    for s in sorted(k for k in gen_by if k is not None):
        if s in ref_by:
            result["styles"][s] = {**compare_stats(gen_by[s], ref_by[s]), "reference_style": s}
        else:
            warnings.append(f"no reference pieces of style {s!r}: compared with all references")
            result["styles"][s] = {**compare_stats(gen_by[s], ref), "reference_style": None}

    trainable = {k: v for k, v in ref_by.items() if len(v)}
    if len(trainable) >= 2:
        result["classifier"] = _classify_generated(trainable, gen_by, warnings)
    elif ref_by:
        warnings.append("the reference has fewer than 2 styles: no style classifier")

    if plots_dir is not None:
        result["plots"] = _plot_all(result, Path(plots_dir), overwrite)
    if out_json is not None:
        write_json(result, out_json, overwrite=overwrite)
    return result


# ============================================================================ output


def _clean(obj):
    """JSON-safe copy: NaN/inf -> None, numpy scalars/arrays -> Python."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    if isinstance(obj, np.ndarray):
        return _clean(obj.tolist())
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        f = float(obj)
        return f if math.isfinite(f) else None
    return obj


def write_json(result: dict, path, overwrite: bool = True) -> Path:
    """Write an evaluation result as JSON, atomically; NaN becomes null."""
    path = Path(path)
    write_text_atomic(path, json.dumps(_clean(result), indent=1, allow_nan=False) + "\n", overwrite=overwrite)
    return path


def plot_distributions(result: dict, path, title: str = "", overwrite: bool = True) -> Path:
    """A 2x2 PNG of the four distributions of a comparison result, generated vs reference."""
    try:
        from matplotlib.figure import Figure  # no pyplot: no global state, no display needed
    except ImportError:
        raise ComposerError("plots need matplotlib (pip install 'composer[plots]')") from None

    fig = Figure(figsize=(12, 8), dpi=90)
    axes = fig.subplots(2, 2).ravel()
    for ax, (key, label, _) in zip(axes, DISTRIBUTIONS):
        d = result["distributions"][key]
        x = np.arange(len(d["bins"]))
        ax.bar(x - 0.2, d["reference"], width=0.4, label=f"reference (n={d['n_reference']})", color="#4c72b0")
        ax.bar(x + 0.2, d["generated"], width=0.4, label=f"generated (n={d['n_generated']})", color="#dd8452")
        ax.set_xticks(x)
        ax.set_xticklabels(d["bins"], rotation=90 if len(x) > 12 else 0, fontsize=8)
        oa = d["oa"]
        ax.set_title(f"{label}  OA={'n/a' if oa is None or not math.isfinite(oa) else f'{oa:.3f}'}", fontsize=10)
        ax.set_ylabel("share")
        ax.legend(fontsize=8)
    fig.suptitle(f"generated vs reference: {title}" if title else "generated vs reference")
    fig.tight_layout()
    path = Path(path)
    with atomic_path(path, overwrite=overwrite) as tmp:
        fig.savefig(tmp, format="png")
    return path


def _fmt(x, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{digits}f}"


def _pct(x) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _table(res: dict) -> list[str]:
    rows = [("metric", "generated", "reference", "OA")]
    for key, m in res["metrics"].items():
        g, r = m["generated"], m["reference"]
        rows.append((m["label"], f"{_fmt(g['mean'])} ± {_fmt(g['std'])}", f"{_fmt(r['mean'])} ± {_fmt(r['std'])}",
                     _fmt(m["oa"])))
    rows.append(("", "", "", ""))
    for key, d in res["distributions"].items():
        rows.append((f"OA {d['label']}", "", "", _fmt(d["oa"])))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    out = []
    for i, r in enumerate(rows):
        out.append("  ".join([r[0].ljust(widths[0])] + [c.rjust(w) for c, w in zip(r[1:], widths[1:])]).rstrip())
        if i == 0:
            out.append("  ".join("-" * w for w in widths))
    return out


def format_report(result: dict) -> str:
    """A terminal report of an evaluate_sets or evaluate_dirs result."""
    lines = []
    if "overall" in result:
        sections = [("all styles", result["overall"])] + [
            (f"style {s}" + ("" if r.get("reference_style") else " (vs all references)"), r)
            for s, r in result["styles"].items()]
        if len(sections) == 2 and sections[1][1]["n_generated"] == result["overall"]["n_generated"] \
                and sections[1][1]["n_reference"] == result["overall"]["n_reference"]:
            sections = sections[1:]
    else:
        sections = [("", result)]
    for name, res in sections:
        head = f"{name}: " if name else ""
        lines.append(f"{head}{res['n_generated']} generated vs {res['n_reference']} reference pieces")
        lines += _table(res)
        lines.append("")
    clf = result.get("classifier")
    if clf:
        lines.append(f"style classifier ({', '.join(clf['styles'])}; "
                     f"{sum(clf['n_reference'].values())} reference pieces)")
        folds = f" ({clf['cv_folds']}-fold)" if clf.get("cv_folds") else ""
        lines.append(f"  reference cross-validated accuracy{folds}: {_pct(clf['cv_accuracy'])}   (ceiling)")
        lines.append(f"  generated classified as their style: {_pct(clf.get('generated_accuracy'))}"
                     f" of {clf.get('n_generated_scored', 0)}")
        for s, e in clf.get("per_style", {}).items():
            pred = ", ".join(f"{k} {v}" for k, v in sorted(e["predicted"].items(), key=lambda kv: -kv[1]))
            cv = clf["cv_per_style"].get(s)
            cv_txt = f", reference CV {_pct(cv)}" if cv is not None else ""
            lines.append(f"    {s}: {_pct(e['accuracy'])} of {e['n']}{cv_txt}; predicted: {pred}")
    skipped = result.get("skipped", [])
    if skipped:
        lines.append(f"skipped {len(skipped)} file{'s' if len(skipped) != 1 else ''}:")
        lines += [f"  {s['path']}: {s['reason']}" for s in skipped]
    lines += [f"warning: {w}" for w in result.get("warnings", [])]
    if result.get("plots"):
        lines.append(f"plots: {', '.join(result['plots'])}")
    return "\n".join(lines).rstrip() + "\n"
