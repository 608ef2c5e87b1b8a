"""Fashion Desktop: offline visual search of a fashion catalogue."""

__version__ = "0.1.0"
