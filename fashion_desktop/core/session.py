"""The query session both windows drive: what the results on screen answer, and how to refine it.

A :class:`QuerySession` holds the filters (a kiosk's fixed filters, which a customer cannot
remove, plus the user's own), the Match colour switch, the *active* query and the one whose
answer is on screen, and turns every user action — new images, "more like this", a new crop, a
filter or Match colour change, an index reopened — into the request to submit. It re-runs a
query the cheapest way: an item query from its item id, an image query from its stored vector
and label signature, and only a new crop (or a query never answered) through the model again.

Qt-free: an image query's *sources* are opaque objects (the window's ``QuerySource``, which
may hold a QImage), carried through to the worker untouched.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

import numpy as np

from fashion_desktop.core.filters import NO_FILTERS, Filters, unknown_fields_message
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.search import SearchResponse

Source = TypeVar("Source")


# ------------------------------------------------------------------------------- requests
@dataclass(frozen=True)
class ImageSearch(Generic[Source]):
    """Search with one image, or several blended into one query, optionally cropped (a crop
    turns automatic garment localisation off); ``localise`` overrides the engine's mode
    (``always``: the user asked for the garment to be found)."""

    sources: tuple[Source, ...]
    filters: Filters = NO_FILTERS
    crop: CropBox | None = None
    match_colour: bool = True
    localise: str | None = None


@dataclass(frozen=True)
class VectorSearch:
    """Search again from a stored query vector and label signature (no model run)."""

    vector: np.ndarray
    label: str
    exclude_hashes: tuple[str, ...] = ()
    filters: Filters = NO_FILTERS
    signature: np.ndarray | None = None
    match_colour: bool = True
    photo: bool = False  # as the first answer said: photos are ranked with photo weights


@dataclass(frozen=True)
class ItemSearch:
    """ "More like this": search from a catalogue item's stored embedding."""

    item_id: str
    filters: Filters = NO_FILTERS
    match_colour: bool = True


Query = ImageSearch | VectorSearch | ItemSearch


# ---------------------------------------------------------------------------- the session
@dataclass
class ActiveQuery(Generic[Source]):
    """What the results on screen answer (or are about to), and what is needed to refine it."""

    label: str
    sources: tuple[Source, ...] = ()
    item_id: str | None = None
    crop: CropBox | None = None
    vector: np.ndarray | None = None
    signature: np.ndarray | None = None
    photo: bool = False
    hashes: tuple[str, ...] = ()
    #: The localisation the user asked for (None: the engine's default).
    localise: str | None = None

    @property
    def is_item(self) -> bool:
        return self.item_id is not None


@dataclass(frozen=True)
class SessionNotice:
    """Something the user (or, for fixed filters, the staff) should be told."""

    level: str  # "warning" | "error"
    message: str


