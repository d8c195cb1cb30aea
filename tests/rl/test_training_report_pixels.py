"""The training report shows sample grids as they are: lossless, upscaled by nearest neighbour,
with or without the sidecar of row instructions."""

import base64
import io
import json
import re

import numpy as np
from PIL import Image

from cocoedit.rl.logging import RunLogger
from cocoedit.rl.report import GRID_ROW_PX, write_training_report


def test_sample_grids_are_lossless_and_pixelated_with_and_without_a_sidecar(tmp_path):
    grid = np.random.default_rng(0).integers(0, 255, (2 * 24, 3 * 24, 3), dtype=np.uint8)
    for name, sidecar in (("with", True), ("without", False)):
        run = tmp_path / name
        logger = RunLogger(run, trackers=())
        logger.log(1, {"reward/combined": 0.5})
        logger.close()
        (run / "samples").mkdir()
        Image.fromarray(grid).save(run / "samples" / "step-000001.png")
        if sidecar:
            rows = [{"sample_id": f"s{i}", "instruction": f"edit {i}"} for i in range(2)]
            (run / "samples" / "step-000001.json").write_text(json.dumps({"step": 1, "rows": rows}))
        html = write_training_report(run).read_text()
        (img,) = re.findall(r'<img alt="sample grid[^"]*" src="data:image/png;base64,([^"]+)" ([^>]*)>', html)
        shown = np.asarray(Image.open(io.BytesIO(base64.b64decode(img[0]))).convert("RGB"))
        assert np.array_equal(shown, grid)  # the grid's own pixels, losslessly
        width, height = (int(v) for v in re.findall(r'(?:width|height)="(\d+)"', img[1]))
        assert 'class="px"' in img[1] and width * 2 == height * 3  # upscaled by nearest neighbour, aspect kept
        if sidecar:
            assert height == 2 * GRID_ROW_PX
    assert "image-rendering:pixelated" in html
