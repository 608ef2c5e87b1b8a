"""The query session both windows share, without Qt: which request each user action makes."""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from fashion_desktop.core.filters import Filters
from fashion_desktop.core.imaging import CropBox
from fashion_desktop.core.search import SearchResponse
from fashion_desktop.core.session import ImageSearch, ItemSearch, QuerySession, VectorSearch

WOMEN = Filters.of({"gender": "Women"})
BLUE = Filters.of({"baseColour": "Blue"})
CROP = CropBox(0.1, 0.1, 0.6, 0.7)


def answered(session: QuerySession, *, photo: bool = False) -> SearchResponse:
    response = SearchResponse(
        "q", [], vector=np.ones(4, np.float32), signature=np.ones(3, np.float32), photo=photo
    )
    session.answered(response)
    return response


def test_new_images_carry_the_filters_and_match_colour():
    session = QuerySession(user_filters=WOMEN, match_colour=False)
    request = session.new_images(["a.jpg"], "a.jpg")
    assert request == ImageSearch(("a.jpg",), WOMEN, None, False)
    assert session.active is not None and session.active.label == "a.jpg"
    assert session.can_crop


def test_a_filter_change_reruns_an_answered_image_query_from_its_vector():
    session = QuerySession()
    session.new_images(["a.jpg"], "a.jpg")
    assert session.decoded("a.jpg", ("sha",)) is True
    answered(session, photo=True)
    request = session.set_filters(WOMEN)
    assert isinstance(request, VectorSearch)
    assert request.filters == WOMEN and request.photo and request.exclude_hashes == ("sha",)
    assert request.signature is not None
    request = session.set_match_colour(False)
    assert isinstance(request, VectorSearch) and request.match_colour is False


def test_find_garment_localises_the_photo_until_a_new_one_arrives():
    session = QuerySession(user_filters=WOMEN)
    first = session.new_images(["a.jpg"], "a.jpg")
    assert first.localise is None  # the engine's default: the whole photo
    answered(session, photo=True)
    request = session.find_garment()
    assert request == ImageSearch(("a.jpg",), WOMEN, None, True, "always")
    assert session.active is not None and session.active.vector is None  # the model runs again
    assert session.set_filters(BLUE) == ImageSearch(("a.jpg",), BLUE, None, True, "always")
    cropped = session.set_crop(CROP)
    assert cropped is not None and cropped.crop == CROP
    back = session.set_crop(None)  # "Reset crop": the garment found again
    assert back is not None and back.crop is None and back.localise == "always"
    assert session.new_images(["b.jpg"], "b.jpg").localise is None
    session.more_like_this("42", "more like 42")
    assert session.find_garment() is None  # an item query has no photo to look in


def test_an_unanswered_image_query_reruns_through_the_model():
    session = QuerySession()
    session.new_images(["a.jpg"], "a.jpg")
    assert isinstance(session.set_filters(BLUE), ImageSearch)


def test_a_new_crop_forces_the_model_and_the_same_crop_does_nothing():
    session = QuerySession()
    session.new_images(["a.jpg"], "a.jpg")
    session.decoded("a.jpg", ("sha",))
    answered(session)
    request = session.set_crop(CROP)
    assert request == ImageSearch(("a.jpg",), Filters(), CROP, True)
    assert session.set_crop(CROP) is None
    assert session.active is not None and session.active.vector is None
    # decoding the same photo again (for the crop) is not a new photo
    assert session.decoded("a.jpg", ("sha",)) is False
    assert isinstance(session.rerun(), ImageSearch)


def test_blends_and_item_queries_cannot_be_cropped():
    session = QuerySession()
    session.new_images(["a.jpg", "b.jpg"], "2 images blended")
    assert not session.can_crop and session.set_crop(CROP) is None
    session.more_like_this("42", "More like: 42")
    assert not session.can_crop and session.set_crop(CROP) is None


def test_more_like_this_reruns_from_the_item_id():
    session = QuerySession(user_filters=WOMEN)
    assert session.more_like_this("42", "More like: 42") == ItemSearch("42", WOMEN)
    answered(session)
    assert session.set_filters(BLUE) == ItemSearch("42", BLUE)
    assert session.decoded("x", ()) is None  # item queries have no photo to show


def test_fixed_filters_cannot_be_removed():
    session = QuerySession(fixed_filters=WOMEN)
    session.set_filters(Filters())
    assert session.filters == WOMEN
    session.set_filters(BLUE)
    assert session.filters == WOMEN.merged(BLUE)
    assert session.new_images(["a"], "a").filters == WOMEN.merged(BLUE)


def test_a_failed_new_query_leaves_the_previous_one_active():
    session = QuerySession()
    session.new_images(["good.jpg"], "good.jpg")
    session.decoded("good.jpg", ("g",))
    answered(session)
    shown = session.active
    session.new_images(["bad.jpg"], "bad.jpg")
    session.failed()  # could not be decoded
    assert session.active is shown
    assert isinstance(session.set_filters(WOMEN), VectorSearch)


def test_a_failed_first_query_leaves_nothing_active():
    session = QuerySession()
    session.new_images(["bad.jpg"], "bad.jpg")
    session.failed()
    assert session.active is None and session.rerun() is None


def test_a_search_that_fails_after_decoding_keeps_the_shown_photo():
    session = QuerySession()
    session.new_images(["a.jpg"], "a.jpg")
    session.decoded("a.jpg", ("sha",))
    active = session.active
    session.failed()  # e.g. no index open: the photo on screen is still this query's
    assert session.active is active


def test_opening_an_index_drops_unknown_filters_with_one_notice():
    session = QuerySession(user_filters=Filters.of({"fabric": "Silk", "gender": "Women"}))
    request, notice = session.open_index(["gender", "baseColour"])
    assert request is None  # nothing to re-run yet
    assert notice is not None and notice.level == "warning" and "fabric" in notice.message
    assert session.filters == WOMEN
    assert session.open_index(["gender"]) == (None, None)


def test_a_fixed_filter_on_an_unknown_field_is_an_error_for_staff():
    session = QuerySession(fixed_filters=Filters.of({"fabric": "Silk"}))
    session.new_images(["a.jpg"], "a.jpg")
    request, notice = session.open_index(["gender"])
    assert notice is not None and notice.level == "error" and "fabric" in notice.message
    assert request == ImageSearch(("a.jpg",), Filters(), None, True)  # re-run on the new index
    assert not session.filters


def test_reset_forgets_the_customer_but_keeps_the_fixed_filters():
    session = QuerySession(fixed_filters=WOMEN)
    session.new_images(["a.jpg"], "a.jpg")
    session.decoded("a.jpg", ("sha",))
    answered(session)
    session.reset()
    assert session.active is None and session.shown is None and session.rerun() is None
    assert session.filters == WOMEN


def test_the_session_and_kiosk_config_never_import_qt():
    code = (
        "import sys; import fashion_desktop.core.session, fashion_desktop.core.kiosk_config; "
        "print(any(name.startswith('PySide6') for name in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
