"""What the page can ask the model to do: a registry of actions.

Each Action names what it needs from the page (nothing, a take, or a take with selected bars
and tracks), says whether the loaded model can do it, and turns a request into a Job (checked
at once, so a bad request is a 400 and never a failed job). The page builds its buttons from
GET /api/model's "actions", so a new action is one entry here:

    register(Action("infill", "Infill", needs="bars", available=lambda m: can(m, "infill_batch"),
                    build=build_infill, help="..."))

`build(studio, request)` gets the JSON the page posts: {"action", "take", "selection": {"bars":
[first, last], "tracks": [track indices]}, "params": {...}} and returns a Job whose `run` makes
the takes.
"""

from __future__ import annotations

import math
import secrets
from collections.abc import Callable
from dataclasses import dataclass

from ..errors import ComposerError
from ..gm import short_name
from ..score import DRUM_KEY
from .jobs import Job, with_progress

MAX_BARS = 128
MAX_VARIATIONS = 8


@dataclass
class Action:
    name: str
    label: str
    needs: str  # "none", "take", or "bars" (a take with bars picked on the roll; tracks optional)
    help: str
    available: Callable[[object], bool]
    build: Callable[[object, dict], Job]

    def public(self, model) -> dict:
        return {"name": self.name, "label": self.label, "needs": self.needs, "help": self.help,
                "available": bool(self.available(model))}


ACTIONS: dict[str, Action] = {}


def register(action: Action) -> None:
    ACTIONS[action.name] = action


# ---- request parameters -----------------------------------------------------------------

def _number(params: dict, name: str, kind, lo, hi, default):
    value = params.get(name)
    if value is None or value == "":
        return default
    try:
        if isinstance(value, bool):  # true/false is no number
            raise TypeError(name)
        number = kind(value)
    except (TypeError, ValueError, OverflowError):
        raise ComposerError(f"{name}: {value!r} is not a number") from None
    value = number
    if kind is float and not math.isfinite(value):
        raise ComposerError(f"{name}: {value!r} is not a finite number")
    if not lo <= value <= hi:
        raise ComposerError(f"{name}: {value} is out of range ({lo} to {hi})")
    return value


def _params(request: dict) -> dict:
    params = request.get("params")
    if params is None:
        return {}
    if not isinstance(params, dict):
        raise ComposerError("params must be an object")
    return params


def sampling_options(model, params: dict) -> dict:
    """The keyword options of model.generate_batch from the page's form (ComposerError for a
    value the command line would refuse too)."""
    if not isinstance(params, dict):
        raise ComposerError("params must be an object")
    style = params.get("style") or None
    if style is not None and style not in model.styles:
        raise ComposerError(f"unknown style {style!r}; this model knows: {', '.join(model.styles)}")
    meter = params.get("time_signature") or None
    if meter is not None:
        try:
            num, den = (int(x) for x in str(meter).split("/"))
        except ValueError:
            raise ComposerError(f"time signature {meter!r} is not like 4/4 or 6/8") from None
        meter = (num, den)
    instruments = params.get("instruments") or None
    if instruments is not None:
        if not isinstance(instruments, list) or not all(isinstance(i, (str, int)) for i in instruments):
            raise ComposerError("instruments must be a list of names or GM numbers")
        instruments = [str(i) for i in instruments][:16]
    seed = _number(params, "seed", int, 0, 2**32 - 1, None)
    opts = {
        "style": style,
        "bars": _number(params, "bars", int, 1, MAX_BARS, 8),
        "tempo": _number(params, "tempo", float, 20, 400, None),
        "time_signature": meter,
        "instruments": instruments,
        "temperature": _number(params, "temperature", float, 0.01, 5.0, 1.0),
        "top_p": _number(params, "top_p", float, 0.01, 1.0, 0.95),
        "guidance": _number(params, "guidance", float, 0.0, 20.0, None),
        "seed": secrets.randbelow(2**31) if seed is None else seed,
    }
    _check(model, opts)
    return opts


