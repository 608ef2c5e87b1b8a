"""The batches ``model.fit`` reads: a ``keras.utils.PyDataset`` over catalogue items (clean and,
for photo-robust training, simulated photo views), built on first use so Keras loads lazily.
"""

from __future__ import annotations

import math

import numpy as np

from fashion_desktop.core.catalogue import CatalogueItem
from fashion_desktop.core.errors import FashionDesktopError
from fashion_desktop.core.imaging import (
    MODEL_INPUT_SIZE,
    decode_image,
    prepare_for_model,
    read_image_bytes,
)
from fashion_desktop.core.photosim import simulate_photo
from fashion_desktop.core.training.config import INSTANCE_OUTPUT, PROJECTION_OUTPUT


def _dataset_class():
    """``keras.utils.PyDataset`` over catalogue items, decoding with the project's imaging."""
    import keras

    class CatalogueDataset(keras.utils.PyDataset):
        def __init__(
            self,
            items: list[CatalogueItem],
            labels: dict[str, np.ndarray],
            class_weights: dict[str, np.ndarray] | None,
            batch_size: int,
            *,
            shuffle: bool,
            seed: int,
            epoch: int = 0,
            projection_label: str | None = None,
            photo_views: float = 0.0,
            instance_output: bool = False,
            workers: int = 1,
        ) -> None:
            super().__init__(workers=workers, use_multiprocessing=False)
            self.items = items
            self.labels = labels
            self.class_weights = class_weights
            self.batch_size = batch_size
            self.shuffle = shuffle
            self.seed = seed
            self.epoch = epoch
            self.projection_label = projection_label
            self.photo_views = photo_views
            self.instance_output = instance_output or photo_views > 0
            self.order = self._order()

        def _order(self) -> np.ndarray:
            if not self.shuffle:
                return np.arange(len(self.items))
            return np.random.default_rng((self.seed, self.epoch)).permutation(len(self.items))

        def __len__(self) -> int:
            return math.ceil(len(self.items) / self.batch_size)

        def __getitem__(self, index: int):
            rows = self.order[index * self.batch_size : (index + 1) * self.batch_size]
            views = round(len(rows) * self.photo_views) if self.photo_views > 0 else 0
            count = len(rows) + views
            images = np.empty((count, MODEL_INPUT_SIZE, MODEL_INPUT_SIZE, 3), np.uint8)
            readable = np.ones(len(rows), np.float32)
            rng = np.random.default_rng((self.seed, self.epoch, index))
            products = []
            for slot, row in enumerate(rows):
                item = self.items[row]
                try:
                    data = read_image_bytes(item.image_path)
                    product = decode_image(data, item.image_path.name)
                    images[slot] = prepare_for_model(product)
                except FashionDesktopError:  # vanished or changed since the check: weight 0
                    images[slot] = 255
                    readable[slot] = 0.0
                    product = None
                products.append(product)
            for view in range(views):  # the batch's first items again, photographed
                product = products[view]
                if product is None:
                    images[len(rows) + view] = 255
                    continue
                others = [p for p in products if p is not None and p is not product][:2]
                photo = simulate_photo(product.convert("RGB"), rng, distractors=others)
                images[len(rows) + view] = prepare_for_model(photo.image)
            paired = np.concatenate([np.arange(len(rows)), np.arange(views)])
            weight_of_view = readable[paired]
            targets, weights = {}, {}
            for name, labels in self.labels.items():
                y = labels[rows][paired]
                w = (y >= 0).astype(np.float32) * weight_of_view
                if self.class_weights is not None:
                    w *= self.class_weights[name][np.maximum(y, 0)]
                targets[name] = np.maximum(y, 0)
                weights[name] = w
            if self.projection_label is not None:
                y = self.labels[self.projection_label][rows][paired]
                targets[PROJECTION_OUTPUT] = np.where(weight_of_view > 0, y, -1).astype(np.int32)
                weights[PROJECTION_OUTPUT] = weight_of_view.copy()
            if self.instance_output:
                targets[INSTANCE_OUTPUT] = np.where(weight_of_view > 0, paired, -1).astype(np.int32)
                weights[INSTANCE_OUTPUT] = weight_of_view.copy()
            return images, targets, weights

        def on_epoch_end(self) -> None:
            self.epoch += 1
            self.order = self._order()

    return CatalogueDataset
