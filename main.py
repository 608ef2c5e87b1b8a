"""``python main.py`` opens the Fashion Desktop window (same as ``fashion-desktop``)."""

from fashion_desktop.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
