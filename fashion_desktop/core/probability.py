"""The one softmax of the core: heads, garment colour and localisation all turn scores into
class probabilities through it."""

from __future__ import annotations

import numpy as np


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Class probabilities along ``axis`` (numerically stable: the largest logit is shifted
    to 0 first); keeps the logits' float dtype."""
    shifted = np.exp(logits - logits.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)
