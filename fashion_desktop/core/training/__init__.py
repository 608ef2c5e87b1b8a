"""Training the product's model: ``fashion-desktop train`` (Keras ``fit`` on a catalogue) and
``fashion-desktop train --photos`` (catalogue items and real photos together, on JAX).

The catalogue trainer, one module per step:

* :mod:`.config`: constants (file names, outputs), errors, :class:`TrainingConfig` and the
  records of a run (label spaces, prepared data, progress, result);
* :mod:`.data`: split, label checks, unreadable images, rare classes, class weights;
* :mod:`.model`: the training network, frozen stages, losses, initial weights, heads export;
* :mod:`.dataset`: the ``keras.utils.PyDataset`` of batches (with simulated photo views);
* :mod:`.checkpoints`: optimizer state, checkpoint progress, output-folder checks;
* :mod:`.loop`: :func:`train`: the fit, the progress/early-stopping callback, validation metrics,
  the report;
* :mod:`.curves`: ``training_curves.png``.

The mixed catalogue + photo trainer: :mod:`.photos` (:func:`run_mixed_training`, the JAX
training step), :mod:`.photo_data` (decoding, partial labels, augmentation on the accelerator)
and :mod:`.photo_eval` (P@5 of photos and catalogue items).

Keras, TensorFlow, JAX and optax are imported inside functions only: importing this package
loads none of them. Code in the project imports from the defining module; the names below are
re-exported for the command line.
"""

from fashion_desktop.core.training.config import (
    TrainingConfig,
    TrainingError,
    TrainingInterruptedError,
    TrainingProgress,
    TrainingResult,
)
from fashion_desktop.core.training.loop import train
from fashion_desktop.core.training.photo_data import PhotoTrainingError
from fashion_desktop.core.training.photos import MixedTrainingConfig, run_mixed_training

__all__ = [
    "MixedTrainingConfig",
    "PhotoTrainingError",
    "TrainingConfig",
    "TrainingError",
    "TrainingInterruptedError",
    "TrainingProgress",
    "TrainingResult",
    "run_mixed_training",
    "train",
]
