"""Mask tools on hand-made masks."""

import pytest
import torch

from cocoedit.core import masks as M


def grid(rows: list[str]) -> torch.Tensor:
    """'#' = edit pixel, '.' = keep pixel -> [1, 1, H, W]."""
    return torch.tensor([[1.0 if ch == "#" else 0.0 for ch in r] for r in rows])[None, None]


def test_binarize_threshold_is_inclusive():
    assert M.binarize(torch.tensor([0.2, 0.5, 0.7])).tolist() == [0.0, 1.0, 1.0]


def test_file_polarity_conversion():
    values = torch.tensor([[[0.0, 1.0, 0.6, 0.3]]])
    assert M.edit_mask_from_file_values(values, "white_is_edit").tolist() == [[[0.0, 1.0, 1.0, 0.0]]]
    assert M.edit_mask_from_file_values(values, "white_is_keep").tolist() == [[[1.0, 0.0, 0.0, 1.0]]]
    with pytest.raises(ValueError, match="polarity"):
        M.edit_mask_from_file_values(values, "white")


def test_keep_from_edit_flips():
    assert M.keep_from_edit(grid(["#."])).tolist() == grid([".#"]).tolist()


def test_downsizing_uses_area_then_threshold():
    mask = grid(["##..", "#...", "...#", "...."])
    # 2x2 cells cover 3, 0, 0 and 1 edit pixels.
    assert M.resize_mask(mask, (2, 2)).squeeze().tolist() == [[1.0, 0.0], [0.0, 0.0]]
    assert M.resize_mask(mask, (2, 2), threshold=1e-6).squeeze().tolist() == [[1.0, 0.0], [0.0, 1.0]]
    assert M.resize_mask(mask, (2, 2), threshold=None).squeeze().tolist() == [[0.75, 0.0], [0.0, 0.25]]


def test_upsizing_uses_nearest_and_stays_binary():
    up = M.resize_mask(grid(["#.", ".."]), (4, 4))
    assert up.squeeze().tolist() == grid(["##..", "##..", "....", "...."]).squeeze().tolist()


def test_mixed_axes_resize():
    mask = grid(["##..", "##.."])  # 2x4 -> 4x2: grows in height, shrinks in width
    assert M.resize_mask(mask, (4, 2)).squeeze().tolist() == [[1.0, 0.0]] * 4


def test_latent_grid_mask_binarises_first():
    soft = torch.full((1, 1, 8, 8), 0.4)
    soft[..., :4, :4] = 0.9
    latent = M.latent_grid_mask(soft, (2, 2))
    assert latent.squeeze().tolist() == [[1.0, 0.0], [0.0, 0.0]]


def test_dilate_and_erode_square_element():
    dot = grid([".....", ".....", "..#..", ".....", "....."])
    assert M.dilate(dot, 1).sum() == 9
    assert M.erode(M.dilate(dot, 1), 1).tolist() == dot.tolist()
    assert M.erode(dot, 0).tolist() == dot.tolist()
    with pytest.raises(ValueError, match="radius"):
        M.erode(dot, -1)


def test_image_border_does_not_erode():
    full = torch.ones(1, 1, 5, 5)
    assert M.erode(full, 2).tolist() == full.tolist()


def test_boundary_ring_width():
    mask = torch.zeros(1, 1, 9, 9)
    mask[..., 2:7, 2:7] = 1  # a 5x5 block
    ring = M.boundary_ring(mask, 1)
    assert ring.sum() == 7 * 7 - 3 * 3
    assert ring[0, 0, 4, 4] == 0 and ring[0, 0, 2, 2] == 1 and ring[0, 0, 1, 1] == 1
    assert M.boundary_ring(torch.ones(1, 1, 6, 6), 2).sum() == 0


def test_bounding_boxes_batch_with_empty_mask():
    mask = torch.zeros(2, 1, 6, 8)
    mask[0, 0, 1:4, 2:7] = 1
    mask[0, 0, 5, 0] = 1
    boxes, nonempty = M.bounding_boxes(mask)
    assert boxes[0].tolist() == [1, 0, 6, 7]
    assert nonempty.tolist() == [True, False]
    assert boxes[1].tolist() == [0, 0, 0, 0]


def test_boxes_to_mask_round_trips():
    boxes = torch.tensor([[1, 2, 4, 7], [0, 0, 6, 8]])
    mask = M.boxes_to_mask(boxes, (6, 8))
    assert mask.shape == (2, 1, 6, 8)
    assert mask[0].sum() == 3 * 5 and mask[1].sum() == 48
    assert M.bounding_boxes(mask)[0].tolist() == boxes.tolist()


def test_remove_small_components_is_8_connected():
    mask = grid(["#.......", ".#......", "....####", "....####", "....####"])
    kept = M.remove_small_components(mask, 3)
    assert kept[..., 2:, 4:].sum() == 12
    assert kept[..., :2, :2].sum() == 0  # the diagonal pair is one component of 2 pixels
    assert M.remove_small_components(mask, 2).sum() == 14


def test_mask_from_difference_recovers_a_patch_on_a_real_photo(astronaut):
    source = astronaut[..., 100:228, 150:278]
    edited = source.clone()
    edited[..., 40:80, 30:90] = 1.0 - edited[..., 40:80, 30:90]
    gen = torch.Generator().manual_seed(0)
    speckle = torch.rand(source.shape[-2:], generator=gen) < 0.002  # isolated changed pixels
    edited[..., speckle] = (edited[..., speckle] + 0.5) % 1.0
    truth = torch.zeros(1, 1, 128, 128)
    truth[..., 40:80, 30:90] = 1
    found = M.mask_from_difference(source, edited, threshold=0.08)
    # Inverting leaves mid-grey pixels nearly unchanged, so require a high overlap, not equality.
    iou = (found * truth).sum() / ((found + truth) > 0).sum()
    assert iou > 0.9
    assert found[..., :35, :].sum() == 0 and found[..., 85:, :].sum() == 0  # speckle removed


def test_shape_is_checked():
    with pytest.raises(ValueError, match=r"\[B, 1, H, W\]"):
        M.dilate(torch.zeros(4, 4), 1)
