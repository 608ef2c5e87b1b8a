"""Training on catalogue shots and real photographs together (JAX backend, on an accelerator).

Real photos are what kiosks and stylists search with, and a model trained on product thumbnails
alone misreads them. This trainer fine-tunes the product's backbone and its classifier heads on
two domains at once:

* **catalogue items** (``styles.csv``): every head (article type, colour, gender) learns from them;
* **labelled real photos** (any catalogue-style CSV with ``masterCategory``, ``subCategory`` and,
  where known, ``articleType``): they carry no colour or gender label, so only the article-type
  head learns from them, with a *partial label*: the set of article types their labels allow
  (``Pants`` → every Bottomwear type), ``-log Σ_{allowed} p(type)``;
* **cross-domain alignment**: each photo is paired with a catalogue item of an allowed type, and
  a multi-positive contrastive term on the L2-normalised embedding (the space search uses) pulls
  the photo towards the batch's catalogue items of its kind and away from the others;
* **instance views** (``instance_views`` > 0, off by default): simulated photos of ``train``
  catalogue items (:func:`fashion_desktop.core.photosim.simulate_photo`, a bank made on the host
  before training: simulating is CPU work the accelerator must not wait for) join each step with
  their clean item; the heads learn their labels, and a contrastive term pairs each simulated
  photo with its own item against the other items of the step (exact-product invariance, which
  real photos cannot teach: none of them shows a catalogue item);
* **an anchor** (``anchor_weight`` > 0, off by default): the cosine distance of each catalogue
  item's and real photo's embedding from the one the starting weights give the same augmented
  image (a frozen copy of the trainable weights), so that a fine-tune which teaches something
  new (the instance views) keeps what the starting model already does well (real photos
  among their kind of catalogue items). It costs a second forward pass of those images.

Batches are domain-balanced (uniform catalogue items, photos, and their catalogue partners).
Augmentation runs on the accelerator as one affine resampling per image: for catalogue shots the
gentle geometry the bundled model was trained with (flip, ±11° rotation, ±15% zoom, ±6% shift on
white), for photos a random resized crop (35–100% of the area), flip, ±10° rotation, mild
brightness/contrast and, for some, a catalogue-like low resolution. No hue changes: colour is a
label. Batch normalisation stays in inference mode (as in :mod:`.loop`), so the running
statistics the embeddings depend on never drift.

All images are decoded once with the product's exact preprocessing
(:func:`imaging.prepare_for_model`) and held in host memory as uint8; a run is bounded by
wall-clock seconds (the schedule is fitted to the step time measured at the start and then kept).
A run checkpoints itself every few minutes and on Ctrl-C, and the same command resumes it
(:mod:`.photo_checkpoint`): on a CPU a useful run lasts hours. Keras, JAX and optax are imported
inside functions only. The inputs and their augmentation are in :mod:`.photo_data`, the
measurements that pick the best variant in :mod:`.photo_eval`.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fashion_desktop.core import training_defaults as defaults
from fashion_desktop.core.export import export_trained_model
from fashion_desktop.core.heads import ClassifierHead, ClassifierHeads
from fashion_desktop.core.index import file_sha256
from fashion_desktop.core.training.config import TrainingInterruptedError
from fashion_desktop.core.training.curves import draw_training_curves
from fashion_desktop.core.training.data import read_split_file
from fashion_desktop.core.training.model import configure_precision, freeze_stages
from fashion_desktop.core.training.photo_checkpoint import PhotoRunCheckpoint, VariantCheckpoint
from fashion_desktop.core.training.photo_data import (
    HEADS,
    TYPE_HEAD,
    DomainData,
    PhotoTrainingError,
    augment_catalogue,
    augment_photos,
    caffe,
    load_domains,
)
from fashion_desktop.core.training.photo_eval import (
    evaluate_model,
    load_evaluation_set,
    selection_score,
)

#: Steps timed after compilation to fit the schedule to the time budget.
TIMING_STEPS = 5
#: How often a run saves its progress (and on Ctrl-C).
CHECKPOINT_SECONDS = 600.0


@dataclass
class MixedTrainingConfig:
    """Options of one mixed-domain run (recorded in the report)."""

    seconds: float = defaults.PHOTO_SECONDS
    #: a fixed number of steps instead of the time budget (0: fit the steps to ``seconds``)
    steps: int = 0
    catalogue_batch: int = defaults.PHOTO_CATALOGUE_BATCH
    learning_rate: float = defaults.PHOTO_LEARNING_RATE
    head_learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    frozen_stages: int = defaults.PHOTO_FROZEN_STAGES
    photo_weight: float = 1.0
    alignment_weight: float = defaults.PHOTO_ALIGNMENT_WEIGHT
    temperature: float = 0.1
    low_resolution_share: float = 0.3
    low_resolution_side: int = 80
    #: simulated photos of catalogue items per step (0: none), paired with their clean items
    instance_views: int = 0
    instance_weight: float = 0.5
    #: weight of the heads' cross-entropy on the simulated photos (their items' labels)
    instance_head_weight: float = 1.0
    #: weight of a term making the heads read a simulated photo as they read its item (the
    #: item's class distributions, held fixed, as soft targets): the label signatures the
    #: ranking compares agree for a photo of a catalogue item and the item
    instance_consistency_weight: float = 0.0
    #: simulated photos made before training (each step samples from them)
    instance_bank: int = 4096
    #: weight of the anchor to the starting model's embeddings of catalogue items and photos
    anchor_weight: float = 0.0
    seed: int = 0

    @property
    def photo_batch(self) -> int:
        """Photos per step; as many catalogue partners join them (domain-balanced batches)."""
        return max(1, self.catalogue_batch // 2)


# ---------------------------------------------------------------------------------- losses
def _soft_cross_entropy(logits, targets):
    """Mean cross-entropy of ``logits`` against target distributions (rows summing to 1)."""
    import jax

    return -(targets * jax.nn.log_softmax(logits)).sum(axis=1).mean()


def _masked_cross_entropy(logits, labels):
    import jax
    import jax.numpy as jnp

    valid = labels >= 0
    log_p = jax.nn.log_softmax(logits)
    picked = jnp.take_along_axis(log_p, jnp.maximum(labels, 0)[:, None], axis=1)[:, 0]
    return -(picked * valid).sum() / jnp.maximum(valid.sum(), 1)


def _partial_label_loss(logits, allowed):
    """``-log Σ_{c allowed} p(c)``: the photo is one of these types, we do not say which."""
    import jax
    import jax.numpy as jnp

    log_p = jax.nn.log_softmax(logits)
    return -jax.nn.logsumexp(jnp.where(allowed, log_p, -jnp.inf), axis=1).mean()


def _alignment_loss(photo_unit, catalogue_unit, positives, temperature: float):
    """Multi-positive contrastive term: photos against the batch's catalogue items."""
    import jax
    import jax.numpy as jnp

    logits = photo_unit @ catalogue_unit.T / temperature
    log_prob = logits - jax.nn.logsumexp(logits, axis=1, keepdims=True)
    has = positives.any(axis=1)
    per_anchor = -jax.nn.logsumexp(jnp.where(positives, log_prob, -jnp.inf), axis=1)
    return jnp.where(has, per_anchor, 0.0).sum() / jnp.maximum(has.sum(), 1)


