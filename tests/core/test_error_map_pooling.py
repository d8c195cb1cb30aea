"""Error maps shrunk for a page keep the largest error of each block, so an isolated bad pixel stays
visible; a block entirely in the edit region stays blank."""

import math

import torch

from cocoedit.core.error_map import pooled_error_map

NAN = float("nan")


def test_a_lone_bad_pixel_survives_and_an_edit_block_stays_blank():
    error = torch.zeros(4, 6)
    error[3, 0] = 0.5  # one bad pixel in the bottom-left block
    error[0:2, 4:6] = NAN  # a block entirely in the edit region
    error[2, 4] = NAN  # a block half in the edit region keeps its keep-region maximum
    error[3, 5] = 0.02
    pooled = pooled_error_map(error, 3)
    assert pooled.shape == (2, 3)
    assert pooled[1, 0] == 0.5 and pooled[1, 2] == 0.02 and pooled[0, 0] == 0.0
    assert math.isnan(pooled[0, 2]) and not torch.isnan(pooled[1, 2])


def test_a_map_that_fits_is_not_touched():
    error = torch.rand(5, 7)
    assert pooled_error_map(error, 7) is error
