"""Metadata filters: which items a search may return.

One type, :class:`Filters`, for every place a filter comes from — ``--filter FIELD=VALUE`` on the
command line, the kiosk's ``kiosk.json``, the window's filter bar and its saved settings — and
for every place one is used: validated against an index's fields, matched by
:meth:`EmbeddingIndex.rows_matching`, described to the user. Values are OR-ed within a field and
fields AND-ed; values compare case-insensitively. NumPy-free, Qt-free.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass

from fashion_desktop.core.errors import FashionDesktopError

FilterInput = Mapping[str, str | Iterable[str]]


class FilterError(FashionDesktopError):
    """A filter that cannot be used (malformed, or on a field the index does not have)."""


@dataclass(frozen=True)
class Filters:
    """field → accepted values (OR within a field, AND across fields); immutable, hashable.

    Fields keep the order they were given in; values are de-duplicated case-insensitively.
    """

    by_field: tuple[tuple[str, tuple[str, ...]], ...] = ()

    # --------------------------------------------------------------------------- building
    @classmethod
    def parse(cls, pairs: Iterable[str] | None) -> Filters:
        """``["gender=Men", "baseColour=Blue", "baseColour=Navy Blue"]`` → filters."""
        grouped: dict[str, list[str]] = {}
        for pair in pairs or ():
            name, sep, value = pair.partition("=")
            if not sep or not name.strip() or not value.strip():
                raise FilterError(
                    f"Filter '{pair}' should look like FIELD=VALUE, e.g. gender=Women."
                )
            grouped.setdefault(name.strip(), []).append(value.strip())
        return cls.of(grouped)

    @classmethod
    def of(cls, mapping: FilterInput | Filters | None) -> Filters:
        """Filters from ``{"gender": ["Women", "Unisex"], "masterCategory": "Apparel"}``.

        Every value must be a non-empty string; a field with no values is dropped. Raises
        :class:`FilterError` for anything else (e.g. a hand-edited configuration file).
        """
        if isinstance(mapping, Filters):
            return mapping
        if not mapping:
            return cls()
        if not isinstance(mapping, Mapping):
            raise FilterError('Filters must look like {"gender": ["Women"]}.')
        fields: list[tuple[str, tuple[str, ...]]] = []
        for name, given in mapping.items():
            values = [given] if isinstance(given, str) else given
            if (
                not isinstance(name, str)
                or not name.strip()
                or isinstance(values, Mapping)
                or not isinstance(values, Iterable)
            ):
                raise FilterError(f"The filter {name!r} needs a value or a list of values.")
            values = list(values)
            if not all(isinstance(v, str) and v.strip() for v in values):
                raise FilterError(f"The filter {name!r} needs a value or a list of values.")
            unique: dict[str, str] = {}
            for value in values:
                unique.setdefault(value.strip().casefold(), value.strip())
            if unique:
                fields.append((name.strip(), tuple(unique.values())))
        return cls(_merge_fields(fields))

    def merged(self, other: Filters) -> Filters:
        """Both filters' values (e.g. a kiosk's fixed filters plus ``--filter``)."""
        return Filters(_merge_fields([*self.by_field, *other.by_field]))

    def only(self, fields: Collection[str]) -> Filters:
        """The filters on ``fields`` alone."""
        return Filters(tuple((name, v) for name, v in self.by_field if name in fields))

    # --------------------------------------------------------------------------- reading
    def __bool__(self) -> bool:
        return bool(self.by_field)

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self.by_field)

    def items(self) -> Iterator[tuple[str, tuple[str, ...]]]:
        return iter(self.by_field)

    def values(self, field: str) -> tuple[str, ...]:
        return next((v for name, v in self.by_field if name == field), ())

    def to_dict(self) -> dict[str, list[str]]:
        """Plain JSON-able form (settings, the filter bar)."""
        return {name: list(values) for name, values in self.by_field}

    def key(self) -> tuple:
        """A canonical, case-insensitive key (equal for filters that select the same items)."""
        return tuple(
            sorted((name, tuple(sorted({v.casefold() for v in vs}))) for name, vs in self.by_field)
        )

    def describe(self, separator: str = " · ") -> str:
        """``gender: Women or Unisex · articleType: Tshirts``; empty for no filter."""
        return separator.join(f"{name}: {' or '.join(vs)}" for name, vs in self.by_field)

    def value_summary(self, separator: str = " · ") -> str:
        """Just the values: ``Women · Unisex · Tshirts`` (a kiosk's "showing ... only")."""
        return separator.join(v for _, vs in self.by_field for v in vs)

    # ------------------------------------------------------------------------ validation
    def unknown_fields(self, fields: Collection[str]) -> list[str]:
        return sorted(name for name in self if name not in fields)

    def check_fields(self, fields: Collection[str]) -> None:
        """Raise :class:`FilterError` for a field not among ``fields``."""
        unknown = self.unknown_fields(fields)
        if unknown:
            raise FilterError(unknown_fields_message(unknown, fields))

    def unmatched_values(self, known_values: Mapping[str, Collection[str]]) -> list[str]:
        """Warnings for values no item has (``known_values``: field → the index's values),
        with a did-you-mean suggestion where one is close."""
        warnings = []
        for name, values in self.by_field:
            known = {v.casefold(): v for v in known_values.get(name, ())}
            for value in values:
                if value.casefold() not in known:
                    close = difflib.get_close_matches(value, list(known.values()), n=3)
                    hint = f" Did you mean {', '.join(close)}?" if close else ""
                    warnings.append(f"No item has {name}={value}.{hint}")
        return warnings


def unknown_fields_message(unknown: Collection[str], fields: Collection[str]) -> str:
    """The one message for filters on fields an index does not have."""
    plural = "s" if len(unknown) > 1 else ""
    return (
        f"Unknown filter field{plural} {', '.join(sorted(unknown))}; this catalogue's fields "
        f"are: {', '.join(fields)}."
    )


def _merge_fields(
    fields: Iterable[tuple[str, tuple[str, ...]]],
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    merged: dict[str, dict[str, str]] = {}
    for name, values in fields:
        bucket = merged.setdefault(name, {})
        for value in values:
            bucket.setdefault(value.casefold(), value)
    return tuple((name, tuple(values.values())) for name, values in merged.items() if values)


NO_FILTERS = Filters()
