"""``fashion-desktop train``: fine-tune the model on a catalogue, or with ``--photos`` on a
catalogue and labelled real photos together.

Every default comes from the run's configuration class (:class:`TrainingConfig`, and
:class:`MixedTrainingConfig` for ``--photos``): options whose default differs between the two
(batch size, frozen stages, learning rate, seed) parse to None and take the chosen mode's default
in :func:`training_config` / :func:`mixed_training_config`. The training package is imported
when the arguments are added (it loads neither Keras, TensorFlow nor JAX); :func:`run` loads
those, through the trainers.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fashion_desktop.cli.common import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    duration,
    fraction,
    print_error,
    stop_on_terminate,
)
from fashion_desktop.core.errors import FashionDesktopError

if TYPE_CHECKING:
    from fashion_desktop.core.training import MixedTrainingConfig, TrainingConfig


def config_default(config: type, name: str) -> Any:
    """The default of dataclass ``config``'s field ``name`` (a ``default_factory``'s value)."""
    for item in dataclasses.fields(config):
        if item.name == name:
            if item.default is not dataclasses.MISSING:
                return item.default
            if item.default_factory is not dataclasses.MISSING:
                return item.default_factory()
            raise TypeError(f"{config.__name__}.{name} has no default")
    raise AttributeError(f"{config.__name__} has no field {name!r}")


def _train(name: str) -> Any:
    """:class:`TrainingConfig`'s default for ``name``."""
    from fashion_desktop.core.training import TrainingConfig

    return config_default(TrainingConfig, name)