def _check(model, opts: dict) -> None:
    """Refuse at once what generation would refuse later (unknown instrument, bad meter)."""
    from ..generate.options import SamplingOptions, check_options, meter_index

    sampling = SamplingOptions(**opts)
    check_options(sampling)
    if opts["time_signature"] is not None:
        meter_index(model.tokenizer.vocab, opts["time_signature"])
    model.requested(sampling)


def instrument_choices(model, style: str | None) -> list[dict]:
    """The instruments the page offers for a style: {"value" (what to post), "name"}."""
    keys = model.style_plays(style)
    if keys is None and style is None:  # unconditioned: whatever any style plays
        keys = set().union(*(model.style_plays(s) or set() for s in model.styles))
    if not keys:
        return []
    return [{"value": "drums" if k == DRUM_KEY else str(k), "name": short_name(k)} for k in sorted(keys)]


def describe(opts: dict) -> str:
    return f"{opts['style'] or 'free'} · {bar_count(opts['bars'])} · seed {opts['seed']}"


def bar_count(n: int) -> str:
    return f"{n} bar{'s' * (n != 1)}"


def _settings(opts: dict, **extra) -> dict:
    out = {k: v for k, v in opts.items() if k != "primer"}
    if out.get("time_signature"):
        out["time_signature"] = "/".join(map(str, out["time_signature"]))
    return {**out, **extra}


# ---- the actions ------------------------------------------------------------------------

def build_generate(studio, request: dict) -> Job:
    """Generate one take, or N variations at once (params.num_samples)."""
    params = _params(request)
    opts = sampling_options(studio.model, params)
    n = _number(params, "num_samples", int, 1, MAX_VARIATIONS, 1)

    def run(job: Job) -> list[dict]:
        model = with_progress(studio.model, job, opts["style"], opts["guidance"])
        scores = model.generate_batch(**opts, num_samples=n)
        job.check_cancel()
        name = describe(opts)
        return [studio.keep(score, f"{name} ({i}/{n})" if n > 1 else name, "generated",
                            _settings(opts, num_samples=n, sample=i)) for i, score in enumerate(scores, 1)]

    return Job("generate", run, bars_total=opts["bars"] * n)


def build_continue(studio, request: dict) -> Job:
    """The selected take as a primer: its bars, then params.bars new ones."""
    take = studio.store.get(request.get("take"))
    params = _params(request)
    opts = sampling_options(studio.model, params)
    primer = studio.score(take["id"])
    n = _number(params, "num_samples", int, 1, MAX_VARIATIONS, 1)

    def run(job: Job) -> list[dict]:
        model = with_progress(studio.model, job, opts["style"], opts["guidance"])
        scores = model.generate_batch(**opts, primer=primer, num_samples=n)
        job.check_cancel()
        name = f"{take['name']} + {bar_count(opts['bars'])}"
        return [studio.keep(score, f"{name} ({i}/{n})" if n > 1 else name, "continued",
                            _settings(opts, num_samples=n, sample=i, primer=take["id"]))
                for i, score in enumerate(scores, 1)]

    return Job("continue", run, bars_total=opts["bars"] * n)


def can(model, method: str) -> bool:
    """Whether `model` offers infill_batch/arrange_batch and was trained for them (a vocabulary
    with infill tokens)."""
    vocab = getattr(getattr(model, "tokenizer", None), "vocab", None)
    return hasattr(model, method) and bool(getattr(vocab, "infill", False))


def _fill_options(model, params: dict, *keep: str) -> dict:
    """The sampling options infill and arrange take (the form's other fields do not apply)."""
    opts = sampling_options(model, {k: v for k, v in params.items() if k != "bars"})
    return {k: v for k, v in opts.items() if k in ("style", "temperature", "top_p", "guidance", "seed", *keep)}


