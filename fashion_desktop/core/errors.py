"""Errors whose message is meant for a person: the CLI prints it, the GUI shows it as a notice."""


class FashionDesktopError(Exception):
    """Base class: ``str(error)`` is a complete, human sentence with no traceback needed."""


class ImageError(FashionDesktopError):
    """An image could not be read or is not acceptable (corrupt, unsupported, absurdly large)."""


class CatalogueError(FashionDesktopError):
    """A catalogue folder or its metadata CSV cannot be used at all."""


class InvalidIndexError(FashionDesktopError):
    """An index directory is missing, corrupted, or was built with another model."""


class ModelError(FashionDesktopError):
    """Model weights are missing, unreadable, or do not fit ResNet50."""
