"""The Clients page: the client book's list, and per client a profile, history, likes, looks
and "Recommended for NAME" as the same result cards as a search.

The panel reads and writes the book through the core's :class:`ClientBook` (every write one
transaction); what needs the index — recommendations and history imports — it asks of the
window (``recommendations_wanted``, ``import_requested``), which runs them on the client worker
(:mod:`fashion_desktop.gui.client_worker`) and hands the answers back.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDialog,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QMenu,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from fashion_desktop.core.catalogue import display_name
from fashion_desktop.core.clients import ClientBook, ClientProfile, ItemSnapshot
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.history import ImportReport, history_columns
from fashion_desktop.core.looks import export_look
from fashion_desktop.core.recommend import Recommendation, RecommendationList, format_day
from fashion_desktop.core.search import SearchHit, SearchResponse
from fashion_desktop.gui.background import run_in_background
from fashion_desktop.gui.icons import icon, icon_size
from fashion_desktop.gui.models import ResultsModel
from fashion_desktop.gui.thumbnails import ThumbnailLoader
from fashion_desktop.gui.widgets.look_view import EXPORT_KINDS as LOOK_EXPORT_KINDS
from fashion_desktop.gui.widgets.notice import NoticeBanner
from fashion_desktop.gui.widgets.profile_editor import ProfileEditor
from fashion_desktop.gui.widgets.results import EmptyState, ResultGrid

RECOMMENDATIONS = 10
CLIENT_EXPORT_KINDS = {
    "json": ("Everything as JSON", "JSON files (*.json)"),
    "csv": ("Everything as CSV", "CSV files (*.csv)"),
}
HISTORY_FILE_FILTER = "Purchase histories (*.csv *.txt);;All files (*)"
PROBLEMS_SHOWN = 200
TABS = ("recommended", "profile", "history", "opinions", "looks")


def hit_of(recommendation: Recommendation) -> SearchHit:
    """A recommendation as the result cards show items (its score is the blend's, not a match)."""
    return SearchHit(
        rank=recommendation.rank,
        item_id=recommendation.item_id,
        score=recommendation.score,
        image_path=Path(recommendation.image),
        metadata=dict(recommendation.metadata),
        row=recommendation.row,
        similarity=recommendation.score,
    )


def item_snapshot(hit: SearchHit) -> ItemSnapshot:
    name = display_name(hit.item_id, hit.metadata)
    return ItemSnapshot(hit.item_id, name, str(hit.image_path), dict(hit.metadata))


class ImportProblemsDialog(QDialog):
    """A history with problems: each one with its line; nothing imported unless the user asks
    for the valid rows alone. Non-modal."""

    import_valid = Signal()

    def __init__(self, report: ImportReport, file_name: str, parent: QWidget | None = None):
        super().__init__(parent)
        self.setObjectName("ImportProblems")
        self.setWindowTitle("Purchase history not imported")
        check = report.check
        valid = len(check.rows)
        title = QLabel(
            f"{check.problem_count:,} problem{'s' if check.problem_count != 1 else ''} in "
            f"{file_name}: nothing was imported"
        )
        title.setObjectName("DetailTitle")
        title.setWordWrap(True)
        summary = QLabel(
            f"{valid:,} of {check.total_rows:,} rows are valid. Fix the file and import it "
            "again, or import the valid rows alone."
        )
        summary.setWordWrap(True)
        self.problems = QPlainTextEdit()
        self.problems.setObjectName("ProblemList")
        self.problems.setReadOnly(True)
        shown = [str(problem) for problem in check.problems[:PROBLEMS_SHOWN]]
        if check.problem_count > len(shown):
            shown.append(f"… and {check.problem_count - len(shown):,} more")
        self.problems.setPlainText("\n".join(shown))
        self.import_button = QPushButton(f"Import the {valid:,} valid rows")
        self.import_button.setObjectName("PrimaryButton")
        self.import_button.setEnabled(valid > 0)
        self.import_button.clicked.connect(self._import_valid)
        cancel = QPushButton("Import nothing")
        cancel.clicked.connect(self.reject)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(cancel)
        buttons.addWidget(self.import_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(20, 18, 20, 18)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addWidget(summary)
        layout.addWidget(self.problems, 1)
        layout.addLayout(buttons)
        self.resize(620, 420)

    def _import_valid(self) -> None:
        self.import_valid.emit()
        self.accept()


class ClientsPanel(QFrame):
    """The Clients page (see the module docstring)."""

    #: The chosen client ("" when none): the window's current client.
    client_selected = Signal(str)
    #: The book changed for this client in a way recommendations depend on (profile, opinions,
    #: purchases): the window asks for fresh ones.
    recommendations_wanted = Signal(str)
    #: (history file, import the valid rows of a file with problems)
    import_requested = Signal(object, bool)
    #: The current client's likes/dislikes changed (the cards show them).
    opinions_changed = Signal()
    #: A client was forgotten (their name): the window drops them everywhere.
    forgotten = Signal(str)
    notice = Signal(str, str)  # level, message
    export_finished = Signal(str)  # path

    def __init__(
        self,
        book: ClientBook | None,
        thumbnails: ThumbnailLoader,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.setObjectName("ClientsPanel")
        self.book = book
        self._thumbnails = thumbnails
        self._client = ""
        self.forget_dialog: QMessageBox | None = None
        self.problems_dialog: ImportProblemsDialog | None = None
        self._build()
        self.reload_clients()

    # ============================================================================= build
    def _build(self) -> None:
        # -- the list
        side = QFrame()
        side.setObjectName("ClientList")
        side.setFixedWidth(260)
        heading = QLabel("CLIENTS")
        heading.setObjectName("SectionLabel")
        self.count_label = QLabel("")
        self.count_label.setObjectName("MutedLabel")
        heading_row = QHBoxLayout()
        heading_row.addWidget(heading)
        heading_row.addStretch(1)
        heading_row.addWidget(self.count_label)
        self.search_edit = QLineEdit()
        self.search_edit.setObjectName("ClientSearch")
        self.search_edit.setPlaceholderText("Search clients…")
        self.search_edit.setClearButtonEnabled(True)
        self.search_edit.textChanged.connect(self._filter_list)
        self.client_list = QListWidget()
        self.client_list.setObjectName("ClientListView")
        self.client_list.setIconSize(icon_size(18))
        self.client_list.currentItemChanged.connect(self._on_list_choice)
        self.new_client_edit = QLineEdit()
        self.new_client_edit.setObjectName("NewClient")
        self.new_client_edit.setPlaceholderText("New client name…")
        self.new_client_edit.returnPressed.connect(self._add_from_edit)
        add = QToolButton()
        add.setObjectName("IconButton")
        add.setIcon(icon("plus"))
        add.setToolTip("Add this client")
        add.clicked.connect(self._add_from_edit)
        new_row = QHBoxLayout()
        new_row.setSpacing(6)
        new_row.addWidget(self.new_client_edit, 1)
        new_row.addWidget(add)
        self.import_button = QPushButton(icon("open"), "Import history…")
        self.import_button.setToolTip(
            f"Add purchases from a point-of-sale export (columns {history_columns()}); every "
            "row is checked first"
        )
        self.import_button.clicked.connect(self.import_with_dialog)
        side_layout = QVBoxLayout(side)
        side_layout.setContentsMargins(18, 16, 14, 16)
        side_layout.setSpacing(8)
        side_layout.addLayout(heading_row)
        side_layout.addWidget(self.search_edit)
        side_layout.addWidget(self.client_list, 1)
        side_layout.addLayout(new_row)
        side_layout.addWidget(self.import_button)

        # -- one client
        self.notice_banner = NoticeBanner()
        self.name_label = QLabel("")
        self.name_label.setObjectName("ClientName")
        self.summary_label = QLabel("")
        self.summary_label.setObjectName("MutedLabel")
        names = QVBoxLayout()
        names.setSpacing(2)
        names.addWidget(self.name_label)
        names.addWidget(self.summary_label)
        self.export_button = QPushButton(icon("export"), "Export")
        self.export_button.setToolTip("Everything the book holds about this client, as a file")
        menu = QMenu(self.export_button)
        for kind, (label, _pattern) in CLIENT_EXPORT_KINDS.items():

            def export(k: str = kind) -> None:
                self.export_with_dialog(k)

            menu.addAction(label, export)
        self.export_button.setMenu(menu)
        self.forget_button = QPushButton(icon("trash"), "Forget client…")
        self.forget_button.setObjectName("DangerButton")
        self.forget_button.setToolTip("Delete everything about this client from this computer")
        self.forget_button.clicked.connect(self.confirm_forget)
        head = QHBoxLayout()
        head.addLayout(names, 1)
        head.addWidget(self.export_button, 0, Qt.AlignmentFlag.AlignTop)
        head.addWidget(self.forget_button, 0, Qt.AlignmentFlag.AlignTop)

        self.tabs = QTabWidget()
        self.tabs.setObjectName("ClientTabs")
        self.tabs.setDocumentMode(True)
        self.tabs.addTab(self._build_recommended(), icon("similar"), "Recommended")
        self.profile_editor = ProfileEditor()
        self.profile_editor.save_requested.connect(self.save_profile)
        self.tabs.addTab(self.profile_editor, icon("client"), "Profile")
        self.tabs.addTab(self._build_history(), icon("catalogue"), "History")
        self.tabs.addTab(self._build_opinions(), icon("thumbs-up"), "Likes")
        self.tabs.addTab(self._build_looks(), icon("look"), "Looks")

        detail = QWidget()
        detail.setObjectName("ClientDetail")
        detail_layout = QVBoxLayout(detail)
        detail_layout.setContentsMargins(0, 0, 0, 0)
        detail_layout.setSpacing(10)
        detail_layout.addLayout(head)
        detail_layout.addWidget(self.tabs, 1)
        self.empty = EmptyState()
        self.empty.set_state(
            "client",
            "Choose a client, or add one",
            "Profiles, purchase histories, likes and looks stay on this computer.",
        )
        self.detail_stack = QStackedWidget()
        self.detail_stack.addWidget(self.empty)
        self.detail_stack.addWidget(detail)
        right = QFrame()
        right.setObjectName("ClientPage")
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(24, 16, 24, 16)
        right_layout.setSpacing(10)
        right_layout.addWidget(self.notice_banner)
        right_layout.addWidget(self.detail_stack, 1)

        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(side)
        layout.addWidget(right, 1)

    def _build_recommended(self) -> QWidget:
        page = QWidget()
        self.recommended_title = QLabel("Recommended")
        self.recommended_title.setObjectName("ResultsTitle")
        self.recommended_subtitle = QLabel("")
        self.recommended_subtitle.setObjectName("MutedLabel")
        self.recommended_subtitle.setWordWrap(True)
        self.refresh_button = QPushButton(icon("reset"), "Refresh")
        self.refresh_button.setToolTip("Recommend again from the book as it is now")
        self.refresh_button.clicked.connect(self.request_recommendations)
        titles = QVBoxLayout()
        titles.setSpacing(2)
        titles.addWidget(self.recommended_title)
        titles.addWidget(self.recommended_subtitle)
        top = QHBoxLayout()
        top.addLayout(titles, 1)
        top.addWidget(self.refresh_button, 0, Qt.AlignmentFlag.AlignBottom)
        self.recommendations_model = ResultsModel(self)
        self.recommendation_grid = ResultGrid(
            self.recommendations_model,
            self._thumbnails,
            capacity=RECOMMENDATIONS,
            show_scores=False,
        )
        self.recommendation_grid.setObjectName("RecommendationGrid")
        self.recommendation_grid.show_message(
            "client", "No recommendations yet", "Choose a client to see what to show them next."
        )
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.setSpacing(10)
        layout.addLayout(top)
        layout.addWidget(self.recommendation_grid, 1)
        return page

    def _build_history(self) -> QWidget:
        page = QWidget()
        self.history_table = QTableWidget(0, 5)
        self.history_table.setObjectName("HistoryTable")
        self.history_table.setHorizontalHeaderLabels(["Date", "Item", "ID", "Qty", "Price"])
        self.history_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.history_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.history_table.setAlternatingRowColors(True)
        self.history_table.verticalHeader().setVisible(False)
        header = self.history_table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        header.setSectionResizeMode(1, QHeaderView.ResizeMode.Stretch)
        self.history_label = QLabel("")
        self.history_label.setObjectName("MutedLabel")
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addWidget(self.history_label)
        layout.addWidget(self.history_table, 1)
        return page

    def _build_opinions(self) -> QWidget:
        page = QWidget()
        self.opinion_list = QListWidget()
        self.opinion_list.setObjectName("OpinionList")
        self.opinion_list.setIconSize(icon_size(18))
        self.opinion_list.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        hint = QLabel("Like or dislike items with the thumbs on any result card.")
        hint.setObjectName("MutedLabel")
        self.clear_opinion_button = QPushButton(icon("trash"), "Forget opinion")
        self.clear_opinion_button.clicked.connect(self.clear_selected_opinions)
        buttons = QHBoxLayout()
        buttons.addWidget(hint, 1)
        buttons.addWidget(self.clear_opinion_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.opinion_list, 1)
        return page

    def _build_looks(self) -> QWidget:
        page = QWidget()
        self.look_list = QListWidget()
        self.look_list.setObjectName("LookList")
        self.look_list.setIconSize(icon_size(18))
        hint = QLabel('Use "Complete the look" on any result card to build and save a look.')
        hint.setObjectName("MutedLabel")
        hint.setWordWrap(True)
        self.export_look_button = QPushButton(icon("export"), "Export")
        menu = QMenu(self.export_look_button)
        for kind, (label, _pattern) in LOOK_EXPORT_KINDS.items():

            def export(k: str = kind) -> None:
                self.export_look_with_dialog(k)

            menu.addAction(label, export)
        self.export_look_button.setMenu(menu)
        self.remove_look_button = QPushButton(icon("trash"), "Remove")
        self.remove_look_button.clicked.connect(self.remove_selected_look)
        buttons = QHBoxLayout()
        buttons.addWidget(hint, 1)
        buttons.addWidget(self.export_look_button)
        buttons.addWidget(self.remove_look_button)
        layout = QVBoxLayout(page)
        layout.setContentsMargins(0, 12, 0, 0)
        layout.addLayout(buttons)
        layout.addWidget(self.look_list, 1)
        return page

    # =========================================================================== clients
    @property
    def client(self) -> str:
        return self._client

    def clients(self) -> list[str]:
        return self.book.clients() if self.book is not None else []

    def reload_clients(self, select: str | None = None) -> None:
        """The list from the book (the current client kept, or ``select``)."""
        wanted = self._client if select is None else select
        names = self.clients()
        self.client_list.blockSignals(True)
        self.client_list.clear()
        for name in names:
            item = QListWidgetItem(icon("client"), name)
            item.setData(Qt.ItemDataRole.UserRole, name)
            self.client_list.addItem(item)
        self.client_list.blockSignals(False)
        self.count_label.setText(f"{len(names):,}" if names else "")
        self._filter_list(self.search_edit.text())
        self.set_client(wanted if wanted in names else "")

    def set_client(self, name: str) -> None:
        """Show ``name`` (an existing client, or "" for none); emits ``client_selected``."""
        if self.book is None or (name and name not in self.clients()):
            name = ""
        changed = name != self._client
        self._client = name
        self.client_list.blockSignals(True)
        for row in range(self.client_list.count()):
            item = self.client_list.item(row)
            if item is not None and item.data(Qt.ItemDataRole.UserRole) == name:
                self.client_list.setCurrentItem(item)
                break
        else:
            self.client_list.setCurrentRow(-1)
        self.client_list.blockSignals(False)
        self.detail_stack.setCurrentIndex(1 if name else 0)
        if changed:
            self.recommendations_model.set_response(None)
            self.recommendation_grid.set_reasons({})
            self.recommended_subtitle.setText("")
        self.reload()
        if changed:
            self.client_selected.emit(name)

    def add_client(self, name: str) -> str:
        """Create a client (or find the existing one) and show them; "" on a bad name."""
        if self.book is None:
            self.notice.emit("error", "The client book is unavailable.")
            return ""
        try:
            stored = self.book.add_client(name)
        except FashionDesktopError as error:
            self.notice.emit("warning", str(error))
            return ""
        self.search_edit.clear()
        self.reload_clients(select=stored)
        return stored

    def _add_from_edit(self) -> None:
        name = self.new_client_edit.text()
        if name.strip() and self.add_client(name):
            self.new_client_edit.clear()

    def _filter_list(self, text: str) -> None:
        needle = text.casefold().strip()
        for row in range(self.client_list.count()):
            item = self.client_list.item(row)
            if item is not None:
                item.setHidden(needle not in item.text().casefold())

    def visible_clients(self) -> list[str]:
        return [
            item.text()
            for row in range(self.client_list.count())
            if (item := self.client_list.item(row)) is not None and not item.isHidden()
        ]

    def _on_list_choice(self, current: QListWidgetItem | None, _previous) -> None:
        if current is not None:
            self.set_client(str(current.data(Qt.ItemDataRole.UserRole)))

    # ============================================================================ detail
    def reload(self) -> None:
        """The current client's profile, history, likes and looks from the book."""
        book, name = self.book, self._client
        if book is None or not name:
            return
        try:
            profile = book.profile(name)
            purchases = book.purchases(name)
            opinions = book.opinions(name)
            looks = book.looks(name)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
            return
        self.name_label.setText(name)
        likes = sum(1 for o in opinions if o.opinion == "like")
        summary = [
            profile.gender or "gender not set",
            _count(len(purchases), "purchase"),
            _count(likes, "like"),
            _count(len(opinions) - likes, "dislike"),
            _count(len(looks), "look"),
        ]
        self.summary_label.setText(" · ".join(summary))
        self.recommended_title.setText(f"Recommended for {name}")
        self.profile_editor.set_profile(profile)
        self._show_history(purchases)
        self.opinion_list.clear()
        for opinion in reversed(opinions):
            item = QListWidgetItem(
                icon("thumbs-up", "#059669")
                if opinion.opinion == "like"
                else icon("thumbs-down", "#dc2626"),
                f"{opinion.name or 'Item ' + opinion.item_id} · ID {opinion.item_id}",
            )
            item.setData(Qt.ItemDataRole.UserRole, opinion.item_id)
            item.setToolTip(f"{opinion.opinion.capitalize()}d on {opinion.added[:10]}")
            self.opinion_list.addItem(item)
        self.clear_opinion_button.setEnabled(bool(opinions))
        self.look_list.clear()
        for look in reversed(looks):
            item = QListWidgetItem(
                icon("look"),
                f"{look.name} · {len(look.items)} items · {format_day(look.created)}",
            )
            item.setData(Qt.ItemDataRole.UserRole, look.look_id)
            item.setToolTip(
                "\n".join(f"{i.get('slot', '')}: {i.get('name', '')}" for i in look.items)
            )
            self.look_list.addItem(item)
        self.export_look_button.setEnabled(bool(looks))
        self.remove_look_button.setEnabled(bool(looks))
        for position, count in ((2, len(purchases)), (3, len(opinions)), (4, len(looks))):
            base = ("History", "Likes", "Looks")[position - 2]
            self.tabs.setTabText(position, f"{base} ({count})" if count else base)

    def _show_history(self, purchases) -> None:
        table = self.history_table
        table.setRowCount(len(purchases))
        for row, purchase in enumerate(reversed(purchases)):
            price = "" if purchase.price is None else f"{purchase.price:,.2f}"
            values = (
                purchase.date[:10],
                purchase.name or f"Item {purchase.item_id}",
                purchase.item_id,
                str(purchase.quantity),
                price,
            )
            for column, text in enumerate(values):
                cell = QTableWidgetItem(text)
                if column >= 3:
                    cell.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                table.setItem(row, column, cell)
        total = sum(p.quantity for p in purchases)
        self.history_label.setText(
            f"{_count(len(purchases), 'purchase')}, {_count(total, 'item')}, newest first"
            if purchases
            else "No purchases yet: import a history from the point of sale (left)."
        )

    def opinions(self) -> dict[str, str]:
        """The current client's likes and dislikes, item id → opinion."""
        if self.book is None or not self._client:
            return {}
        return {o.item_id: o.opinion for o in self.book.opinions(self._client)}

    # ========================================================================== writes
    def save_profile(self, profile: ClientProfile) -> bool:
        if self.book is None or not self._client:
            self.notice.emit("warning", "Choose a client first.")
            return False
        try:
            self.book.set_profile(self._client, profile)
        except FashionDesktopError as error:
            self.notice.emit("warning", str(error))
            return False
        self.reload()
        self.notice.emit("info", f"Saved {self._client}'s profile.")
        self.recommendations_wanted.emit(self._client)
        return True

    def set_opinion(self, hit: SearchHit, opinion: str) -> bool:
        """Like / dislike (or forget the opinion of) an item for the current client."""
        if self.book is None or not self._client:
            self.notice.emit(
                "warning", "Choose a client on the Clients page to like or dislike items."
            )
            self.opinions_changed.emit()  # the cards go back to the stored state
            return False
        try:
            if opinion == "like":
                self.book.set_opinion(self._client, item_snapshot(hit), "like")
            elif opinion == "dislike":
                self.book.set_opinion(self._client, item_snapshot(hit), "dislike")
            else:
                self.book.set_opinion(self._client, item_snapshot(hit), None)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
            self.opinions_changed.emit()
            return False
        self.reload()
        self.opinions_changed.emit()
        self.recommendations_wanted.emit(self._client)
        return True

    def clear_selected_opinions(self) -> None:
        if self.book is None or not self._client:
            return
        selected = self.opinion_list.selectedItems()
        ids = [str(item.data(Qt.ItemDataRole.UserRole)) for item in selected]
        try:
            for item_id in ids:
                self.book.set_opinion(self._client, ItemSnapshot(item_id), None)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
        if ids:
            self.reload()
            self.opinions_changed.emit()
            self.recommendations_wanted.emit(self._client)

    def remove_selected_look(self) -> None:
        item = self.look_list.currentItem()
        if self.book is None or not self._client or item is None:
            return
        try:
            self.book.remove_look(self._client, int(item.data(Qt.ItemDataRole.UserRole)))
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
        self.reload()

    # ================================================================= recommendations
    def request_recommendations(self) -> None:
        if self._client:
            self.recommended_subtitle.setText("Finding what to show next…")
            self.recommendations_wanted.emit(self._client)

    def show_recommendations(self, answer: RecommendationList) -> None:
        if answer.client != self._client:
            return
        hits = [hit_of(r) for r in answer.results]
        self.recommendation_grid.set_reasons({r.item_id: r.reasons for r in answer.results})
        self.recommendations_model.set_response(
            SearchResponse(f"Recommended for {answer.client}", hits)
        )
        if not hits:
            self.recommendation_grid.show_message(
                "filter",
                f"Nothing fits {answer.client}'s rules",
                "Loosen the avoided colours, types or usages in the profile.",
            )
        notes = " ".join(answer.notes)
        elapsed = f"{len(hits)} items, chosen in {answer.elapsed_ms:,.0f} ms"
        self.recommended_subtitle.setText(f"{notes} {elapsed}".strip())

    def recommendations_failed(self, message: str) -> None:
        self.recommended_subtitle.setText("")
        self.notice.emit("error", message)

    # ========================================================================== history
    def import_with_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(
            self, "Import a purchase history", str(Path.home()), HISTORY_FILE_FILTER
        )
        if path:
            self.import_history(Path(path))

    def import_history(self, path: Path, *, skip_invalid: bool = False) -> None:
        self._import_path = Path(path)
        self.import_button.setEnabled(False)
        self.import_button.setText("Importing…")
        self.import_requested.emit(Path(path), skip_invalid)

    def import_finished(self, report: ImportReport) -> None:
        self._end_import()
        path = getattr(self, "_import_path", Path("the history"))
        if not report.imported:
            dialog = ImportProblemsDialog(report, path.name, self)
            dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
            dialog.import_valid.connect(lambda: self.import_history(path, skip_invalid=True))
            dialog.destroyed.connect(lambda: setattr(self, "problems_dialog", None))
            self.problems_dialog = dialog
            dialog.show()  # modeless: the window stays usable
            self.notice.emit(
                "warning",
                f"{path.name} was not imported: {report.check.problem_count:,} rows have "
                "problems (listed in the dialog).",
            )
            return
        parts = [f"Imported {report.added:,} purchases from {path.name}"]
        if report.already_present:
            parts.append(f"{report.already_present:,} were already in the book")
        if report.skipped:
            parts.append(f"{report.skipped:,} rows with problems skipped")
        if report.clients_created:
            parts.append(f"{_count(len(report.clients_created), 'new client')}")
        self.notice.emit("info", "; ".join(parts) + ".")
        created = report.clients_created
        self.reload_clients(select=self._client or (created[0] if created else ""))
        if self._client:
            self.recommendations_wanted.emit(self._client)

    def import_failed(self, message: str) -> None:
        self._end_import()
        self.notice.emit("error", message)

    def _end_import(self) -> None:
        self.import_button.setEnabled(True)
        self.import_button.setText("Import history…")

    # =========================================================================== export
    def export_with_dialog(self, kind: str) -> None:
        _label, pattern = CLIENT_EXPORT_KINDS[kind]
        default = f"{_safe_file_name(self._client) or 'client'}.{kind}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export {self._client}", default, pattern)
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            self.export(kind, Path(path))

    def export(self, kind: str, path: Path) -> bool:
        """Write the current client's data (JSON or CSV; the core's one atomic export)."""
        if self.book is None or not self._client:
            self.notice.emit("warning", "Choose a client first.")
            return False
        try:
            self.book.export(self._client, path, kind)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
            return False
        self.notice.emit("info", f"Exported everything about {self._client} to {path}.")
        self.export_finished.emit(str(path))
        return True

    def export_look_with_dialog(self, kind: str) -> None:
        item = self.look_list.currentItem() or self.look_list.item(0)
        if item is None:
            return
        label, pattern = LOOK_EXPORT_KINDS[kind]
        path, _ = QFileDialog.getSaveFileName(self, f"Export the look ({label})", "", pattern)
        if path:
            if not path.lower().endswith(f".{kind}"):
                path += f".{kind}"
            self.export_look(int(item.data(Qt.ItemDataRole.UserRole)), Path(path))

    def export_look(self, look_id: int, path: Path) -> None:
        """Export a saved look with the client's shortlist (on a pool thread)."""
        if self.book is None or not self._client:
            return
        look = next((x for x in self.book.looks(self._client) if x.look_id == look_id), None)
        if look is None:
            return
        data = {"items": look.items}
        shortlist = self.book.entries(self._client)
        title = f"{look.name} · for {self._client}"

        def job() -> Path:
            export_look(data, path, shortlist=shortlist, title=title)
            return path

        run_in_background(
            job,
            lambda done: self._exported_look(Path(done)),
            lambda message: self.notice.emit("error", message),
        )

    def _exported_look(self, path: Path) -> None:
        self.notice.emit("info", f"Exported the look to {path}.")
        self.export_finished.emit(str(path))

    # =========================================================================== forget
    def confirm_forget(self) -> QMessageBox | None:
        """Ask before deleting everything about the current client (non-modal)."""
        if not self._client:
            return None
        name = self._client
        box = QMessageBox(
            QMessageBox.Icon.Warning,
            f"Forget {name}?",
            f"Delete everything about {name} from this computer: profile, purchase history, "
            "likes and dislikes, saved looks and shortlist. This cannot be undone; export "
            "the client first to keep a copy.",
            QMessageBox.StandardButton.Cancel,
            self,
        )
        forget = box.addButton(f"Forget {name}", QMessageBox.ButtonRole.DestructiveRole)
        box.setDefaultButton(QMessageBox.StandardButton.Cancel)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)

        def done() -> None:
            if box.clickedButton() is forget:
                self.forget(name)

        box.finished.connect(lambda _result: done())
        box.destroyed.connect(lambda: setattr(self, "forget_dialog", None))
        self.forget_dialog = box
        box.open()
        return box

    def forget(self, name: str) -> bool:
        if self.book is None:
            return False
        try:
            removed = self.book.forget(name)
        except FashionDesktopError as error:
            self.notice.emit("error", str(error))
            return False
        if name == self._client:
            self._client = ""
        self.reload_clients(select="")
        what = ", ".join(f"{count} {kind}" for kind, count in removed.items() if count)
        self.notice.emit("info", f"Forgot {name}" + (f" ({what} deleted)." if what else "."))
        self.forgotten.emit(name)
        self.client_selected.emit("")
        return True


def _count(count: int, noun: str) -> str:
    return f"{count:,} {noun}{'' if count == 1 else 's'}"


def _safe_file_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in name).strip("-")
