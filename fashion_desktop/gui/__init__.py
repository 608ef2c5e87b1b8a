"""The desktop window (PySide6): widgets, item models and one inference worker over the core."""
