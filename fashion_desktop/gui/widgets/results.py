"""The result grid: product cards that reflow with the window and work from the keyboard.

The same cards show search results and a client's recommendations: "More like this", the
shortlist heart, "Complete the look", like/dislike for the current client, and (for
recommendations) the reasons an item was chosen.
"""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics, QKeyEvent, QMouseEvent, QPainter
from PySide6.QtWidgets import (
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.search import DEFAULT_K, SearchHit
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.models import HitRole, ResultsModel
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.image_view import ImageView

THUMBNAIL_SIDE = 512
MIN_CARD_WIDTH = 176
MIN_IMAGE_HEIGHT = 140
#: In a grid that must fit on screen (the kiosk): the narrowest card and smallest image.
MIN_FITTED_CARD_WIDTH = 92
MIN_FITTED_IMAGE_HEIGHT = 40
GRID_SPACING = 16
ACCENT = "#4f46e5"
#: A card's height without its image (name, details, one action row, paddings), and what
#: "Complete the look" and a reason line add.
TEXT_BLOCK = 190
SECOND_ROW = 34
REASON_BLOCK = 38
LIKE_COLOUR = "#059669"
DISLIKE_COLOUR = "#dc2626"


class ElidedLabel(QLabel):
    """Word-wrapped text limited to ``max_lines``, the last line elided with an ellipsis."""

    def __init__(self, text: str = "", parent: QWidget | None = None, *, max_lines: int = 2):
        super().__init__(text, parent)
        self._max_lines = max_lines
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)

    def setText(self, text: str) -> None:  # noqa: N802
        super().setText(text)
        self.setToolTip(text)
        self.updateGeometry()

    def sizeHint(self) -> QSize:  # noqa: N802
        metrics = QFontMetrics(self.font())
        return QSize(120, metrics.lineSpacing() * self._max_lines + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return self.sizeHint()

    def _lines(self) -> list[str]:
        metrics = QFontMetrics(self.font())
        width = max(10, self.contentsRect().width())
        lines: list[str] = []
        words, current, index = self.text().split(), "", 0
        # Wrap whole words onto every line but the last, which takes the rest, elided.
        while index < len(words) and len(lines) < self._max_lines - 1:
            candidate = f"{current} {words[index]}".strip()
            if metrics.horizontalAdvance(candidate) <= width or not current:
                current, index = candidate, index + 1
            else:
                lines.append(current)
                current = ""
        rest = " ".join([current, *words[index:]]).strip()
        if rest:
            lines.append(metrics.elidedText(rest, Qt.TextElideMode.ElideRight, width))
        return lines

    def paintEvent(self, _event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setPen(self.palette().color(self.foregroundRole()))
        painter.setFont(self.font())
        metrics = QFontMetrics(self.font())
        rect = self.contentsRect()
        y = rect.top() + metrics.ascent()
        for line in self._lines():
            painter.drawText(rect.left(), y, line)
            y += metrics.lineSpacing()


class ResultCard(QFrame):
    """One result: image, name, type/colour, other metadata, match score and actions."""

    activated = Signal(object)  # SearchHit
    more_like_this = Signal(object)
    shortlist_toggled = Signal(object, bool)
    #: The current client's opinion of the item: "like", "dislike" or "" (cleared).
    opinion_changed = Signal(object, str)
    complete_look = Signal(object)
    navigate = Signal(int)  # Qt key

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("ResultCard")
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Maximum)
        self.setMinimumWidth(MIN_CARD_WIDTH)
        self.hit: SearchHit | None = None

        self.rank = QLabel()
        self.rank.setObjectName("RankBadge")
        self.rank.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.score = QLabel()
        self.score.setObjectName("ScoreLabel")
        self.score.setAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.like_button = self._opinion_button("like", "thumbs-up", "I like it")
        self.dislike_button = self._opinion_button("dislike", "thumbs-down", "Not for this client")
        top = QHBoxLayout()
        top.setContentsMargins(0, 0, 0, 0)
        top.setSpacing(4)
        top.addWidget(self.rank)
        top.addSpacing(4)
        top.addWidget(self.like_button)
        top.addWidget(self.dislike_button)
        top.addStretch(1)
        top.addWidget(self.score)

        self.image = ImageView(self)
        self.image.setObjectName("CardImage")
        self.name = ElidedLabel(max_lines=2)
        self.name.setObjectName("CardName")
        self.kind = ElidedLabel(max_lines=1)
        self.kind.setObjectName("CardKind")
        self.details = ElidedLabel(max_lines=1)
        self.details.setObjectName("CardDetails")
        self.item_id = ElidedLabel(max_lines=1)
        self.item_id.setObjectName("CardId")
        self.reason = ElidedLabel(max_lines=2)
        self.reason.setObjectName("CardReason")
        self.reason.hide()
        self.reasons: list[str] = []

        self.more_button = QToolButton()
        self.more_button.setObjectName("MoreLikeThis")
        self.more_button.setText("More like this")
        self.more_button.setIcon(icon("similar", ACCENT))
        self.more_button.setIconSize(icon_size(14))
        self.more_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.more_button.setToolTip("Search from this item (M)")
        self.more_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.more_button.setMinimumWidth(60)
        self.more_button.clicked.connect(lambda: self.hit and self.more_like_this.emit(self.hit))
        self.shortlist_button = QToolButton()
        self.shortlist_button.setObjectName("ShortlistToggle")
        self.shortlist_button.setCheckable(True)
        self.shortlist_button.setIconSize(icon_size(18))
        self.shortlist_button.toggled.connect(self._on_shortlist_toggled)
        self._set_shortlist_icon(False)
        actions = QHBoxLayout()
        actions.setContentsMargins(0, 4, 0, 0)
        actions.setSpacing(6)
        actions.addWidget(self.more_button, 1)
        actions.addWidget(self.shortlist_button)

        self.look_button = QToolButton()
        self.look_button.setObjectName("CompleteLook")
        self.look_button.setText("Complete the look")
        self.look_button.setIcon(icon("look", ACCENT))
        self.look_button.setIconSize(icon_size(14))
        self.look_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.look_button.setToolTip("Complete the look around this item (L)")
        self.look_button.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Fixed)
        self.look_button.setMinimumWidth(60)
        self.look_button.clicked.connect(lambda: self.hit and self.complete_look.emit(self.hit))
        self._opinions_shown = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(11, 11, 11, 11)
        layout.setSpacing(4)
        layout.addLayout(top)
        layout.addWidget(self.image, 1)
        layout.addSpacing(6)
        layout.addWidget(self.name)
        layout.addWidget(self.kind)
        layout.addWidget(self.details)
        layout.addWidget(self.item_id)
        layout.addWidget(self.reason)
        layout.addLayout(actions)
        layout.addWidget(self.look_button)

    # ---------------------------------------------------------------------------- content
    def set_hit(self, hit: SearchHit | None, *, shortlisted: bool = False) -> None:
        self.hit = hit
        if hit is None:
            self.hide()
            return
        meta = hit.metadata
        self.rank.setText(str(hit.rank))
        self.score.setText(score_text(hit))
        self.score.setToolTip(score_tooltip(hit))
        self.name.setText(display_name(hit.item_id, meta))
        self.kind.setText(_join(meta.get("articleType"), meta.get("baseColour")))
        self.details.setText(_join(meta.get("gender"), meta.get("season"), meta.get("usage")))
        self.item_id.setText(f"ID {hit.item_id}")
        self.image.set_pixmap(None)
        self.set_shortlisted(shortlisted)
        self.setAccessibleName(f"Result {hit.rank}: {self.name.text()}")
        self.show()

    def set_reasons(self, reasons: list[str]) -> None:
        """Why the item is shown (recommendations): the strongest reason on the card, all of
        them in the tooltip."""
        self.reasons = list(reasons)
        self.reason.setText("; ".join(reasons[:2]))
        self.reason.setToolTip("Why: " + "; ".join(reasons) if reasons else "")
        self.reason.setVisible(bool(reasons))

    def set_opinion(self, opinion: str) -> None:
        for button, kind in ((self.like_button, "like"), (self.dislike_button, "dislike")):
            button.blockSignals(True)
            button.setChecked(opinion == kind)
            button.blockSignals(False)
        self._paint_opinions()

    @property
    def opinion(self) -> str:
        if self.like_button.isChecked():
            return "like"
        return "dislike" if self.dislike_button.isChecked() else ""

    def show_actions(self, *, look: bool, opinions: bool) -> None:
        """ "Complete the look" (a second action row) and/or like/dislike (beside the rank)."""
        self.look_button.setVisible(look)
        self.like_button.setVisible(opinions)
        self.dislike_button.setVisible(opinions)
        self._opinions_shown = opinions

    def _opinion_button(self, kind: str, icon_name: str, tip: str) -> QToolButton:
        button = QToolButton()
        button.setObjectName("OpinionToggle")
        button.setProperty("kind", kind)
        button.setCheckable(True)
        button.setIconSize(icon_size(14))
        button.setIcon(icon(icon_name))
        button.setToolTip(f"{tip} ({'K' if kind == 'like' else 'D'})")
        button.setAccessibleName(kind.capitalize())
        button.toggled.connect(lambda on, k=kind: self._on_opinion_toggled(k, on))
        return button

    def _on_opinion_toggled(self, kind: str, on: bool) -> None:
        other = self.dislike_button if kind == "like" else self.like_button
        if on and other.isChecked():
            other.blockSignals(True)
            other.setChecked(False)
            other.blockSignals(False)
        self._paint_opinions()
        if self.hit is not None:
            self.opinion_changed.emit(self.hit, kind if on else "")

    def _paint_opinions(self) -> None:
        liked, disliked = self.like_button.isChecked(), self.dislike_button.isChecked()
        self.like_button.setIcon(icon("thumbs-up", LIKE_COLOUR) if liked else icon("thumbs-up"))
        self.dislike_button.setIcon(
            icon("thumbs-down", DISLIKE_COLOUR) if disliked else icon("thumbs-down")
        )

    def set_shortlisted(self, shortlisted: bool) -> None:
        self.shortlist_button.blockSignals(True)
        self.shortlist_button.setChecked(shortlisted)
        self.shortlist_button.blockSignals(False)
        self._set_shortlist_icon(shortlisted)

    def _set_shortlist_icon(self, shortlisted: bool) -> None:
        self.shortlist_button.setIcon(
            icon("heart-filled", "#e11d48") if shortlisted else icon("heart")
        )
        self.shortlist_button.setToolTip(
            "Remove from the shortlist (S)" if shortlisted else "Add to the shortlist (S)"
        )

    def _on_shortlist_toggled(self, checked: bool) -> None:
        self._set_shortlist_icon(checked)
        if self.hit is not None:
            self.shortlist_toggled.emit(self.hit, checked)

    # ----------------------------------------------------------------------------- input
    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.MouseButton.LeftButton and self.rect().contains(
            event.position().toPoint()
        ):
            self.setFocus(Qt.FocusReason.MouseFocusReason)
            if self.hit is not None:
                self.activated.emit(self.hit)
        super().mouseReleaseEvent(event)

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        key = event.key()
        if self.hit is not None and key in (Qt.Key.Key_Return, Qt.Key.Key_Enter, Qt.Key.Key_Space):
            self.activated.emit(self.hit)
        elif self.hit is not None and key == Qt.Key.Key_M:
            self.more_like_this.emit(self.hit)
        elif self.hit is not None and key == Qt.Key.Key_S and self.shortlist_button.isVisible():
            self.shortlist_button.toggle()
        elif self.hit is not None and key == Qt.Key.Key_L and self.look_button.isVisible():
            self.complete_look.emit(self.hit)
        elif self.hit is not None and key == Qt.Key.Key_K and self._opinions_shown:
            self.like_button.toggle()
        elif self.hit is not None and key == Qt.Key.Key_D and self._opinions_shown:
            self.dislike_button.toggle()
        elif key in (
            Qt.Key.Key_Left,
            Qt.Key.Key_Right,
            Qt.Key.Key_Up,
            Qt.Key.Key_Down,
            Qt.Key.Key_Home,
            Qt.Key.Key_End,
        ):
            self.navigate.emit(key)
        else:
            super().keyPressEvent(event)


