"""Connected parts of boolean masks: a flood fill in vectorised sweeps, NumPy only.

``connected_to(region, seeds)`` is what Pillow's ``ImageDraw.floodfill`` gives from every seed
pixel (4-connectivity), without a Python loop per pixel: the product cut-out of
:mod:`.photosim` fills from the image's border, the localiser of :mod:`.localise` from the
class-activation map's peak.
"""

from __future__ import annotations

import numpy as np


def connected_to(region: np.ndarray, seeds: np.ndarray) -> np.ndarray:
    """The pixels of the bool ``region`` 4-connected to a ``seeds`` pixel inside it."""
    reached = region & seeds
    while True:
        # A run of region pixels along a row (then a column) is reached as soon as one of its
        # pixels is: a few sweeps reach what a pixel-by-pixel fill would, whatever the shape.
        grown = _reach_along_rows(region.T, _reach_along_rows(region, reached).T).T
        if np.array_equal(grown, reached):
            return reached
        reached = grown


def touching_border(region: np.ndarray) -> np.ndarray:
    """The pixels of the bool ``region`` 4-connected to the image's border."""
    border = np.zeros_like(region, dtype=bool)
    for edge in (np.s_[0, :], np.s_[-1, :], np.s_[:, 0], np.s_[:, -1]):
        border[edge] = True
    return connected_to(region, border)


def _reach_along_rows(region: np.ndarray, reached: np.ndarray) -> np.ndarray:
    """``reached`` spread over each row's runs of ``region`` pixels that it touches."""
    flat = np.ascontiguousarray(region).ravel()
    starts = flat.copy()
    starts[1:] &= ~flat[:-1]
    starts[:: region.shape[1]] = flat[:: region.shape[1]]  # a row never continues the last one
    run = np.cumsum(starts)
    hit = np.bincount(run[flat & np.ascontiguousarray(reached).ravel()], minlength=run[-1] + 1)
    return (flat & (hit[run] > 0)).reshape(region.shape)