def _photos(name: str) -> Any:
    """:class:`MixedTrainingConfig`'s (``train --photos``) default for ``name``."""
    from fashion_desktop.core.training import MixedTrainingConfig

    return config_default(MixedTrainingConfig, name)


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    return subparsers.add_parser(
        "train",
        help="fine-tune the model on a catalogue (transfer learning)",
        description="Fine-tune ResNet50's last stages and one classifier head per label on a "
        "catalogue. Writes MODEL_DIR/backbone.weights.h5 and heads.npz (use them with --weights "
        "MODEL_DIR), a report and loss/accuracy curves. Ctrl-C saves a checkpoint; running the "
        "same command again resumes.",
        add_arguments=add_arguments,
    )


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("catalogue", type=Path, help="catalogue folder or metadata CSV")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="MODEL_DIR", help="model folder to write"
    )
    parser.add_argument(
        "--init",
        default=_train("init"),
        help=f"starting weights: {_train('init')} (default), imagenet, random, or a weights file "
        "or folder",
    )
    parser.add_argument(
        "--labels",
        default=",".join(_train("labels")),
        help="comma-separated columns to learn, one head each (default: %(default)s)",
    )
    parser.add_argument("--split", type=Path, help="CSV id,split with train/val (default: hash)")
    parser.add_argument(
        "--val-fraction",
        type=float,
        default=_train("val_fraction"),
        help=f"hash split share (default {_train('val_fraction'):g})",
    )
    parser.add_argument(
        "--epochs",
        type=int,
        default=_train("epochs"),
        help=f"maximum epochs (default {_train('epochs')})",
    )
    parser.add_argument(
        "--batch-size",
        type=int,
        help=f"images per step (default {_train('batch_size')}; with --photos, catalogue "
        f"items per step, default {_photos('catalogue_batch')})",
    )
    parser.add_argument(
        "--freeze-backbone",
        type=int,
        metavar="N",
        help=f"ResNet stages kept frozen, 0-5 (default {_train('freeze_backbone')}: train "
        f"conv5 + heads; 5: heads only; with --photos {_photos('frozen_stages')})",
    )
    parser.add_argument(
        "--learning-rate",
        type=float,
        help=f"Adam (default {_train('learning_rate'):g}; with --photos "
        f"{_photos('learning_rate'):g})",
    )
    parser.add_argument(
        "--min-class-count",
        type=int,
        default=_train("min_class_count"),
        help="merge classes with fewer training examples into 'other' (default %(default)s)",
    )
    parser.add_argument(
        "--class-weighting",
        choices=("none", "sqrt", "balanced"),  # core/training/data.py: class_weights
        default=_train("class_weighting"),
        help="weight rare classes up (default %(default)s of inverse frequency)",
    )
    parser.add_argument(
        "--patience",
        type=int,
        default=_train("patience"),
        help="early-stopping epochs (default %(default)s)",
    )
    parser.add_argument("--steps-per-epoch", type=int, help="limit training steps per epoch")
    parser.add_argument("--val-steps", type=int, help="limit validation steps")
    parser.add_argument("--no-augment", action="store_true", help="no flip/rotate/zoom/shift")
    parser.add_argument(
        "--projection-dim",
        type=int,
        default=_train("projection_dim"),
        help="add a projection head trained with a contrastive retrieval loss (not exported)",
    )
    parser.add_argument(
        "--photo-views",
        type=fraction,
        default=_train("photo_views"),
        metavar="SHARE",
        help="photo-robust training: show this share (0-1) of each batch's items again as a "
        "simulated photo (busy background, angle, light, blur); with --photos, as many "
        "simulated photos of catalogue items join each step, paired with their items "
        f"(default {_train('photo_views'):g}: off)",
    )
    parser.add_argument(
        "--instance-weight",
        type=float,
        default=_train("instance_weight"),
        help="weight of the term pulling an item's clean and photo views together "
        f"(default {_train('instance_weight'):g})",
    )
    parser.add_argument(
        "--instance-head-weight",
        type=float,
        default=_photos("instance_head_weight"),
        help="with --photos: weight of the heads' loss on the simulated photos (0: they teach "
        "only the pairing with their items; default %(default)g)",
    )
    parser.add_argument(
        "--instance-consistency-weight",
        type=float,
        default=_photos("instance_consistency_weight"),
        help="with --photos: weight of a term making the heads read each simulated photo as "
        "they read its item, the label agreement the search ranks by (default %(default)g)",
    )
    parser.add_argument(
        "--anchor-weight",
        type=float,
        default=_photos("anchor_weight"),
        help="with --photos: weight of a term keeping catalogue items' and photos' embeddings "
        "where the starting model puts them, so that what a fine-tune adds (--photo-views) "
        "costs less of what the model already does (a second forward pass; default %(default)g)",
    )
    parser.add_argument(
        "--precision",
        choices=("auto", "float32", "mixed"),  # core/training/model.py: set_precision
        default=_train("precision"),
        help="auto: mixed float16 (with --photos: bfloat16) when a GPU is present (default)",
    )
    parser.add_argument(
        "--photos",
        type=Path,
        metavar="PHOTO_CATALOGUE",
        help="also learn from labelled real photos (a catalogue CSV with masterCategory, "
        "subCategory and, where known, articleType; a split column's train rows are used, its "
        "val rows measured): domain-balanced batches, partial labels, cross-domain alignment. "
        "Runs on the JAX backend (KERAS_BACKEND=jax): minutes on a GPU, hours on a CPU "
        "(checkpointed: run the same command again to resume); needs --split",
    )
    parser.add_argument(
        "--seconds",
        type=float,
        default=_photos("seconds"),
        help="with --photos: training time per model, in seconds (default %(default)g)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=0,
        help="with --photos: train this many steps instead of --seconds (the same schedule on "
        "any hardware)",
    )
    parser.add_argument(
        "--alignment-weights",
        default=str(_photos("alignment_weight")),
        help="with --photos: comma-separated weights of the photo-catalogue alignment term; one "
        "model each, the best on the val photos and items is kept (default %(default)s)",
    )
    parser.add_argument(
        "--no-baseline",
        action="store_true",
        help="with --photos: do not measure the starting model first",
    )
    parser.add_argument(
        "--no-evaluate",
        action="store_true",
        help="with --photos: do not measure the trained models on the val photos and items (it "
        "embeds the whole catalogue: about an hour on a 2-core CPU); the last model is kept",
    )
    parser.add_argument("--seed", type=int)  # None: the mode's config default
    parser.add_argument(
        "--workers", type=int, default=_train("workers"), help="image decoding threads"
    )
    parser.add_argument("--restart", action="store_true", help="ignore a checkpoint; start over")
    parser.add_argument(
        "--keep-checkpoint", action="store_true", help="keep the checkpoint weights when done"
    )


