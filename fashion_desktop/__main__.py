"""``python -m fashion_desktop`` runs the same command as ``fashion-desktop``."""

from fashion_desktop.cli import main

raise SystemExit(main())
