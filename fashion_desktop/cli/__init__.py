"""The ``fashion-desktop`` command: the window by default; index/search/evaluate/train commands.

Every subcommand is a thin shell over :mod:`fashion_desktop.core`, one module each
(:mod:`.index`, :mod:`.search`, :mod:`.evaluate`, :mod:`.train`, :mod:`.model`, :mod:`.kiosk`;
:mod:`.window` for the window's options), each with ``add_parser(subparsers)`` and
``run(args) -> int``; :mod:`.parser` assembles them and runs one; :mod:`.common` holds what they
share. Defaults are the core's own constants, never repeated here. Expected problems (bad image,
bad catalogue, missing weights, corrupted index) print one clear line on stderr and exit non-zero;
tracebacks are only for bugs. Building the parser imports no TensorFlow, Keras, JAX, LiteRT or
Qt: each command imports what it needs when it runs.
"""

from fashion_desktop.cli.common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, EXIT_USAGE
from fashion_desktop.cli.parser import build_parser, main

__all__ = ["EXIT_FAILED", "EXIT_INTERRUPTED", "EXIT_OK", "EXIT_USAGE", "build_parser", "main"]