def _or_default(value: Any, default: Any) -> Any:
    return default if value is None else value


def training_config(args: argparse.Namespace) -> TrainingConfig:
    """The :class:`TrainingConfig` of ``train`` without ``--photos`` (no Keras needed)."""
    from fashion_desktop.core.training import TrainingConfig

    labels = tuple(label.strip() for label in args.labels.split(",") if label.strip())
    if not labels:
        raise FashionDesktopError("--labels needs at least one column name.")
    return TrainingConfig(
        catalogue=str(args.catalogue),
        out=str(args.out),
        init=args.init,
        labels=labels,
        split=str(args.split) if args.split else None,
        val_fraction=args.val_fraction,
        epochs=args.epochs,
        batch_size=args.batch_size or _train("batch_size"),
        freeze_backbone=_or_default(args.freeze_backbone, _train("freeze_backbone")),
        learning_rate=args.learning_rate or _train("learning_rate"),
        min_class_count=args.min_class_count,
        class_weighting=args.class_weighting,
        patience=args.patience,
        steps_per_epoch=args.steps_per_epoch,
        validation_steps=args.val_steps,
        augment=not args.no_augment,
        projection_dim=args.projection_dim,
        photo_views=args.photo_views,
        instance_weight=args.instance_weight,
        precision=args.precision,
        seed=_or_default(args.seed, _train("seed")),
        workers=args.workers,
    )


def mixed_training_config(args: argparse.Namespace) -> MixedTrainingConfig:
    """The :class:`MixedTrainingConfig` of ``train --photos``."""
    from fashion_desktop.core.training import MixedTrainingConfig

    catalogue_batch = args.batch_size or _photos("catalogue_batch")
    return MixedTrainingConfig(
        seconds=args.seconds,
        steps=args.steps,
        catalogue_batch=catalogue_batch,
        learning_rate=args.learning_rate or _photos("learning_rate"),
        frozen_stages=_or_default(args.freeze_backbone, _photos("frozen_stages")),
        instance_views=round(args.photo_views * catalogue_batch),
        instance_weight=args.instance_weight,
        instance_head_weight=args.instance_head_weight,
        instance_consistency_weight=args.instance_consistency_weight,
        anchor_weight=args.anchor_weight,
        seed=_or_default(args.seed, _photos("seed")),
    )


def alignment_weights(args: argparse.Namespace) -> list[float]:
    """``--alignment-weights 0,0.5`` → ``[0.0, 0.5]`` (the config's weight when empty)."""
    try:
        weights = [float(w) for w in args.alignment_weights.split(",") if w.strip()]
    except ValueError:
        raise FashionDesktopError("--alignment-weights takes numbers, e.g. 0,0.5.") from None
    return weights or [_photos("alignment_weight")]


def run(args: argparse.Namespace) -> int:
    if args.photos is not None:
        return _train_with_photos(args)
    from fashion_desktop.core.keras_backbone import require_tensorflow

    require_tensorflow()
    from fashion_desktop.core.training import TrainingInterruptedError, train

    config = training_config(args)
    try:
        with stop_on_terminate(), _training_progress() as progress:
            result = train(
                config,
                restart=args.restart,
                keep_checkpoint=args.keep_checkpoint,
                progress=progress,
                notify=lambda message: print(message, file=sys.stderr),
            )
    except TrainingInterruptedError as interrupted:
        print_error(str(interrupted))
        return EXIT_INTERRUPTED
    report = result.report
    if result.already_trained:
        print(
            f"{args.out} is already trained ({report.get('epochs_completed', '?')} epochs); pass "
            "--restart to train it again (a run kept with --keep-checkpoint can also continue "
            "with more --epochs)."
        )
        return EXIT_OK
    for path, reason in [(u["image"], u["reason"]) for u in report["data"]["unreadable"]][:10]:
        print(f"  skipped {path}: {reason}", file=sys.stderr)
    for name, scores in report["validation"].items():
        if scores.get("accuracy") is not None:
            print(
                f"  {name:<14} val accuracy {scores['accuracy']:.3f}  macro precision "
                f"{scores['precision']:.3f}  macro recall {scores['recall']:.3f}"
            )
    print(
        f"Model written to {result.model_dir} ({report['epochs_completed']} epochs"
        + (", stopped early" if report["stopped_early"] else "")
        + f", best epoch {report['best_epoch']}, {report['total_seconds_this_run']:.0f} s). Use it "
        f"with --weights {result.model_dir}, e.g. `fashion-desktop index build CATALOGUE --out "
        f"INDEX --weights {result.model_dir}`."
    )
    return EXIT_OK


