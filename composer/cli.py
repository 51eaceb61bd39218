"""The `compose` command line (installed as `compose`; `python cli.py` in a checkout).

Every error is one line on stderr: exit 2 for usage errors, 1 for bad data. Commands that
need no model never import torch, so they start fast.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from . import __version__
from .errors import ComposerError


class ComposeGroup(click.Group):
    """A click group whose errors are one line (`error: ...`) instead of a usage dump."""

    def main(self, args=None, prog_name=None, **kwargs):
        try:
            rv = super().main(args=args, prog_name=prog_name or "compose", standalone_mode=False, **kwargs)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        except click.Abort:
            click.echo("error: aborted", err=True)
            sys.exit(130)
        except click.UsageError as e:
            hint = f" (see 'compose {e.ctx.command_path.split(' ', 1)[1]} --help')" if e.ctx and " " in e.ctx.command_path else ""
            click.echo(f"error: {_one_line(e.format_message())}{hint}", err=True)
            sys.exit(2)
        except ComposerError as e:
            click.echo(f"error: {_one_line(str(e))}", err=True)
            sys.exit(getattr(e, "exit_code", 1))
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


def _check_output(path: Path, force: bool, inputs=()) -> None:
    if any(path.resolve() == Path(i).resolve() for i in inputs):
        raise click.UsageError(f"{path}: output would overwrite an input file")
    if path.exists() and not force:
        raise click.UsageError(f"{path}: already exists (use --force to overwrite)")


@cli.command()
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
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
@click.argument("input_file", metavar="IN", type=click.Path(dir_okay=False, path_type=Path))
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True,
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
    write_midi(back, output, title=input_file.stem)
    click.echo(f"wrote {output}: {back.note_count} of {score.note_count} notes kept, "
               f"{len(back.tracks)} tracks, {len(tokens)} tokens")


@cli.command()
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--output", "cache_dir", type=click.Path(file_okay=False, path_type=Path), required=True,
              help="Cache folder for the token files and index.json.")
@click.option("--style", default=None, help="Style label for every file (a flat folder).")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Processes (default: all cores).")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def tokenize(corpus, cache_dir: Path, style, workers, quiet):
    """Tokenise a corpus (style = first sub-folder) into CACHE_DIR, reusing cached files."""
    from .corpus import tokenize_corpus
    from .tokenizer import Tokenizer

    summary = tokenize_corpus(list(corpus), cache_dir, Tokenizer(), style=style, workers=workers,
                              progress=not quiet)
    click.echo(summary.format())
    if not summary.used:
        raise ComposerError(f"{', '.join(map(str, corpus))}: no usable music files")


@cli.command()
@click.argument("corpus", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("-o", "--out", "out_dir", metavar="RUN_DIR", required=True,
              type=click.Path(file_okay=False, path_type=Path),
              help="Run folder: best model, config, checkpoints, metrics, loss curve.")
@click.option("--arch", type=click.Choice(["transformer", "lstm"]), default="transformer", show_default=True,
              help="Model architecture.")
@click.option("--size", type=click.Choice(["tiny", "small", "base"]), default="small", show_default=True,
              help="Model size preset.")
@click.option("--steps", type=click.IntRange(min=1), default=None, help="Optimizer steps  [default: 2000].")
@click.option("--epochs", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Passes over the training tokens, instead of --steps.")
@click.option("--batch-size", type=click.IntRange(min=1), default=16, show_default=True, help="Windows per step.")
@click.option("--context", type=click.IntRange(min=8), default=1024, show_default=True, help="Tokens per window.")
@click.option("--lr", type=click.FloatRange(min=0, min_open=True), default=None,
              help="Peak learning rate  [default: 1e-3; 3e-4 with --from].")
@click.option("--device", type=click.Choice(["auto", "cpu", "cuda", "mps"]), default="auto", show_default=True,
              help="auto picks cuda, then mps, then cpu.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of the initialisation and data stream.")
@click.option("--style", default=None, help="Style label for every file (a flat folder).")
@click.option("--resume", is_flag=True, help="Continue RUN_DIR from its last checkpoint (same data split).")
@click.option("--val-fraction", type=click.FloatRange(0, 1, max_open=True), default=0.05, show_default=True,
              help="Share of files held out for validation.")
@click.option("--from", "init_from", metavar="RUN_DIR|default", default=None,
              help="Fine-tune a trained model (or the bundled one); new styles are added to it.")
@click.option("--eval-every", type=click.IntRange(min=1), default=200, show_default=True,
              help="Steps between validation runs and checkpoints.")
@click.option("--workers", type=click.IntRange(1, 256), default=None, help="Tokenising processes (default: all cores).")
@click.option("--compile", "compile_model", is_flag=True, help="torch.compile the model (pays off on GPUs).")
@click.option("--quiet", is_flag=True, help="No progress bar or per-evaluation lines.")
@click.pass_context
def train(ctx, corpus, out_dir: Path, arch, size, steps, epochs, batch_size, context, lr, device, seed, style,
          resume, val_fraction, init_from, eval_every, workers, compile_model, quiet):
    """Train a model on CORPUS (style = first sub-folder) into RUN_DIR.

    Ctrl-C saves a checkpoint; --resume continues from it. The best model by validation
    loss is RUN_DIR/model.safetensors.
    """
    if steps is not None and epochs is not None:
        raise click.UsageError("give --steps or --epochs, not both")
    if resume and init_from is not None:
        raise click.UsageError("--from cannot be combined with --resume")
    from .train import TrainConfig
    from .train import train as run_training

    cfg = TrainConfig(arch=arch, size=size, steps=steps, epochs=epochs, batch_size=batch_size, context=context,
                      lr=lr, device=device, seed=seed, val_fraction=val_fraction, eval_every=eval_every,
                      compile=compile_model, workers=workers)
    summary = run_training(list(corpus), out_dir, cfg, style=style, resume=resume, init_from=init_from,
                           progress=not quiet)
    if summary["interrupted"]:
        ctx.exit(130)


def main():
    cli.main()


if __name__ == "__main__":
    main()