@dataclass
class QuerySession(Generic[Source]):
    """Filters, Match colour and the active query of one window (see the module docstring)."""

    #: Filters every search carries and no user action removes (a kiosk's configuration).
    fixed_filters: Filters = NO_FILTERS
    #: The user's own filters (the stylist's filter bar).
    user_filters: Filters = NO_FILTERS
    match_colour: bool = True
    active: ActiveQuery[Source] | None = None
    #: The query whose photo and answer are on screen (``active`` may be newer, not yet shown).
    shown: ActiveQuery[Source] | None = field(default=None, repr=False)

    @property
    def filters(self) -> Filters:
        """What every search is filtered by: the fixed filters plus the user's."""
        return self.fixed_filters.merged(self.user_filters)

    @property
    def can_crop(self) -> bool:
        """Whether the active query is one image whose crop the user may change."""
        active = self.active
        return active is not None and not active.is_item and len(active.sources) == 1

    @property
    def is_photo(self) -> bool:
        """The active query is an image the search took for a photo (not a product shot)."""
        active = self.active
        return active is not None and active.photo and not active.is_item

    # ------------------------------------------------------------------- user actions
    def new_images(self, sources: Sequence[Source], label: str) -> ImageSearch[Source]:
        """A new photo (several are blended into one query)."""
        self.active = ActiveQuery(label, sources=tuple(sources))
        return ImageSearch(tuple(sources), self.filters, match_colour=self.match_colour)

    def more_like_this(self, item_id: str, label: str) -> ItemSearch:
        self.active = ActiveQuery(label, item_id=item_id)
        return ItemSearch(item_id, self.filters, match_colour=self.match_colour)

    def set_crop(self, crop: CropBox | None) -> ImageSearch[Source] | None:
        """The user changed the crop: the model must see the new region (None: no change)."""
        active = self.active
        if not self.can_crop or active is None or crop == active.crop:
            return None
        active.crop = crop
        active.vector = active.signature = None
        return ImageSearch(active.sources, self.filters, crop, self.match_colour, active.localise)

    def find_garment(self) -> ImageSearch[Source] | None:
        """The user asked for the garment to be found and searched alone, whatever the image's
        kind (the search already does so for photos; a product shot is searched whole
        otherwise)."""
        active = self.active
        if not self.can_crop or active is None:
            return None
        active.crop = None
        active.localise = "always"
        active.vector = active.signature = None
        return ImageSearch(active.sources, self.filters, None, self.match_colour, "always")

    def set_filters(self, filters: Filters) -> Query | None:
        """The user's filters changed (fixed filters stay whatever is asked)."""
        self.user_filters = filters
        return self.rerun()

    def set_match_colour(self, on: bool) -> Query | None:
        self.match_colour = on
        return self.rerun()

    def open_index(self, fields: Collection[str]) -> tuple[Query | None, SessionNotice | None]:
        """An index was opened: drop filters on fields it lacks, and re-run the active query.

        The notice is an error when a fixed filter was dropped (the configuration is wrong:
        staff must fix it), a warning for the user's own filter.
        """
        notice = None
        unknown = sorted(
            {*self.fixed_filters.unknown_fields(fields)}
            | {*self.user_filters.unknown_fields(fields)}
        )
        if unknown:
            fixed = bool(self.fixed_filters.unknown_fields(fields))
            plural = "s were" if len(unknown) > 1 else " was"
            notice = SessionNotice(
                "error" if fixed else "warning",
                f"{unknown_fields_message(unknown, sorted(fields))} The filter{plural} removed.",
            )
            self.fixed_filters = self.fixed_filters.only(fields)
            self.user_filters = self.user_filters.only(fields)
        return self.rerun(), notice

    def rerun(self) -> Query | None:
        """The active query with the current filters and Match colour, as cheaply as possible."""
        active = self.active
        if active is None:
            return None
        filters, colour = self.filters, self.match_colour
        if active.item_id is not None:
            return ItemSearch(active.item_id, filters, match_colour=colour)
        if active.vector is not None:
            return VectorSearch(
                active.vector,
                active.label,
                active.hashes,
                filters,
                signature=active.signature,
                match_colour=colour,
                photo=active.photo,
            )
        return ImageSearch(active.sources, filters, active.crop, colour, active.localise)

    def reset(self) -> None:
        """A new customer: forget the query (the filters and Match colour stay)."""
        self.active = self.shown = None

    # ---------------------------------------------------------------- worker answers
    def decoded(self, label: str, hashes: tuple[str, ...]) -> bool | None:
        """The active image query was decoded. True: it is a new photo to show; False: the same
        photo again (e.g. a new crop); None: no image query is active (nothing to show)."""
        active = self.active
        if active is None or active.is_item:
            return None
        active.label = label
        active.hashes = hashes
        new_photo = self.shown is not active
        self.shown = active
        return new_photo

    def answered(self, response: SearchResponse) -> None:
        """The active query's answer is on screen: keep what refining it needs."""
        active = self.active
        if active is None:
            return
        active.vector = response.vector
        active.signature = response.signature
        active.photo = response.photo
        self.shown = active

    def failed(self) -> None:
        """The newest query failed: the screen still answers the previous one (if any)."""
        if self.shown is None:
            self.active = None
        elif self.shown is not self.active:
            self.active = self.shown