def _train_with_photos(args: argparse.Namespace) -> int:
    """``train --photos``: catalogue and real photos together (:mod:`core.training.photos`)."""
    from fashion_desktop.core.embedder import resolve_weights
    from fashion_desktop.core.training import TrainingInterruptedError, run_mixed_training
    from fashion_desktop.resources import bundled_heads_path, bundled_weights_path

    if args.split is None:
        raise FashionDesktopError("--photos needs --split (which catalogue items are held out).")
    if args.init == "bundled":
        weights, heads = bundled_weights_path(), bundled_heads_path()
    else:
        choice = resolve_weights(args.init, keras=True)
        if choice.path is None or choice.heads is None:
            raise FashionDesktopError(
                "--photos starts from a model with classifier heads: the bundled one or a model "
                "folder."
            )
        weights, heads = choice.path, choice.heads
    alignment = alignment_weights(args)
    try:
        with stop_on_terminate():
            report = run_mixed_training(
                str(args.catalogue),
                str(args.photos),
                str(args.split),
                str(weights),
                str(heads),
                str(args.out),
                mixed_training_config(args),
                alignment_weights=alignment,
                evaluate=not args.no_evaluate,
                baseline=not (args.no_baseline or args.no_evaluate),
                precision=args.precision,
                restart=args.restart,
                log=lambda message: print(message, file=sys.stderr),
            )
    except TrainingInterruptedError as interrupted:
        print_error(str(interrupted))
        return EXIT_INTERRUPTED
    print(
        f"Model written to {args.out} (alignment weight {report['chosen_alignment_weight']}). "
        f"Use it with --weights {args.out}."
    )
    return EXIT_OK


@contextlib.contextmanager
def _training_progress():
    """Training progress on stderr: a rich bar on a terminal, plain lines in a log otherwise."""
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn

    console = Console(stderr=True)
    columns = (
        TextColumn("[bold]epoch {task.fields[epoch]}"),
        BarColumn(),
        TextColumn("{task.completed}/{task.total}"),
        TextColumn("{task.fields[metrics]}"),
        TextColumn("{task.fields[rate]:>5.1f} img/s  ETA {task.fields[eta]}"),
    )
    with Progress(*columns, console=console, disable=not console.is_terminal) as bar:
        task = bar.add_task("train", total=1, epoch="", metrics="", rate=0.0, eta="?")

        def update(state) -> None:
            accuracy = " ".join(f"{n} {v:.3f}" for n, v in state.accuracy.items())
            metrics = f"loss {state.loss:.3f}  acc {accuracy}"
            eta = duration(state.eta_s)
            if state.phase == "train":
                if not console.is_terminal and (
                    state.step % max(1, state.steps // 10) == 0 or state.step == 1
                ):  # a log file still sees the run move, about ten lines an epoch
                    console.print(
                        f"epoch {state.epoch}/{state.epochs} step {state.step}/{state.steps}: "
                        f"{metrics}  {state.images_per_second:.1f} img/s  ETA {eta}",
                        highlight=False,
                        soft_wrap=True,
                    )
                bar.update(
                    task,
                    total=state.steps,
                    completed=state.step,
                    epoch=f"{state.epoch}/{state.epochs}",
                    metrics=metrics,
                    rate=state.images_per_second,
                    eta=eta,
                )
                return
            val = ""
            if state.val_loss is not None:
                val_accuracy = " ".join(f"{n} {v:.3f}" for n, v in state.val_accuracy.items())
                val = f"  val loss {state.val_loss:.3f}  val acc {val_accuracy}"
            console.print(
                f"epoch {state.epoch}/{state.epochs}: {metrics}{val}  "
                f"{state.images_per_second:.1f} img/s  ETA {eta}",
                highlight=False,
                soft_wrap=True,
            )

        yield update