class EmptyState(QWidget):
    """A centred icon, title and hint: shown before the first query and when nothing matches."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("EmptyState")
        self._icon = QLabel()
        self._icon.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title = QLabel()
        self.title.setObjectName("EmptyTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.hint = QLabel()
        self.hint.setObjectName("EmptyHint")
        self.hint.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.hint.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addStretch(2)
        layout.addWidget(self._icon)
        layout.addSpacing(8)
        layout.addWidget(self.title)
        layout.addWidget(self.hint)
        layout.addStretch(3)

    def set_state(self, icon_name: str, title: str, hint: str) -> None:
        self._icon.setPixmap(icon(icon_name, "#94a3b8").pixmap(56, 56))
        self.title.setText(title)
        self.hint.setText(hint)


class ResultGrid(QWidget):
    """Observes a :class:`ResultsModel` and shows its hits as cards (up to five per row)."""

    activated = Signal(object)
    more_like_this = Signal(object)
    shortlist_toggled = Signal(object, bool)
    opinion_changed = Signal(object, str)
    complete_look = Signal(object)
    thumbnails_complete = Signal()

    def __init__(
        self,
        model: ResultsModel,
        thumbnails: ThumbnailLoader,
        parent: QWidget | None = None,
        *,
        fit_on_screen: bool = False,
        capacity: int = DEFAULT_K,
        show_scores: bool = True,
    ) -> None:
        """``fit_on_screen``: choose the columns that show every card whole with the largest
        images (the kiosk: nothing to scroll), instead of as many columns as fit the width.
        ``capacity``: the most cards shown (five per row at most); ``show_scores``: the match
        score on each card (a search's, not a recommendation's)."""
        super().__init__(parent)
        self.setObjectName("ResultGrid")
        self._fit_on_screen = fit_on_screen
        self._capacity = capacity
        self._show_scores = show_scores
        self._reasons: dict[str, list[str]] = {}
        self._opinions: dict[str, str] = {}
        self._look_action = False
        self._opinion_actions = False
        self._spacing = GRID_SPACING
        self._model = model
        self._thumbnails = thumbnails
        self._shortlisted: set[str] = set()
        self._columns = 0
        self.cards: list[ResultCard] = []
        self._stack = QStackedWidget()
        self.empty = EmptyState()
        self.empty.set_state(
            "drop",
            "Drop a photo of a garment here, paste it, or open a file",
            "Fashion Desktop finds the five most similar items in the catalogue.",
        )
        self._stack.addWidget(self.empty)

        self._cards_host = QWidget()
        self._cards_host.setObjectName("CardsHost")
        self._grid = QGridLayout(self._cards_host)
        self._grid.setContentsMargins(0, 0, 0, 0)
        self._grid.setSpacing(GRID_SPACING)
        for _ in range(capacity):
            card = ResultCard(self._cards_host)
            card.score.setVisible(show_scores)
            card.show_actions(look=False, opinions=False)
            card.activated.connect(self.activated)
            card.more_like_this.connect(self.more_like_this)
            card.shortlist_toggled.connect(self.shortlist_toggled)
            card.opinion_changed.connect(self.opinion_changed)
            card.complete_look.connect(self.complete_look)
            card.navigate.connect(lambda key, c=card: self._navigate(c, key))
            card.hide()
            self.cards.append(card)
        scroll = QScrollArea()
        scroll.setObjectName("ResultsScroll")
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        holder = QWidget()
        holder.setObjectName("CardsHolder")
        holder_layout = QVBoxLayout(holder)
        # room for the vertical scroll bar when there are more cards than one row
        holder_layout.setContentsMargins(0, 0, 12 if capacity > DEFAULT_K else 0, 0)
        holder_layout.addWidget(self._cards_host)
        holder_layout.addStretch(1)
        scroll.setWidget(holder)
        self._stack.addWidget(scroll)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self._stack)

        model.modelReset.connect(self._rebuild)
        thumbnails.ready.connect(self._on_thumbnail)
        self._relayout(force=True)

    # -------------------------------------------------------------------------- state
    @property
    def showing_results(self) -> bool:
        return self._stack.currentIndex() == 1

    def visible_cards(self) -> list[ResultCard]:
        return [card for card in self.cards if card.hit is not None]

    def pending_thumbnails(self) -> int:
        return sum(
            1
            for card in self.visible_cards()
            if card.hit is not None
            and not card.image.has_image
            and not self._thumbnails.has_failed(card.hit.image_path, THUMBNAIL_SIDE)
        )

    def show_message(self, icon_name: str, title: str, hint: str = "") -> None:
        self.empty.set_state(icon_name, title, hint)
        self._stack.setCurrentIndex(0)

    def set_shortlisted(self, item_ids: set[str]) -> None:
        self._shortlisted = set(item_ids)
        for card in self.visible_cards():
            assert card.hit is not None
            card.set_shortlisted(card.hit.item_id in self._shortlisted)

    def set_reasons(self, reasons: dict[str, list[str]]) -> None:
        """Reasons per item id, shown on the cards (recommendations); empty: none shown."""
        self._reasons = {key: list(value) for key, value in reasons.items()}
        for card in self.visible_cards():
            assert card.hit is not None
            card.set_reasons(self._reasons.get(card.hit.item_id, []))
        self._fit_image_height()

    def set_opinions(self, opinions: dict[str, str]) -> None:
        """The current client's likes and dislikes (item id → "like" / "dislike")."""
        self._opinions = dict(opinions)
        for card in self.visible_cards():
            assert card.hit is not None
            card.set_opinion(self._opinions.get(card.hit.item_id, ""))

    def set_actions(self, *, look: bool, opinions: bool) -> None:
        """Offer "Complete the look" and/or like/dislike on every card (the stylist's window)."""
        self._look_action, self._opinion_actions = look, opinions
        for card in self.cards:
            card.show_actions(look=look, opinions=opinions)
        self._fit_image_height()

    def customer_view(self) -> None:
        """For customers (the kiosk): no shortlist hearts, no opinions, no item IDs, no client
        data, touch-sized buttons."""
        self.set_actions(look=False, opinions=False)
        self._reasons = {}
        for card in self.cards:
            card.shortlist_button.hide()
            card.shortlist_button.setEnabled(False)
            card.like_button.setEnabled(False)
            card.dislike_button.setEnabled(False)
            card.item_id.hide()
            card.more_button.setMinimumHeight(52)
            card.more_button.setToolButtonStyle(
                Qt.ToolButtonStyle.ToolButtonTextOnly
            )  # room for the words
            card.setMinimumWidth(MIN_FITTED_CARD_WIDTH)
            card.image.setMinimumWidth(MIN_FITTED_CARD_WIDTH // 2)
        self._relayout(force=True)

    def set_scale(self, scale: float) -> None:
        """Card paddings and gaps ``scale`` times the design's (a kiosk on a large screen)."""
        self._spacing = round(GRID_SPACING * scale)
        self._grid.setSpacing(self._spacing)
        for card in self.cards:
            layout = card.layout()
            assert layout is not None
            layout.setContentsMargins(*[round(11 * scale)] * 4)
            layout.setSpacing(round(4 * scale))
        self._relayout(force=True)
        self._fit_image_height()

    def focus_first(self) -> None:
        cards = self.visible_cards()
        if cards:
            cards[0].setFocus(Qt.FocusReason.OtherFocusReason)

    # ------------------------------------------------------------------------ updates
    def _rebuild(self) -> None:
        hits = [
            self._model.data(self._model.index(row), HitRole)
            for row in range(self._model.rowCount())
        ]
        for position, card in enumerate(self.cards):
            hit = hits[position] if position < len(hits) else None
            card.set_hit(hit, shortlisted=hit is not None and hit.item_id in self._shortlisted)
            if hit is not None:
                card.set_reasons(self._reasons.get(hit.item_id, []))
                card.set_opinion(self._opinions.get(hit.item_id, ""))
                pixmap = self._thumbnails.request(hit.image_path, THUMBNAIL_SIDE)
                if pixmap is not None:
                    card.image.set_pixmap(pixmap)
                elif self._thumbnails.has_failed(hit.image_path, THUMBNAIL_SIDE):
                    card.image.set_pixmap(None, missing=True)
        if hits:
            self._stack.setCurrentIndex(1)
        elif self._model.response is not None:
            self.show_message(
                "filter",
                "No item matches these filters",
                "Clear a filter above to see more of the catalogue.",
            )
        self._relayout(force=True)
        self._fit_image_height()
        if hits and self.pending_thumbnails() == 0:
            self.thumbnails_complete.emit()

    def _on_thumbnail(self, path: str) -> None:
        for card in self.visible_cards():
            assert card.hit is not None
            if str(card.hit.image_path) != path:
                continue
            pixmap = self._thumbnails.request(path, THUMBNAIL_SIDE)
            card.image.set_pixmap(pixmap, missing=pixmap is None)
        if self.visible_cards() and self.pending_thumbnails() == 0:
            self.thumbnails_complete.emit()

    # ------------------------------------------------------------------------- layout
    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._relayout()
        self._fit_image_height()

    def _fit_image_height(self) -> None:
        """Images as tall as the window allows (3:4 portrait at most), rows never scroll."""
        height = self._image_height(max(1, self._columns))
        minimum = MIN_FITTED_IMAGE_HEIGHT if self._fit_on_screen else MIN_IMAGE_HEIGHT
        for card in self.cards:
            card.image.setFixedHeight(int(max(minimum, height)))

    def _text_block(self) -> int:
        """A card's height without its image: name, details, actions and paddings."""
        if not self._fit_on_screen:
            block = TEXT_BLOCK
            if self._look_action:
                block += SECOND_ROW
            if self._reasons:
                block += REASON_BLOCK
            return block
        card = self.cards[0]
        card.ensurePolished()
        return max(60, card.sizeHint().height() - card.image.minimumHeight())

    def _image_height(self, columns: int) -> float:
        rows = -(-max(1, len(self.visible_cards()) or DEFAULT_K) // columns)
        if not self._fit_on_screen:
            rows = min(rows, -(-DEFAULT_K // columns))  # more rows than a search's: scroll
        card_width = (self.width() - self._spacing * (columns - 1)) / columns
        by_height = (self.height() - self._spacing * (rows - 1)) / rows - self._text_block()
        return min(card_width * 4 / 3 - 24, by_height)

    def _best_columns(self) -> int:
        available = max(1, self.width() - 8)
        if not self._fit_on_screen:
            by_width = (available + self._spacing) // (MIN_CARD_WIDTH + self._spacing)
            return max(1, min(DEFAULT_K, self._capacity, by_width))
        count = len(self.visible_cards()) or DEFAULT_K
        widest = (available + self._spacing) // (MIN_FITTED_CARD_WIDTH + self._spacing)
        candidates = range(1, max(1, min(DEFAULT_K, count, widest)) + 1)
        return max(candidates, key=lambda columns: (round(self._image_height(columns)), -columns))

    def _relayout(self, *, force: bool = False) -> None:
        columns = self._best_columns()
        if columns == self._columns and not force:
            return
        self._columns = columns
        for card in self.cards:
            self._grid.removeWidget(card)
        for position, card in enumerate(self.cards):
            self._grid.addWidget(card, position // columns, position % columns)
        for column in range(DEFAULT_K):
            self._grid.setColumnStretch(column, 1 if column < columns else 0)

    def _navigate(self, card: ResultCard, key: int) -> None:
        cards = self.visible_cards()
        if card not in cards:
            return
        position = cards.index(card)
        step = {
            Qt.Key.Key_Left: -1,
            Qt.Key.Key_Right: 1,
            Qt.Key.Key_Up: -self._columns,
            Qt.Key.Key_Down: self._columns,
        }.get(Qt.Key(key), 0)
        if key == Qt.Key.Key_Home:
            target = 0
        elif key == Qt.Key.Key_End:
            target = len(cards) - 1
        else:
            target = min(max(position + step, 0), len(cards) - 1)
        cards[target].setFocus(Qt.FocusReason.TabFocusReason)


def score_text(hit: SearchHit) -> str:
    """The number results are ordered by, as users see it: ``0.86 match``."""
    return f"{hit.score:.2f} match"


def score_tooltip(hit: SearchHit) -> str:
    return (
        f"Match {hit.score:.3f}: what the results are ordered by — the pictures' cosine "
        f"similarity plus the agreement of type, colour and gender, scaled to 0..1 "
        f"(1 = the same picture). Cosine similarity alone: {hit.similarity:.3f}."
    )


def _join(*parts: str | None) -> str:
    return " · ".join(p for p in parts if p)
