"""Training defaults in one import-free place: the configs and the CLI's help both read them
(the CLI builds its parser at every start, so it must not import NumPy or Pillow for them)."""

#: ``fashion-desktop train`` on a catalogue (core/training/loop.py, Keras fit).
BATCH_SIZE = 16
FROZEN_STAGES = 4  # ResNet stages kept frozen (of 5): 4 trains conv5_x + heads
LEARNING_RATE = 1e-4

#: ``fashion-desktop train --photos`` (core/training/photos.py, JAX on an accelerator).
PHOTO_SECONDS = 60.0
PHOTO_CATALOGUE_BATCH = 128  # + half as many photos + as many catalogue partners
PHOTO_FROZEN_STAGES = 1
PHOTO_LEARNING_RATE = 1e-4
PHOTO_ALIGNMENT_WEIGHT = 0.5
