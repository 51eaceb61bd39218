"""The `compose` command line (installed as `compose`; `python cli.py` in a checkout).

Every error is one line on stderr, and every command ends with the same exit codes:

    0    done
    1    the work failed (a write that fails midway: disk full, another process took the path)
    2    bad usage or bad input: an unknown option value, an unreadable or corrupt input file,
         an unknown style or instrument, a destination that exists (without --force), is a
         folder, or cannot be written; checked before any work, and nothing is written
    130  interrupted (Ctrl-C)

Commands that need no model never import torch, so they start fast.

Why one module of ~460 lines: it is the click declarations of seven commands (most of its
lines are options and their help, which the README's command tables mirror) plus the shared
checks every command runs before its work; the work itself is in the library.
"""

from __future__ import annotations

import math
import os
import sys
import tempfile
from pathlib import Path

import click

from . import __version__
from .errors import ComposerError, RuntimeFailure


class ComposeGroup(click.Group):
    """A click group whose errors are one line (`error: ...`) instead of a usage dump."""

    def main(self, args=None, prog_name=None, **kwargs):
        try:
            rv = super().main(args=args, prog_name=prog_name or "compose", standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:  # click's form of Ctrl-C (KeyboardInterrupt)
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            hint = f" (see 'compose {e.ctx.command_path.split(' ', 1)[1]} --help')" if e.ctx and " " in e.ctx.command_path else ""
            click.echo(f"error: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(2)
        except click.ClickException as e:
            click.echo(f"error: {_one_line(e.format_message())}", err=True)
            sys.exit(2)
        except ComposerError as e:
            click.echo(f"error: {_one_line(str(e))}", err=True)
            sys.exit(e.exit_code)
        except OSError as e:  # a file operation nothing above foresaw: still one line
            where = f"{e.filename}: " if e.filename else ""
            click.echo(f"error: {where}{_one_line(e.strerror or str(e))}", err=True)
            sys.exit(RuntimeFailure.exit_code)
        except KeyboardInterrupt:
            click.echo("error: interrupted", err=True)
            sys.exit(130)
        sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split())


@click.group(cls=ComposeGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="compose")
def cli():
    """composer: point it at MIDI files, get new music back as MIDI."""


class FiniteFloatRange(click.FloatRange):
    """click.FloatRange that also refuses nan and inf (which pass its comparisons)."""

    def convert(self, value, param, ctx):
        rv = super().convert(value, param, ctx)
        if not math.isfinite(rv):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return rv


class PathArg(click.Path):
    """click.Path that refuses an empty name (click would read it as '.', the current folder)."""

    def __init__(self, **kwargs):
        super().__init__(path_type=Path, **kwargs)

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail("an empty name is not a path", param, ctx)
        return super().convert(value, param, ctx)


# ---- destinations: checked before any work, so a refusal costs nothing and writes nothing

def _check_output(path: Path, force: bool, inputs=()) -> None:
    """A file to write: not a folder, not an input, not existing (unless force), in a folder
    that exists or can be made and can be written."""
    if path.is_dir():
        raise ComposerError(f"{path}: is a folder; give a file name")
    if any(path.resolve() == Path(i).resolve() for i in inputs):
        raise ComposerError(f"{path}: output would overwrite an input file")
    if path.exists() and not force:
        raise ComposerError(f"{path}: already exists (use --force to overwrite)")
    _check_folder(path.parent, path)


def _check_folder(folder: Path, target: Path | None = None) -> None:
    """A folder to write in (for `target`, named in the message): it, or the nearest folder above
    it that exists, can be written."""
    name = target or folder
    base = Path(os.path.abspath(folder))
    while not base.exists():
        base = base.parent
    if not base.is_dir():
        raise ComposerError(f"{name}: {'is' if base == Path(os.path.abspath(name)) else f'{base} is'} "
                            "a file, not a folder")
    try:
        tempfile.TemporaryFile(dir=base).close()  # the real test: ACLs, read-only mounts, root
    except OSError as e:
        raise ComposerError(f"{name}: cannot write in {base} ({e.strerror or e})") from None


@cli.command()
@click.argument("file", type=PathArg(dir_okay=False))
def inspect(file: Path):
    """Show a music file's tracks, tempo map, meters, length and token count."""
    from .gm import program_name
    from .load import load_score
    from .score import ticks_to_seconds
    from .tokenizer import Tokenizer
    from .vocab import BAR

    score = load_score(file)
    tokens = Tokenizer().encode(score)
    tpq = score.tpq
    click.echo(f"{file}")
    click.echo(f"  resolution: {tpq} ticks per quarter")
    click.echo(f"  tracks: {len(score.tracks)}")
    for i, t in enumerate(score.tracks, 1):
        instrument = "drums (channel 10)" if t.is_drum else f"program {t.program} ({program_name(t.program)})"
        pitches = f"pitches {t.notes[:, 2].min()}-{t.notes[:, 2].max()}" if len(t.notes) else "empty"
        click.echo(f"    {i:2d}. {t.name or '(unnamed)':<24} {instrument:<40} {len(t.notes):6d} notes, {pitches}")
    click.echo("  tempo map: " + (", ".join(
        f"{q:.1f} bpm @ {t / tpq:g}q" for t, q in score.tempos[:8]) or "none (120 bpm)")
        + (f" (+{len(score.tempos) - 8} more)" if len(score.tempos) > 8 else ""))
    click.echo("  time signatures: " + (", ".join(
        f"{n}/{d} @ {t / tpq:g}q" for t, n, d in score.time_signatures[:8]) or "none (4/4)")
        + (f" (+{len(score.time_signatures) - 8} more)" if len(score.time_signatures) > 8 else ""))
    end = max(score.end, score.notes_end())
    click.echo(f"  length: {int((tokens == BAR).sum())} bars, {ticks_to_seconds(score, end):.1f} s")
    click.echo(f"  notes: {score.note_count}; tokens: {len(tokens)}")


@cli.command()
@click.argument("input_file", metavar="IN", type=PathArg(dir_okay=False))
@click.option("-o", "--output", type=PathArg(dir_okay=False), required=True,
              help="MIDI file to write.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def roundtrip(input_file: Path, output: Path, force: bool):
    """Encode IN to tokens and decode back to OUT.mid: exactly what a model sees of IN."""
    from .load import load_score
    from .midi_io import write_midi
    from .tokenizer import Tokenizer

    _check_output(output, force, [input_file])
    score = load_score(input_file)
    tok = Tokenizer()
    tokens = tok.encode(score)
    back = tok.decode(tokens)
    write_midi(back, output, title=input_file.stem, overwrite=force)
    click.echo(f"wrote {output}: {back.note_count} of {score.note_count} notes kept, "
               f"{len(back.tracks)} tracks, {len(tokens)} tokens")


@cli.command()
@click.argument("corpus", nargs=-1, required=True, type=PathArg())
@click.option("-o", "--output", "cache_dir", type=PathArg(file_okay=False), required=True,
              help="Cache folder for the token files and index.json.")
@click.option("--style", default=None, help="Style label for every file (a flat folder).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Processes (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tokenize(corpus, cache_dir: Path, style, workers, quiet):
    """Tokenise a corpus (style = first sub-folder) into CACHE_DIR, reusing cached files."""
    from .corpus import tokenize_corpus
    from .tokenizer import Tokenizer

    _check_folder(cache_dir)
    summary = tokenize_corpus(list(corpus), cache_dir, Tokenizer(), style=style, workers=workers,
                              progress=not quiet)
    click.echo(summary.format())
    if not summary.used:
        raise ComposerError(f"{', '.join(map(str, corpus))}: no usable music files")


@cli.command()
@click.argument("corpus", nargs=-1, required=True, type=PathArg())
@click.option("-o", "--out", "out_dir", metavar="RUN_DIR", required=True,
              type=PathArg(file_okay=False),
              help="Run folder: best model, config, checkpoints, metrics, loss curve.")
@click.option("--arch", type=click.Choice(["transformer", "lstm"]), default="transformer", show_default=True,
              help="Model architecture.")
@click.option("--size", type=click.Choice(["tiny", "small", "base"]), default="small", show_default=True,
              help="Model size preset.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimizer steps  [default: 2000].")
@click.option("--epochs", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Passes over the training tokens, instead of --steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True,
              help="Windows per step, over all ranks under torchrun (the global batch).")
@click.option("--grad-accum", type=click.IntRange(min=1), default=1, show_default=True,
              help="Micro-steps a step (gradient accumulation): each rank runs batch/(ranks x N) windows at a time.")
@click.option("--context", type=click.IntRange(min=8), default=1024, show_default=True, help="Tokens per window.")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate  [default: 1e-3; 3e-4 with --from].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True,
              help="auto picks cuda, then mps, then cpu.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initialisation and data stream.")
@click.option("--style", default=None, help="Style label for every file (a flat folder).")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR from its last checkpoint (same data split).")
@click.option("--val-fraction", type=FiniteFloatRange(0, 1, max_open=True), default=0.05, show_default=True,
              help="Share of files held out for validation.")
@click.option("--from", "init_from", metavar="RUN_DIR|default", default=None,
              help="Fine-tune a trained model (or the bundled one); new styles are added to it.")
@click.option("--replay", type=FiniteFloatRange(0, 1, max_open=True), default=0.5, show_default=True,
              help="With --from: share of each batch rehearsed from the base model's own windows, so its styles stay.")
@click.option("--keep-key", type=FiniteFloatRange(0, 1), default=0.5, show_default=True,
              help="Share of training windows left in their own key; the rest are transposed up to ±6 semitones.")
@click.option("--infill", type=FiniteFloatRange(0, 1), default=0.5, show_default=True,
              help="Share of windows with bars or instruments hidden and written after the piece "
                   "(what compose infill / arrange need); 0: plain continuation only.")
@click.option("--eval-every", type=click.IntRange(min=1), default=200, show_default=True,
              help="Steps between validation runs and checkpoints.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Tokenising processes (default: all cores).")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model (pays off on GPUs).")
@click.option("--threads", type=click.IntRange(1, 256), default=None,
              help="CPU threads of torch and numpy's BLAS [default: torch's choice, one per core].")
@click.option("--quiet", is_flag=True, help="No progress bar or per-evaluation lines.")
@click.pass_context
def train(ctx, corpus, out_dir: Path, arch, size, steps, epochs, batch_size, grad_accum, context, lr, device, seed,
          style, resume, val_fraction, init_from, replay, keep_key, infill, eval_every, workers, compile_model, threads,
          quiet):
    """Train a model on CORPUS (style = first sub-folder) into RUN_DIR.

    Ctrl-C saves a checkpoint; --resume continues from it. The best model by validation
    loss is RUN_DIR/model.safetensors. On several processes: torchrun --nproc_per_node=N -m
    composer train ... (rank 0 writes RUN_DIR).
    """
    if steps is not None and epochs is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    if resume and init_from is not None:
        raise click.UsageError("--from cannot be combined with --resume")
    from .device import pick_device
    from .threads import set_threads
    from .training import TrainConfig
    from .training import train as run_training

    _check_folder(out_dir)
    pick_device(device)  # refuse a missing device before tokenising
    set_threads(threads, default=None)
    cfg = TrainConfig(arch=arch, size=size, steps=steps, epochs=epochs, batch_size=batch_size, context=context,
                      lr=lr, device=device, seed=seed, val_fraction=val_fraction, eval_every=eval_every,
                      compile=compile_model, workers=workers, replay=replay, keep_key=keep_key,
                      infill=infill, grad_accum=grad_accum)
    summary = run_training(list(corpus), out_dir, cfg, style=style, resume=resume, init_from=init_from,
                           progress=not quiet)
    if summary["interrupted"]:
        ctx.exit(130)


def _instrument_list(text):
    return [s.strip() for s in text.split(",") if s.strip()] if text else None


def _time_signature(text):
    if text is None:
        return None
    try:
        num, den = (int(x) for x in text.split("/"))
        return num, den
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a time signature like 4/4 or 6/8") from None


def _checked_outputs(output: Path, n: int, force: bool, inputs, audio: bool = False) -> list[Path]:
    """The files a sampling command writes (_sample_paths), each checked before any work (and
    its .wav beside it, with audio)."""
    outputs = _sample_paths(output, n)
    for path in outputs:
        _check_output(path, force, inputs)
        if audio:
            _check_output(path.with_suffix(".wav"), force, inputs)
    return outputs


def _sample_paths(output: Path, n: int) -> list[Path]:
    """-o and --num-samples -> the files: OUT itself for one piece; for more, OUT_01.mid ... beside
    OUT.mid (or .midi), or FOLDER/out_01.mid ... for a name without that suffix."""
    if n == 1:
        return [output]
    width = max(2, len(str(n)))
    if output.suffix.lower() in (".mid", ".midi"):
        return [output.with_name(f"{output.stem}_{i:0{width}d}{output.suffix}") for i in range(1, n + 1)]
    return [output / f"out_{i:0{width}d}.mid" for i in range(1, n + 1)]


def sampling_options(f=None, *, temperature: float | None = 1.0, temperature_help: str | None = None):
    """The options every command that samples shares (generate, infill, arrange); `temperature`:
    the command's default (None: the API's, which `temperature_help` then names)."""
    if f is None:
        return lambda g: sampling_options(g, temperature=temperature, temperature_help=temperature_help)
    options = [
        click.option("--model", "model_path", default="default", show_default=True,
                     help="Run directory from 'compose train', or 'default' for the bundled model."),
        click.option("--temperature", type=FiniteFloatRange(min=0.01), default=temperature,
                     show_default=temperature is not None, help=temperature_help),
        click.option("--top-k", type=click.IntRange(0), default=0, show_default=True, help="0 = off."),
        click.option("--top-p", type=FiniteFloatRange(0.01, 1.0), default=0.95, show_default=True),
        click.option("--guidance", type=FiniteFloatRange(0.0, 20.0), default=None,
                     help="Classifier-free guidance: > 1 makes the style stronger, 1 is off "
                          "[default: the model's choice for the style, see 'compose styles']."),
        click.option("--seed", type=int, default=0, show_default=True, help="Same seed + same model = same file."),
        click.option("--num-samples", type=click.IntRange(1, 256), default=1, show_default=True),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="cpu",
                     show_default=True, help="auto picks cuda, then mps, then cpu."),
        click.option("--threads", type=click.IntRange(1, 256), default=None,
                     help="CPU threads of numpy's BLAS and torch [default: 1, fastest for token-by-token "
                          "decoding; OMP_NUM_THREADS/OPENBLAS_NUM_THREADS if set]."),
        click.option("--keep-drum-timing", is_flag=True,
                     help="Keep the drummer's pushes and drags just off the beats in what is written (by "
                          "default they go onto the beat: MuseScore reads such files as live performances "
                          "and guesses its own tempo)."),
        click.option("--force", is_flag=True, help="Overwrite existing output files."),
    ]
    for option in reversed(options):
        f = option(f)
    return f


def _sampler(model_path, device, threads, style):
    """The model for a sampling command, on its device and threads, with `style` checked."""
    from .device import pick_device
    from .generate import load_model
    from .threads import set_threads

    model = load_model(None if model_path == "default" else model_path, device=pick_device(device))
    set_threads(threads, default=1)
    if style is not None and style not in model.styles:
        raise click.UsageError(f"unknown style {style!r}; this model knows: {', '.join(model.styles)}")
    return model


@cli.command()
@click.option("--style", default=None, help="Style to generate (see 'compose styles'); none = unconditioned.")
@click.option("-o", "--output", type=PathArg(), required=True,
              help="MIDI file to write. With --num-samples N: OUT.mid means OUT_01.mid ... OUT_NN.mid "
                   "beside it; a name without .mid/.midi is a folder, holding out_01.mid ... out_NN.mid.")
@click.option("--bars", type=click.IntRange(1, 512), default=16, show_default=True)
@click.option("--tempo", type=FiniteFloatRange(20, 400), default=None, help="Beats per minute (default: the model's choice).")
@click.option("--time-signature", "time_signature", default=None, help="e.g. 4/4, 3/4, 6/8 (default: the model's choice).")
@click.option("--instruments", default=None,
              help="Comma-separated names or GM numbers, e.g. piano,bass,drums: only these play, and each "
                   "of them does (one the style's corpus never plays is brought in all the same) "
                   "[default: the instruments the style's corpus plays].")
@click.option("--primer", type=PathArg(dir_okay=False), default=None,
              help="A MIDI (or MusicXML/ABC) sketch to continue: its tracks, notes, names, tempo and meter "
                   "are kept exactly; --tempo and --time-signature then apply to the new bars.")
@click.option("--tempo-changes", is_flag=True,
              help="Let the model change the tempo during the piece (by default it holds).")
@click.option("--guidance-bars", type=click.IntRange(0), default=None,
              help="Guidance steers this many opening bars, then the piece goes on from them unguided "
                   "(twice as fast a token); 0 = the whole piece [default: the model's choice for the style].")
@click.option("--render", "render_audio", is_flag=True,
              help="Also write each piece as audio, OUT.wav beside OUT.mid (FluidSynth, as compose render).")
@sampling_options
def generate(style, model_path, output: Path, bars, tempo, time_signature, instruments, primer, tempo_changes,
             temperature, top_k, top_p, guidance, guidance_bars, seed, num_samples, device, threads,
             render_audio, keep_drum_timing, force):
    """Generate new music as MIDI in a style."""
    ts = _time_signature(time_signature)
    outputs = _checked_outputs(output, num_samples, force, [primer] if primer else [], audio=render_audio)
    if render_audio:
        from .studio.export import check_render
        check_render()  # FluidSynth is there, before any work
    primer_score = None
    if primer is not None:
        from .load import load_score
        primer_score = load_score(primer, channels=True)

    from .gm import track_names

    model = _sampler(model_path, device, threads, style)
    scores = model.generate_batch(style=style, bars=bars, tempo=tempo, time_signature=ts,
                                  instruments=_instrument_list(instruments), primer=primer_score,
                                  temperature=temperature, top_k=top_k, top_p=top_p, guidance=guidance,
                                  guidance_bars=guidance_bars,
                                  seed=seed, num_samples=num_samples, keep_drum_timing=keep_drum_timing,
                                  tempo_changes=tempo_changes)
    if primer_score is not None:
        from .generate.primer import primer_bars
        head = f"{primer_bars(model.tokenizer, primer_score)} primer bars + {bars} new bars, "
    for path, score in zip(outputs, scores):
        model.save(score, path, title=f"composer {style or 'piece'}", overwrite=force)
        if render_audio:
            from .studio.export import render_wav
            render_wav(score, path.with_suffix(".wav"), overwrite=force)
        names = ", ".join(track_names([t.key for t in score.tracks], [t.name for t in score.tracks])) or "no notes"
        if primer_score is None:
            click.echo(f"wrote {path}: {bars} bars, {score.note_count} notes ({names})")
        else:
            new = score.note_count - primer_score.note_count
            click.echo(f"wrote {path}: {head}{primer_score.note_count} primer notes + {new} new notes ({names})")


@cli.command()
@click.argument("song", metavar="SONG", type=PathArg(dir_okay=False))
@click.option("--bars", "bar_spec", required=True,
              help="Bars to write anew, counted from 1: 9-12, or 3,5-6. The model hears the bars before and after.")
@click.option("--tracks", default=None,
              help="Only these tracks, comma-separated: names or #N as 'compose inspect' lists them, or "
                   "instruments (bass, drums, 33) [default: every track].")
@click.option("--style", default=None, help="Style to write in (see 'compose styles'); none = unconditioned.")
@click.option("-o", "--output", type=PathArg(), required=True,
              help="MIDI file to write (with --num-samples N: as for generate).")
@sampling_options
def infill(song, bar_spec, tracks, style, output, model_path, temperature, top_k, top_p, guidance, seed,
           num_samples, device, threads, keep_drum_timing, force):
    """Write bars of SONG anew; every note outside them stays as it is."""
    outputs = _checked_outputs(output, num_samples, force, [song])
    from .load import load_score

    score = load_score(song, channels=True)
    model = _sampler(model_path, device, threads, style)
    names = _instrument_list(tracks)
    results = model.infill_batch(score, bar_spec, names, where=str(song), style=style, temperature=temperature,
                                 top_k=top_k, top_p=top_p, guidance=guidance, seed=seed, num_samples=num_samples,
                                 keep_drum_timing=keep_drum_timing)
    which = ", ".join(names) if names else "every track"
    for path, result in zip(outputs, results):
        model.save(result, path, title=f"{song.stem} (bars {bar_spec} new)", overwrite=force)
        click.echo(f"wrote {path}: bars {bar_spec} written anew ({which}), {result.note_count} notes in all")


@cli.command()
@click.argument("song", metavar="MELODY", type=PathArg(dir_okay=False))
@click.option("--style", required=True, help="Style of the accompaniment (see 'compose styles').")
@click.option("--instruments", default=None,
              help="Tracks to write, comma-separated names or GM numbers [default: the style's band, "
                   "e.g. jazz: piano, jazz guitar, bass, drums].")
@click.option("--replace", "replace_tracks", default=None,
              help="Instead: write these tracks of MELODY anew against all the others (names, #N or instruments).")
@click.option("-o", "--output", type=PathArg(), required=True,
              help="MIDI file to write (with --num-samples N: as for generate).")
@sampling_options(temperature=None,  # the API's ARRANGE_TEMPERATURE (not imported here: it loads the sampler)
                  temperature_help="[default: 0.8: accompaniment a little colder fits its melody better]")
def arrange(song, style, instruments, replace_tracks, output, model_path, temperature, top_k, top_p, guidance,
            seed, num_samples, device, threads, keep_drum_timing, force):
    """Accompany MELODY (one track or a sketch) in a style, keeping its notes; or --replace a track."""
    outputs = _checked_outputs(output, num_samples, force, [song])
    from .gm import track_names
    from .load import load_score

    score = load_score(song, channels=True)
    model = _sampler(model_path, device, threads, style)
    results = model.arrange_batch(score, replace_tracks=_instrument_list(replace_tracks), where=str(song),
                                  style=style, instruments=_instrument_list(instruments), temperature=temperature,
                                  top_k=top_k, top_p=top_p, guidance=guidance, seed=seed, num_samples=num_samples,
                                  keep_drum_timing=keep_drum_timing)
    for path, result in zip(outputs, results):
        model.save(result, path, title=f"{song.stem} ({style})", overwrite=force)
        names = ", ".join(track_names([t.key for t in result.tracks], [t.name for t in result.tracks]))
        click.echo(f"wrote {path}: {len(result.tracks)} tracks ({names}), {result.note_count} notes")


@cli.command()
@click.option("--model", "model_path", default="default", show_default=True,
              help="Run directory from 'compose train', or 'default' for the bundled model.")
def styles(model_path):
    """List the styles a model can generate."""
    from .checkpoint import read_run_config, resolve_run

    run = resolve_run(None if model_path == "default" else model_path)
    config = read_run_config(run)
    counts = config.get("summary", {}).get("corpus", {}).get("styles", {})
    sources = config.get("style_sources", {})
    for name in config.get("styles", []):
        files = counts.get(name, {}).get("files")
        g = config.get("guidance", {}).get(name)
        bars = config.get("guidance_bars", {}).get(name)
        steer = (f"guidance {g:g}" + (f" for the first {bars} bars" if bars else "")) if g and g != 1 else ""
        detail = "; ".join(x for x in (f"{files} pieces" if files else "", sources.get(name, ""), steer) if x)
        click.echo(f"{name:<12} {detail}".rstrip())


@cli.command()
@click.argument("generated_dir", required=False, type=PathArg(file_okay=False))
@click.option("--reference", "reference_dir", type=PathArg(file_okay=False), default=None,
              help="Real pieces to compare with (style sub-folders train the style classifier).")
@click.option("--style", default=None, help="Style of every piece in a flat GENERATED_DIR.")
@click.option("--model", "model_path", default=None,
              help="Instead: validation NLL per style of a run from 'compose train'.")
@click.option("--cache", "cache_dir", type=PathArg(file_okay=False), default=None,
              help="With --model: the run's token cache, if not RUN_DIR/cache.")
@click.option("--json", "json_path", type=PathArg(dir_okay=False), default=None,
              help="Write the full report as JSON (default: GENERATED_DIR/evaluation.json).")
@click.option("--plots", "plots_dir", type=PathArg(file_okay=False), default=None,
              help="Folder for PNG plots (default: GENERATED_DIR/evaluation_plots).")
@click.option("--force", is_flag=True, help="Overwrite an existing JSON report and plots.")
def evaluate(generated_dir, reference_dir, style, model_path, cache_dir, json_path, plots_dir, force):
    """Compare generated music with real music (metrics, overlap, style classifier), or
    report a trained run's validation NLL per style (--model)."""
    if model_path is not None:
        if generated_dir is not None or reference_dir is not None:
            raise click.UsageError("--model reports validation NLL; give either --model or GENERATED_DIR --reference")
        from .checkpoint import resolve_run

        run = resolve_run(model_path)
        if not (run / "state.json").is_file():  # the list of held-out files, written by training
            what = "the bundled model ships without its training files" if model_path == "default" else \
                f"{run} has no state.json"
            raise ComposerError(f"--model {model_path}: no validation split to score ({what}); "
                                f"--model needs a run folder from 'compose train' and its token cache")
        from .training.loop import validation_by_style

        rows = validation_by_style(run, cache_dir=cache_dir)
        click.echo(f"{'style':<12} {'files':>6} {'nats/token':>11} {'bits/note':>10}")
        for name, r in rows.items():
            bits = "-" if r["bits_per_note"] is None else f"{r['bits_per_note']:.3f}"
            click.echo(f"{name:<12} {r['files']:>6} {r['nats_per_token']:>11.4f} {bits:>10}")
        return
    if generated_dir is None or reference_dir is None:
        raise click.UsageError("give GENERATED_DIR and --reference REFERENCE_DIR (or --model RUN_DIR)")
    from .evaluate import evaluate_dirs, format_report

    json_path = json_path or generated_dir / "evaluation.json"
    plots_dir = plots_dir or generated_dir / "evaluation_plots"
    _check_output(json_path, force)
    _check_folder(plots_dir)
    old_plots = sorted(plots_dir.glob("distributions*.png")) if plots_dir.is_dir() else []
    if old_plots and not force:
        raise ComposerError(f"{plots_dir}: already holds plots ({old_plots[0].name}, ...) (use --force to overwrite)")
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise RuntimeFailure("plots need matplotlib (pip install 'composer[plots]')") from None
    result = evaluate_dirs(generated_dir, reference_dir, style=style, out_json=json_path, plots_dir=plots_dir,
                           overwrite=force)
    click.echo(format_report(result))


# ---- the studio (composer/studio/) ---------------------------------------------------------

@cli.command()
@click.option("--model", "model_path", default="default", show_default=True,
              help="Run directory from 'compose train', or 'default' for the bundled model.")
@click.option("--takes", "takes_dir", type=PathArg(file_okay=False), default=None,
              help="Folder of the takes kept (MIDI files and index.json) "
                   "[default: $XDG_DATA_HOME/composer/takes, ~/.local/share/composer/takes].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Interface to listen on; anything but loopback makes the studio reachable from "
                   "other machines (a warning says so).")
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True, help="0 = a free port.")
@click.option("--no-browser", is_flag=True, help="Do not open the page in a browser.")
def studio(model_path, takes_dir, host, port, no_browser):
    """Generate, see, hear and keep takes in a local web page (offline)."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        raise ComposerError("compose studio needs starlette and uvicorn: pip install 'composer[studio]'") from None
    from .generate import load_model
    from .studio.server import default_takes_dir, serve
    from .threads import set_threads

    takes_dir = takes_dir or default_takes_dir()
    _check_folder(takes_dir)
    model = load_model(None if model_path == "default" else model_path)
    set_threads(None, default=1)
    serve(model, takes_dir, host, port, open_browser=not no_browser, echo=lambda m: click.echo(m, err=m.startswith("warning")))


# ---- audio and notation out (composer/studio/export.py) ----------------------------------

@cli.command()
@click.argument("input_file", metavar="IN", type=PathArg(dir_okay=False))
@click.option("-o", "--output", type=PathArg(dir_okay=False), required=True, help="WAV file to write.")
@click.option("--soundfont", type=PathArg(dir_okay=False, exists=True), default=None,
              help="SF2 sound font [default: the General MIDI font pretty_midi ships, TimGM6mb.sf2].")
@click.option("--sample-rate", type=click.IntRange(8000, 192000), default=44100, show_default=True)
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def render(input_file: Path, output: Path, soundfont, sample_rate, force):
    """Render IN (MIDI, MusicXML, ...) to audio (WAV) with FluidSynth."""
    from .load import load_score
    from .studio.export import render_wav

    if output.suffix.lower() != ".wav":
        raise click.BadParameter(f"{output}: give a .wav file name", param_hint="'--output'")
    _check_output(output, force, [input_file])
    seconds = render_wav(load_score(input_file), output, soundfont, sample_rate, overwrite=force)
    click.echo(f"wrote {output}: {seconds:.1f} s at {sample_rate} Hz")


@cli.command()
@click.argument("input_file", metavar="IN", type=PathArg(dir_okay=False))
@click.option("-o", "--output", type=PathArg(dir_okay=False), required=True,
              help="File to write: .musicxml (or .xml) for notation, .png for a piano-roll picture.")
@click.option("--force", is_flag=True, help="Overwrite OUTPUT if it exists.")
def export(input_file: Path, output: Path, force):
    """Export IN (MIDI, MusicXML, ...) as MusicXML (music21) or a piano-roll PNG (matplotlib)."""
    from .load import load_score
    from .studio.export import export_musicxml, export_png

    kind = output.suffix.lower()
    if kind not in (".musicxml", ".xml", ".png"):
        raise click.BadParameter(f"{output}: give a .musicxml, .xml or .png file name", param_hint="'--output'")
    _check_output(output, force, [input_file])
    score = load_score(input_file)
    if kind == ".png":
        export_png(score, output, title=input_file.name, overwrite=force)
    else:
        export_musicxml(score, output, overwrite=force)
    click.echo(f"wrote {output}: {score.note_count} notes, {len(score.tracks)} tracks")


def main():
    """The console entry point. A command that imported torch ends with os._exit once its output
    is flushed: the interpreter's teardown of torch's modules takes ~0.4 s and does nothing for
    us (every file is already written atomically and closed)."""
    try:
        cli.main()
        code = 0
    except SystemExit as e:
        code = e.code
    if not isinstance(code, int):  # sys.exit("message") or sys.exit(None)
        if code is not None:
            print(code, file=sys.stderr)
        code = 0 if code is None else 1
    if "torch" in sys.modules:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    main()