def _selected_tracks(request: dict, score) -> list[str]:
    """The tracks picked on the roll (indices into the take's tracks) as `#N` names."""
    tracks = (request.get("selection") or {}).get("tracks") or []
    if not isinstance(tracks, list) or not all(isinstance(i, int) and 0 <= i < len(score.tracks) for i in tracks):
        raise ComposerError(f"selection: tracks must be numbers from 0 to {len(score.tracks) - 1}")
    return [f"#{i + 1}" for i in sorted(set(tracks))]


def _selected_bars(request: dict) -> list[int]:
    bars = (request.get("selection") or {}).get("bars")
    if not (isinstance(bars, list) and len(bars) == 2 and all(isinstance(b, int) and b >= 0 for b in bars)
            and bars[0] <= bars[1]):
        raise ComposerError("select the bars to rewrite on the roll (click a bar number; shift-click for a range)")
    return list(range(bars[0], bars[1] + 1))


def build_infill(studio, request: dict) -> Job:
    """The selected bars of the open take rewritten (only the selected tracks, if any)."""
    take = studio.store.get(request.get("take"))
    params = _params(request)
    score = studio.score(take["id"])
    bars, tracks = _selected_bars(request), _selected_tracks(request, score)
    opts = _fill_options(studio.model, params)
    n = _number(params, "num_samples", int, 1, MAX_VARIATIONS, 1)

    def run(job: Job) -> list[dict]:
        model = with_progress(studio.model, job, opts["style"], opts["guidance"])
        scores = model.infill_batch(score, bars, tracks or None, where=take["name"], num_samples=n, **opts)
        job.check_cancel()
        what = f"bar {bars[0] + 1}" if len(bars) == 1 else f"bars {bars[0] + 1}-{bars[-1] + 1}"
        name = f"{take['name']}, {what} rewritten"
        return [studio.keep(s, f"{name} ({i}/{n})" if n > 1 else name, "infilled",
                            _settings(opts, num_samples=n, sample=i, source=take["id"], bars=[bars[0], bars[-1]],
                                      tracks=tracks))
                for i, s in enumerate(scores, 1)]

    return Job("infill", run)


def build_arrange(studio, request: dict) -> Job:
    """The open take with accompaniment in the chosen style (with tracks selected: those
    tracks written anew against the others)."""
    take = studio.store.get(request.get("take"))
    params = _params(request)
    score = studio.score(take["id"])
    tracks = _selected_tracks(request, score)
    opts = _fill_options(studio.model, params, *(() if tracks else ("instruments",)))
    if opts["style"] is None:
        raise ComposerError("arrange: choose a style (the accompaniment's)")
    if params.get("temperature") in (None, ""):  # the form's field left empty: arrange's own
        from ..generate.options import ARRANGE_TEMPERATURE
        opts["temperature"] = ARRANGE_TEMPERATURE
    n = _number(params, "num_samples", int, 1, MAX_VARIATIONS, 1)

    def run(job: Job) -> list[dict]:
        model = with_progress(studio.model, job, opts["style"], opts["guidance"])
        scores = model.arrange_batch(score, replace_tracks=tracks or None, where=take["name"], num_samples=n,
                                     **opts)
        job.check_cancel()
        name = f"{take['name']}, arranged ({opts['style']})"
        return [studio.keep(s, f"{name} ({i}/{n})" if n > 1 else name, "arranged",
                            _settings(opts, num_samples=n, sample=i, source=take["id"], tracks=tracks))
                for i, s in enumerate(scores, 1)]

    return Job("arrange", run)


register(Action("generate", "Generate", "none", "a new take with the settings on the left",
                lambda m: True, build_generate))
register(Action("continue", "Continue", "take", "the open take, then new bars after it",
                lambda m: True, build_continue))
# composer.generate's infill and arrange (ComposerModel.infill_batch, arrange_batch): offered
# where the loaded model has them and was trained with infill tokens
register(Action("infill", "Infill", "bars", "rewrite the selected bars (of the selected tracks, or of all)",
                lambda m: can(m, "infill_batch"), build_infill))
register(Action("arrange", "Arrange", "take",
                "accompany the open take in the style on the left (tracks selected: write those anew)",
                lambda m: can(m, "arrange_batch"), build_arrange))