def _anchor_loss(unit, teacher_z):
    """Mean cosine distance of the embeddings from the starting model's (no gradient there)."""
    import jax
    import jax.numpy as jnp

    teacher = jax.lax.stop_gradient(teacher_z)
    teacher_unit = teacher / jnp.linalg.norm(teacher, axis=1, keepdims=True)
    return jnp.mean(1.0 - jnp.sum(unit * teacher_unit, axis=1))


def _instance_loss(photo_unit, clean_unit, temperature: float):
    """Each simulated photo against the step's clean items: its own item is the positive."""
    import jax
    import jax.numpy as jnp

    logits = photo_unit @ clean_unit.T / temperature
    return -jnp.mean(jnp.diagonal(jax.nn.log_softmax(logits, axis=1)))


def make_instance_bank(
    cat: DomainData, count: int, seed: int, *, threads: int = 8
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` simulated photos of random catalogue items: (item rows, (count, 224, 224, 3)
    uint8 images prepared exactly as queries are), deterministic for ``seed``."""
    from concurrent.futures import ThreadPoolExecutor

    from PIL import Image

    from fashion_desktop.core.imaging import prepare_for_model
    from fashion_desktop.core.photosim import simulate_photo

    rows = np.random.default_rng(seed).integers(0, len(cat.ids), count)

    def one(position: int) -> np.ndarray:
        rng = np.random.default_rng([seed, position])
        product = Image.fromarray(cat.images[rows[position]])
        others = [Image.fromarray(cat.images[r]) for r in rng.integers(0, len(cat.ids), 2)]
        return prepare_for_model(simulate_photo(product, rng, distractors=others).image)

    with ThreadPoolExecutor(max(1, threads)) as pool:
        images = np.stack(list(pool.map(one, range(count))))
    return rows, images


def instance_bank_for(
    cat: DomainData,
    config: MixedTrainingConfig,
    *,
    checkpoint: PhotoRunCheckpoint | None = None,
    log: Callable[[str], None] = print,
) -> tuple[np.ndarray, np.ndarray]:
    """The run's simulated instance photos: made once (at most 4 views of an item), kept in the
    checkpoint so that a resumed run does not simulate them again."""
    count = min(config.instance_bank, 4 * len(cat.ids))
    cached = checkpoint.load_bank(count, config.seed) if checkpoint is not None else None
    if cached is not None:
        log(f"reusing the {len(cached[0]):,} simulated instance photos of the checkpoint")
        return cached
    made = time.perf_counter()
    rows, images = make_instance_bank(cat, count, config.seed)
    log(f"simulated {len(rows):,} instance photos in {time.perf_counter() - made:.0f} s")
    if checkpoint is not None:
        checkpoint.save_bank(rows, images, config.seed)
    return rows, images


def _accuracy(logits, labels):
    import jax.numpy as jnp

    valid = labels >= 0
    return ((logits.argmax(1) == labels) * valid).sum() / jnp.maximum(valid.sum(), 1)


# ---------------------------------------------------------------------------------- model
def build_backbone(weights: str | os.PathLike[str] | None, frozen_stages: int):
    """The product's ResNet50 with the given weights, first stages and all BatchNorms frozen."""
    from fashion_desktop.core.keras_backbone import build_resnet50, load_weights_file

    backbone = build_resnet50(None)
    if weights is not None:
        load_weights_file(backbone, Path(weights))
    freeze_stages(backbone, frozen_stages)
    return backbone


def trained_params(backbone, heads: ClassifierHeads) -> dict[str, Any]:
    """The pytree a run trains: the backbone's trainable weights, in order, and the kernel and
    bias of each head in ``HEADS`` (what a checkpoint stores first, before AdamW's moments)."""
    import jax.numpy as jnp

    return {
        "backbone": [v.value for v in backbone.trainable_variables],
        "heads": {
            name: {"kernel": jnp.asarray(h.kernel), "bias": jnp.asarray(h.bias)}
            for name, h in heads.heads.items()
            if name in HEADS
        },
    }


def apply_trained_params(backbone, heads: ClassifierHeads, params: dict[str, Any]):
    """Write ``params`` (:func:`trained_params`' structure) into ``backbone``; returns ``heads``
    with the trained ones replaced."""
    for variable, value in zip(backbone.trainable_variables, params["backbone"], strict=True):
        variable.assign(value)
    return ClassifierHeads(
        [
            ClassifierHead(
                name,
                np.asarray(params["heads"][name]["kernel"], np.float32),
                np.asarray(params["heads"][name]["bias"], np.float32),
                heads.heads[name].classes,
            )
            if name in params["heads"]
            else heads.heads[name]
            for name in heads.heads
        ]
    )


@dataclass
class MixedTrainingResult:
    steps: int
    seconds: float
    images_per_second: float
    history: list[dict]
    config: dict


def train_mixed(
    backbone,
    heads: ClassifierHeads,
    cat: DomainData,
    photo: DomainData,
    config: MixedTrainingConfig,
    *,
    instance_bank: tuple[np.ndarray, np.ndarray] | None = None,
    checkpoint: VariantCheckpoint | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    log: Callable[[str], None] = print,
) -> tuple[ClassifierHeads, MixedTrainingResult]:
    """Fine-tune ``backbone`` (in place) and ``heads`` on both domains for ``config.seconds``.

    ``instance_bank``: (item rows, images) of :func:`make_instance_bank` (made here when
    ``config.instance_views`` asks for it and none is given). With ``checkpoint`` the progress is
    saved every ``checkpoint_seconds`` and on Ctrl-C (:class:`TrainingInterruptedError`), and
    training continues from saved progress.
    """
    import jax
    import jax.numpy as jnp
    import optax

    rng = np.random.default_rng(config.seed)
    type_labels = cat.labels[TYPE_HEAD]
    assert photo.allowed_types is not None
    allowed_types = photo.allowed_types
    # catalogue partners: for each photo, items whose type is allowed for it
    items_of_type = [
        np.flatnonzero(type_labels == c) for c in range(len(heads.heads[TYPE_HEAD].classes))
    ]

    def partner(photo_row: int) -> int:
        types = np.flatnonzero(allowed_types[photo_row])
        counts = np.array([len(items_of_type[t]) for t in types], float)
        if counts.sum() == 0:
            return int(rng.integers(len(cat.ids)))
        chosen = rng.choice(types, p=counts / counts.sum())
        return int(rng.choice(items_of_type[chosen]))

    # Images stay in host memory and each batch is gathered there: arrays closed over by a
    # jitted function become constants of the executable (gigabytes here).
    cat_labels = {name: jax.device_put(values) for name, values in cat.labels.items()}
    allowed = jax.device_put(photo.allowed_types)
    instance = config.instance_views > 0
    if instance:
        if instance_bank is None:
            instance_bank = instance_bank_for(cat, config, log=log)
        bank_rows, bank_images = instance_bank

    params = trained_params(backbone, heads)
    trainable, head_params = params["backbone"], params["heads"]
    frozen = [v.value for v in backbone.non_trainable_variables]
    optimizer = optax.multi_transform(
        {
            "backbone": optax.adamw(config.learning_rate, weight_decay=config.weight_decay),
            "heads": optax.adamw(config.head_learning_rate, weight_decay=config.weight_decay),
        },
        {
            "backbone": ["backbone"] * len(trainable),
            "heads": jax.tree.map(lambda _: "heads", head_params),
        },
    )
    opt_state = optimizer.init(params)
    compute_dtype = backbone.dtype_policy.compute_dtype
    anchored = config.anchor_weight > 0
    # the starting weights (a copy: ``params`` is updated), an argument of the step, not a constant
    teacher = [jnp.array(v) for v in trainable] if anchored else None

    def forward(backbone_params, x):
        """Embeddings of network inputs (``caffe`` pixels) under ``backbone_params``."""
        out, _ = backbone.stateless_call(backbone_params, frozen, x, training=False)
        return out.astype(jnp.float32)

    def logits_of(params, z, name):
        return z @ params["heads"][name]["kernel"] + params["heads"][name]["bias"]

    def loss_fn(params, teacher, key, batch, align_weight):
        """``batch``: catalogue pixels (items, then the photos' partners), photo pixels, their
        rows, and the instance views (None without them)."""
        cat_pixels, photo_pixels, cat_rows, photo_rows, partner_rows, instance_batch = batch
        k1, k2, k3 = jax.random.split(key, 3) if instance else (*jax.random.split(key), None)
        cat_x = augment_catalogue(k1, cat_pixels)
        photo_x = augment_photos(
            k2, photo_pixels, config.low_resolution_share, config.low_resolution_side
        )
        parts = [cat_x, photo_x]
        if instance:
            clean_pixels, simulated_pixels, _ = instance_batch
            parts += [augment_catalogue(k3, clean_pixels), simulated_pixels.astype(cat_x.dtype)]
        x = caffe(jnp.concatenate(parts)).astype(compute_dtype)
        z = forward(params["backbone"], x)
        n_cat = cat_rows.shape[0] + partner_rows.shape[0]
        n_photo = photo_rows.shape[0]
        z_cat, z_photo = z[:n_cat], z[n_cat : n_cat + n_photo]
        rows = jnp.concatenate([cat_rows, partner_rows])
        metrics = {}
        total = 0.0
        for name in HEADS:
            logits = logits_of(params, z_cat, name)
            ce = _masked_cross_entropy(logits, cat_labels[name][rows])
            total = total + ce
            metrics[f"{name}_loss"] = ce
            metrics[f"{name}_acc"] = _accuracy(logits, cat_labels[name][rows])
        photo_logits = logits_of(params, z_photo, TYPE_HEAD)
        photo_allowed = allowed[photo_rows]
        partial = _partial_label_loss(photo_logits, photo_allowed)
        metrics["photo_type_loss"] = partial
        metrics["photo_type_acc"] = jnp.take_along_axis(
            photo_allowed, photo_logits.argmax(1)[:, None], axis=1
        ).mean()
        unit = z / jnp.linalg.norm(z, axis=1, keepdims=True)
        positives = (
            photo_allowed[:, cat_labels[TYPE_HEAD][rows]]
            & (cat_labels[TYPE_HEAD][rows] >= 0)[None, :]
        )
        align = _alignment_loss(
            unit[n_cat : n_cat + n_photo], unit[:n_cat], positives, config.temperature
        )
        metrics["alignment_loss"] = align
        total = total + config.photo_weight * partial + align_weight * align
        if anchored:
            teacher_z = forward(teacher, x[: n_cat + n_photo])
            anchor = _anchor_loss(unit[: n_cat + n_photo], teacher_z)
            metrics["anchor_loss"] = anchor
            total = total + config.anchor_weight * anchor
        if instance:
            _, _, instance_rows = instance_batch
            views = config.instance_views
            start = n_cat + n_photo
            clean_unit, simulated_unit = unit[start : start + views], unit[start + views :]
            z_simulated = z[start + views :]
            seen = 0.0
            for name in HEADS:  # the simulated photos carry their item's labels
                seen = seen + _masked_cross_entropy(
                    logits_of(params, z_simulated, name), cat_labels[name][instance_rows]
                )
            same = _instance_loss(simulated_unit, clean_unit, config.temperature)
            if config.instance_consistency_weight:
                z_clean = z[start : start + views]
                agree = 0.0
                for name in HEADS:
                    agree = agree + _soft_cross_entropy(
                        logits_of(params, z_simulated, name),
                        jax.lax.stop_gradient(jax.nn.softmax(logits_of(params, z_clean, name))),
                    )
                metrics["instance_consistency_loss"] = agree
                total = total + config.instance_consistency_weight * agree
            metrics["instance_head_loss"] = seen
            metrics["instance_loss"] = same
            metrics["instance_acc"] = jnp.mean(
                jnp.argmax(simulated_unit @ clean_unit.T, axis=1) == jnp.arange(views)
            )
            total = total + config.instance_head_weight * seen + config.instance_weight * same
        metrics["loss"] = total
        return total, metrics

    @jax.jit
    def step(params, opt_state, teacher, key, batch, lr_scale, align_weight):
        (_, metrics), grads = jax.value_and_grad(loss_fn, has_aux=True)(
            params, teacher, key, batch, align_weight
        )
        updates, opt_state = optimizer.update(grads, opt_state, params)
        updates = jax.tree.map(lambda u: u * lr_scale, updates)  # warm-up and cosine decay
        return optax.apply_updates(params, updates), opt_state, metrics

    def instance_batch():
        if not instance:
            return None
        picked = rng.integers(0, len(bank_rows), config.instance_views)
        rows = bank_rows[picked]
        return (cat.images[rows], bank_images[picked], jnp.asarray(rows, jnp.int32))

    def batch():
        cat_rows = rng.integers(0, len(cat.ids), config.catalogue_batch)
        photo_rows = rng.integers(0, len(photo.ids), config.photo_batch)
        partner_rows = np.array([partner(int(r)) for r in photo_rows])
        return (
            cat.images[np.concatenate([cat_rows, partner_rows])],
            photo.images[photo_rows],
            jnp.asarray(cat_rows, jnp.int32),
            jnp.asarray(photo_rows, jnp.int32),
            jnp.asarray(partner_rows, jnp.int32),
            instance_batch(),
        )

    key = jax.random.PRNGKey(config.seed)
    history: list[dict] = []
    images_per_step = config.catalogue_batch + 2 * config.photo_batch + 2 * config.instance_views
    total_steps: int | None = config.steps or None
    step_index = 0
    earlier_seconds = 0.0  # trained in earlier sittings of a resumed run
    running: dict[str, float] = {}
    saved = checkpoint.progress() if checkpoint is not None else None
    if checkpoint is not None and saved is not None:
        params, opt_state = checkpoint.restore(params, opt_state)
        step_index, total_steps = saved["step"], saved["total_steps"]
        history, running, earlier_seconds = saved["history"], saved["running"], saved["seconds"]
        rng.bit_generator.state = saved["rng"]
        key = jnp.asarray(saved["key"], dtype=jnp.uint32)
        log(
            f"resuming at step {step_index:,} of {total_steps or '?'} "
            f"({earlier_seconds:,.0f} s trained so far)"
        )

    def save_progress() -> None:
        assert checkpoint is not None
        checkpoint.save(
            params,
            opt_state,
            {
                "step": step_index,
                "total_steps": total_steps,
                "seconds": round(earlier_seconds + sitting_seconds(), 1),
                "history": history,
                "running": running,
                "rng": rng.bit_generator.state,
                "key": np.asarray(key).tolist(),
            },
        )

    def sitting_seconds() -> float:
        return time.perf_counter() - trained_from if sitting_steps else 0.0

    started = time.perf_counter()
    trained_from = started  # after this sitting's first step (compilation) has finished
    sitting_steps = 0
    last_saved = started
    try:
        while total_steps is None or step_index < total_steps:
            warm = min(1.0, (step_index + 1) / config.warmup_steps)
            progress = step_index / total_steps if total_steps else 0.0
            lr_scale = warm * 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
            key, sub = jax.random.split(key)
            params, opt_state, metrics = step(
                params,
                opt_state,
                teacher,
                sub,
                batch(),
                jnp.float32(lr_scale),
                jnp.float32(config.alignment_weight),
            )
            step_index += 1
            sitting_steps += 1
            if sitting_steps == 1:
                jax.block_until_ready(params)
                log(f"compiled the training step in {time.perf_counter() - started:.1f} s")
                trained_from = time.perf_counter()
            if sitting_steps == TIMING_STEPS + 1 and total_steps is None:
                jax.block_until_ready(params)
                per_step = (time.perf_counter() - trained_from) / TIMING_STEPS
                remaining = config.seconds - earlier_seconds - (time.perf_counter() - trained_from)
                total_steps = max(step_index + 1, step_index + int(remaining / per_step))
                rate = images_per_step / per_step
                log(
                    f"{per_step * 1000:.0f} ms per step ({rate:,.1f} images/s): "
                    f"{total_steps} steps in the {config.seconds:.0f} s budget"
                )
            for name, value in metrics.items():
                running[name] = (
                    running.get(name, 0.0) * 0.98 + float(value) * 0.02
                    if name in running
                    else float(value)
                )
            if total_steps and (
                step_index % max(1, total_steps // 20) == 0 or step_index == total_steps
            ):
                entry = {
                    "step": step_index,
                    "seconds": round(earlier_seconds + sitting_seconds(), 1),
                }
                entry.update({k: round(v, 4) for k, v in running.items()})
                history.append(entry)
                log(json.dumps(entry))
            if checkpoint is not None and time.perf_counter() - last_saved >= checkpoint_seconds:
                jax.block_until_ready(params)
                save_progress()
                last_saved = time.perf_counter()
    except KeyboardInterrupt:
        if checkpoint is None:
            raise
        jax.block_until_ready(params)
        save_progress()
        raise TrainingInterruptedError(
            f"Interrupted at step {step_index:,} of {total_steps or '?'}; a checkpoint is saved in "
            f"{checkpoint.folder}. Run the same command again to resume."
        ) from None
    jax.block_until_ready(params)
    seconds = sitting_seconds()
    trained_heads = apply_trained_params(backbone, heads, params)
    result = MixedTrainingResult(
        steps=step_index,
        seconds=round(earlier_seconds + seconds, 1),
        images_per_second=round(images_per_step * (sitting_steps - 1) / max(seconds, 1e-9), 1),
        history=history,
        config=asdict(config) | {"photo_batch": config.photo_batch},
    )
    return trained_heads, result


def draw_mixed_curves(history: list[dict], path: Path) -> None:
    """The run's loss and per-head accuracy by step (photos: top-1 within the partial label)."""
    series = [
        {
            "step": entry["step"],
            "loss": entry["loss"],
            **{f"{name}_accuracy": entry[f"{name}_acc"] for name in HEADS},
            "photo articleType_accuracy": entry["photo_type_acc"],
        }
        for entry in history
    ]
    draw_training_curves(series, [*HEADS, "photo articleType"], path, axis="step")


# ------------------------------------------------------------------------------------- run
def run_mixed_training(
    catalogue_path: str,
    photos_path: str,
    split_path: str,
    init_weights: str,
    init_heads: str,
    out: str,
    config: MixedTrainingConfig,
    *,
    alignment_weights: Sequence[float] = (0.5,),
    evaluate: bool = True,
    baseline: bool = True,
    precision: str = "auto",
    restart: bool = False,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    log: Callable[[str], None] = print,
) -> dict:
    """Train one model per alignment weight (same data and budget), keep the best, export it.

    ``precision``: ``auto`` (``mixed_bfloat16`` on a GPU, float32 on the CPU),
    ``mixed`` or ``float32``. An unfinished run in ``out`` with the same options resumes from its
    checkpoint (``restart``: start over); a finished model there is not overwritten unless
    ``restart``.
    """
    import importlib.util

    missing = [name for name in ("jax", "optax") if importlib.util.find_spec(name) is None]
    if missing:
        raise PhotoTrainingError(
            f"Training with photos needs {' and '.join(missing)}: pip install jax optax "
            "(on an NVIDIA GPU: pip install 'jax[cuda12]' optax)."
        )
    import keras

    from fashion_desktop.core.keras_backbone import save_weights_bundle, weights_fingerprint

    if keras.backend.backend() != "jax":
        raise PhotoTrainingError(
            "Training with photos runs on Keras's JAX backend: set KERAS_BACKEND=jax."
        )
    import jax

    configure_precision(precision, "mixed_bfloat16")
    out_dir = Path(out)
    identity = {
        "catalogue": str(Path(catalogue_path).resolve()),
        "photos": str(Path(photos_path).resolve()),
        "split": file_sha256(Path(split_path)),
        "init_weights": file_sha256(Path(init_weights)),
        "init_heads": file_sha256(Path(init_heads)),
        "alignment_weights": [float(w) for w in alignment_weights],
        "config": asdict(config),
    }
    run = PhotoRunCheckpoint(out_dir, identity, restart=restart)
    if run.resuming:
        log(f"resuming the unfinished run checkpointed in {run.folder}")
    heads = ClassifierHeads.load(init_heads)
    split = read_split_file(split_path)
    cat, photo = load_domains(catalogue_path, photos_path, heads, split=split, log=log)
    report: dict = {
        "device": str(jax.devices()[0]),
        "dtype_policy": keras.mixed_precision.global_policy().name,
        "catalogue_items": len(cat.ids),
        "photos": len(photo.ids),
        "init_weights": Path(init_weights).name,
        "variants": [],
    }
    report_path = out_dir / "photo_training_report.json"

    def save_report() -> None:
        report_path.write_text(json.dumps(report, indent=2) + "\n")

    data = load_evaluation_set(catalogue_path, photos_path, split, cat) if evaluate else None
    if data is not None and not (len(data.photo_images) and len(data.val_images)):
        log("no val photos or val items to measure on: the last model trained is kept")
        data = None
    if data is not None and baseline:
        report["baseline"] = run.read("baseline.json")
        if report["baseline"] is None:
            started = time.perf_counter()
            backbone = build_backbone(init_weights, config.frozen_stages)
            report["baseline"], _ = evaluate_model(
                backbone, heads, data, config.low_resolution_side
            )
            run.write("baseline.json", report["baseline"])
            measured = json.dumps(report["baseline"])
            log(f"baseline ({time.perf_counter() - started:.0f} s): {measured}")
        save_report()
    bank = (
        instance_bank_for(cat, config, checkpoint=run, log=log) if config.instance_views else None
    )
    best = None
    for weight in alignment_weights:
        variant = MixedTrainingConfig(**{**asdict(config), "alignment_weight": weight})
        saved = run.variant(weight)
        entry: dict[str, Any] | None = saved.finished()
        if entry is not None:
            log(f"alignment {weight}: trained in an earlier sitting")
            backbone = build_backbone(saved.weights_path, config.frozen_stages)
            trained_heads = ClassifierHeads.load(saved.heads_path)
        else:
            backbone = build_backbone(init_weights, config.frozen_stages)
            trained_heads, result = train_mixed(
                backbone,
                heads,
                cat,
                photo,
                variant,
                instance_bank=bank,
                checkpoint=saved,
                checkpoint_seconds=checkpoint_seconds,
                log=log,
            )
            entry = {"alignment_weight": weight, "training": asdict(result)}
            save_weights_bundle(
                [np.asarray(w, np.float32) for w in backbone.get_weights()],
                [w.path for w in backbone.weights],
                saved.weights_path,
            )
            trained_heads.save(saved.heads_path)
            saved.finish(entry)
        gallery = None
        if data is not None and "metrics" not in entry:
            entry["metrics"], gallery = evaluate_model(
                backbone, trained_heads, data, config.low_resolution_side
            )
            entry["score"] = round(selection_score(entry["metrics"]), 4)
            saved.finish(entry)
            log(f"alignment {weight}: {json.dumps(entry['metrics'])}")
        report["variants"].append(entry)
        save_report()
        if best is None or entry.get("score", 0) > best[0].get("score", 0):
            weights = [np.asarray(w, np.float32) for w in backbone.get_weights()]
            names = [w.path for w in backbone.weights]
            best = (entry, weights, names, trained_heads, gallery)
    assert best is not None
    entry, weights, names, trained_heads, gallery = best
    save_weights_bundle(weights, names, out_dir / "backbone.f16.npz")
    trained_heads.save(out_dir / "heads.npz")
    draw_mixed_curves(entry["training"]["history"], out_dir / "training_curves.png")
    if gallery is not None and data is not None:
        # the whole catalogue's embeddings, so an index can be assembled without re-embedding
        np.save(out_dir / "catalogue_embeddings.f16.npy", gallery.astype(np.float16))
        (out_dir / "catalogue_embeddings.ids.json").write_text(json.dumps(cat.ids + data.val_ids))
    report["chosen_alignment_weight"] = entry["alignment_weight"]
    report["fingerprint"] = weights_fingerprint(
        [np.asarray(w, np.float16).astype(np.float32) for w in weights]
    )
    save_report()
    log(export_trained_model(out_dir))
    shutil.rmtree(run.folder, ignore_errors=True)  # finished: the model is in out_dir
    return report
