"""What the subcommands share: exit codes, the lazily filled subcommand parser, error and
progress output, the model, ranking options.

Imports at module level here and in the command modules are what every start of
``fashion-desktop`` pays for (the window's included): the standard library and
:mod:`fashion_desktop.core.errors` only. The core modules whose constants are the options'
defaults are imported when a command's arguments are added (:class:`CommandParser`); the model,
``rich`` and the index when a command runs.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130


@contextlib.contextmanager
def stop_on_terminate() -> Iterator[None]:
    """While a long job runs, treat SIGTERM (``kill``, a logout, a scheduler stopping it) as
    Ctrl-C, so that it saves its checkpoint and exits 130 instead of dying between checkpoints.

    A job started in the background by a script cannot be stopped with SIGINT (the shell makes
    background jobs ignore it); SIGTERM reaches it. Only the main thread can install handlers.
    """
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, interrupt)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


class CommandParser(argparse.ArgumentParser):
    """A subcommand's parser whose arguments are added the first time it parses or shows help.

    ``add_arguments(parser)`` imports the core modules the defaults come from, so only the
    command that runs (or whose ``--help`` is asked for) pays for them; ``fashion-desktop
    --help`` and the window import none. Use :meth:`populate` before reading the parser's
    actions directly.
    """

    def __init__(
        self,
        *args,
        add_arguments: Callable[[argparse.ArgumentParser], None] | None = None,
        **kwargs,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._add_arguments = add_arguments

    def populate(self) -> CommandParser:
        """Add the arguments now (once)."""
        add_arguments, self._add_arguments = self._add_arguments, None
        if add_arguments is not None:
            add_arguments(self)
        return self

    def parse_known_args(self, *args, **kwargs):  # what a subparsers action calls
        self.populate()
        return super().parse_known_args(*args, **kwargs)

    def format_usage(self) -> str:
        self.populate()
        return super().format_usage()

    def format_help(self) -> str:
        self.populate()
        return super().format_help()


def print_error(message: str) -> None:
    print(f"fashion-desktop: {message}", file=sys.stderr)


def default_index() -> Path:
    from fashion_desktop.resources import demo_index_path

    return demo_index_path()


def fraction(text: str) -> float:
    """An argparse ``type``: a number between 0 and 1."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must lie between 0 and 1, not {value:g}")
    return value


def duration(seconds: float) -> str:
    """``75`` → ``1:15``; ``3700`` → ``1:01:40``; not finite → ``?``."""
    import math

    if not math.isfinite(seconds):
        return "?"
    minutes, secs = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


def add_ranking_options(parser: argparse.ArgumentParser) -> None:
    """How queries are localised and ranked: the same options for search and evaluate."""
    from fashion_desktop.core.localise import DEFAULT_LOCALISE, LOCALISE_MODES
    from fashion_desktop.core.scoring import DEFAULT_SCORING

    parser.add_argument(
        "--localise",
        choices=LOCALISE_MODES,
        default=DEFAULT_LOCALISE,
        help="crop a query to the garment first (class-activation box): auto = only images that "
        f"are not a product on a plain background, always, or never (default: {DEFAULT_LOCALISE})",
    )
    parser.add_argument(
        "--match-colour",
        action=argparse.BooleanOptionalAction,
        default=DEFAULT_SCORING.match_colour,
        help="rank items the model sees in the query's colour higher "
        f"(default: {'on' if DEFAULT_SCORING.match_colour else 'off'})",
    )
    parser.add_argument(
        "--cosine-only",
        action="store_true",
        help="rank by embedding cosine alone, without the classifier heads' label agreement",
    )


def scoring_of(args: argparse.Namespace):
    """The :class:`~fashion_desktop.core.scoring.Scoring` the ranking options ask for."""
    from fashion_desktop.core.scoring import COSINE_ONLY, DEFAULT_SCORING

    scoring = COSINE_ONLY if args.cosine_only else DEFAULT_SCORING
    return scoring.with_match_colour(args.match_colour)


def load_embedder(weights: str | None, batch_size: int | None = None):
    from fashion_desktop.core.embedder import DEFAULT_BATCH_SIZE, Embedder

    with status("Loading the model…"):
        return Embedder.load(weights, batch_size=batch_size or DEFAULT_BATCH_SIZE)


@contextlib.contextmanager
def status(message: str) -> Iterator[None]:
    """A spinner with ``message`` on a terminal's stderr; nothing in a log."""
    if sys.stderr.isatty():
        from rich.console import Console

        with Console(stderr=True).status(message):
            yield
    else:
        yield


@contextlib.contextmanager
def progress_bar(description: str, total: int):
    """A rich progress bar on stderr: count, images/s and ETA. Yields an update callback."""
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    console = Console(stderr=True)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[rate]:>6.1f} img/s"),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        console=console,
        transient=False,
        disable=not console.is_terminal,
    ) as progress:
        task = progress.add_task(description, total=total, rate=0.0)

        def update(state) -> None:
            rate = state.embedded / state.elapsed_s if state.elapsed_s else 0.0
            progress.update(task, completed=state.done, rate=rate)

        yield update
