"""``training_curves.png``: loss and accuracy per epoch (or step), drawn with Pillow."""

from __future__ import annotations

import itertools
import math
from pathlib import Path

from fashion_desktop.core.atomic import atomic_file


def draw_training_curves(
    history: list[dict], heads: list[str], path: Path, *, axis: str = "epoch"
) -> None:
    """Loss and accuracy per ``axis`` (epoch or step; train solid, validation dashed; one colour
    per head)."""
    from PIL import Image, ImageDraw

    width, height, margin = 960, 400, 48
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    palette = [(31, 119, 180), (214, 39, 40), (44, 160, 44), (148, 103, 189), (255, 127, 14)]
    epochs = [entry[axis] for entry in history]
    panels = [
        ("loss", [("loss", "train"), ("val_loss", "val")]),
        (
            "accuracy",
            [(f"{h}_accuracy", f"{h} train") for h in heads]
            + [(f"val_{h}_accuracy", f"{h} val") for h in heads],
        ),
    ]
    panel_width = (width - margin) // 2
    for panel, (title, series) in enumerate(panels):
        left = margin + panel * panel_width
        right, top, bottom = left + panel_width - margin, margin, height - margin
        draw.rectangle((left, top, right, bottom), outline=(120, 120, 120))
        draw.text((left, 12), title, fill="black")
        values = [e[k] for e in history for k, _ in series if isinstance(e.get(k), float)]
        values = [v for v in values if math.isfinite(v)]
        if not values or not epochs:
            draw.text((left + 10, top + 10), "no data", fill="black")
            continue
        low, high = (0.0, 1.0) if title == "accuracy" else (min(values), max(values))
        if high - low < 1e-9:
            low, high = low - 0.5, high + 0.5
        first, last = min(epochs), max(epochs)
        span = max(last - first, 1)

        def point(
            epoch: float,
            value: float,
            box=(left, top, right, bottom),
            scale=(first, span, low, high),
        ) -> tuple[float, float]:
            start, length, lo, hi = scale
            x = box[0] + 10 + (epoch - start) / length * (box[2] - box[0] - 20)
            y = box[3] - (value - lo) / (hi - lo) * (box[3] - box[1])
            return x, y

        draw.text((left + 4, top + 2), f"{high:.3g}", fill=(90, 90, 90))
        draw.text((left + 4, bottom - 14), f"{low:.3g}", fill=(90, 90, 90))
        draw.text((right - 80, bottom + 6), f"{axis} {first}-{last}", fill=(90, 90, 90))
        for number, (key, label) in enumerate(series):
            colour = palette[(number % max(len(series) // 2, 1)) % len(palette)]
            dashed = key.startswith("val_")
            points = [point(e[axis], e[key]) for e in history if isinstance(e.get(key), float)]
            if not points:
                continue
            for a, b in itertools.pairwise(points):
                _draw_line(draw, a, b, colour, dashed=dashed)
            for x, y in points:
                r = 2 if dashed else 3
                draw.ellipse(
                    (x - r, y - r, x + r, y + r), outline=colour, fill=None if dashed else colour
                )
            # Loss falls and accuracy rises: the legend goes where the curves are not.
            legend_top = top + 16 if title == "loss" else bottom - 8 - 14 * len(series)
            legend_y = legend_top + 14 * number
            sample = ((right - 124, legend_y + 6), (right - 104, legend_y + 6))
            _draw_line(draw, *sample, colour, dashed=dashed)
            draw.text((right - 100, legend_y), label, fill="black")
    with atomic_file(path, "wb") as handle:
        image.save(handle, format="PNG")


def _draw_line(draw, a: tuple[float, float], b: tuple[float, float], colour, *, dashed: bool):
    """A 2-px line from ``a`` to ``b``, in 5-px dashes for validation series."""
    if not dashed:
        draw.line((a, b), fill=colour, width=2)
        return
    length = math.dist(a, b)
    steps = max(int(length // 5), 1)
    for i in range(0, steps, 2):
        t0, t1 = i / steps, min((i + 1) / steps, 1.0)
        start = (a[0] + (b[0] - a[0]) * t0, a[1] + (b[1] - a[1]) * t0)
        end = (a[0] + (b[0] - a[0]) * t1, a[1] + (b[1] - a[1]) * t1)
        draw.line((start, end), fill=colour, width=2)
