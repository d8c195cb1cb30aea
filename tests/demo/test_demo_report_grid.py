"""The demo report's sample grid is shown at its own size with nearest-neighbour rendering, never
shrunk to the page's width (which would drop rows and columns of its tiles); the page scrolls."""

import base64
import io
from types import SimpleNamespace

import torch
from PIL import Image

import cocoedit.demo.report as demo_report
from cocoedit.core.pages import environment
from cocoedit.demo.settings import load_demo_settings


def test_the_sample_grid_is_shown_at_its_natural_size(monkeypatch, tmp_path):
    settings = load_demo_settings(quick=True)
    count = settings.grid_samples
    tile = torch.rand(3, 16, 16)
    row = SimpleNamespace(
        source=tile, target=tile, edit_mask=torch.ones(1, 16, 16), sample=SimpleNamespace(instruction="x")
    )
    monkeypatch.setattr(demo_report, "held_out_rows", lambda folder, size: [row] * count)
    monkeypatch.setattr(demo_report, "load_scores", lambda path: SimpleNamespace(images=[tile] * count))
    grid = demo_report._sample_grid(tmp_path, settings)
    png = Image.open(io.BytesIO(base64.b64decode(grid.src.split(",", 1)[1])))
    html = environment().from_string('{% import "macros.html" as m %}{{ m.img(p) }}').render(p=grid)
    assert f'width="{png.width}" height="{png.height}" class="px"' in html
    source = environment().loader.get_source(environment(), "demo_report.html")[0]
    assert '<div class="scroll">{{ m.img(grid) }}</div>' in source
