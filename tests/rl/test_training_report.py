"""The training report: chosen panels (smoothed, runs overlaid, plain axes), constant series listed
not drawn, sample grids captioned from the trainer's sidecar JSON, numbers by kind."""

import json
import re

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from cocoedit.cli import app
from cocoedit.rl.logging import RunLogger, read_metrics
from cocoedit.rl.report import is_constant, panels_figure, smooth, tick_text, write_training_report

runner = CliRunner()
INSTRUCTIONS = ["Make the sky a deep violet.", "Remove the cup on the left.", "Turn the cat's fur white."]


def make_run(path, seed, steps=12, sidecar=True):
    rng = np.random.default_rng(seed)
    logger = RunLogger(path, trackers=[])
    for step in range(1, steps + 1):
        logger.log(
            step,
            {
                "reward/combined": 0.3 + 0.03 * step + 0.05 * rng.standard_normal(),
                "val/keep_psnr": 25 + 0.5 * step,
                "loss/policy": 1.0002 + 1e-6 * rng.standard_normal(),
                "train/lr": 1e-4,
                "train/stepped": 1.0,
            },
        )
    logger.close()
    samples = path / "samples"
    samples.mkdir()
    Image.fromarray(rng.integers(0, 255, (3 * 32, 3 * 32, 3), dtype=np.uint8)).save(samples / "step-000012.png")
    if sidecar:
        rows = [{"sample_id": f"s{i}", "instruction": text} for i, text in enumerate(INSTRUCTIONS)]
        (samples / "step-000012.json").write_text(json.dumps({"step": 12, "rows": rows}))


def test_smoothing_and_constancy_by_hand():
    assert smooth([1.0, 1.0, 1.0], 0.9) == pytest.approx([1.0, 1.0, 1.0])
    assert smooth([0.0, 1.0], 0.5) == pytest.approx([0.0, 0.5 / 0.75])
    assert smooth([3.0, 5.0], 0.0) == [3.0, 5.0]
    with pytest.raises(ValueError):
        smooth([1.0], 1.0)
    assert is_constant([2.0, 2.0]) and is_constant([7.0]) and not is_constant([1.0002, 1.0002001])


def test_one_run_report_has_chosen_panels_captions_and_a_constant_table(tmp_path):
    make_run(tmp_path / "run", seed=0)
    html = write_training_report(tmp_path / "run").read_text()
    panel_alts = re.findall(r'<img alt="([^"]*)" src="data:image/png', html)
    drawn = {k.strip() for alt in panel_alts for k in alt.split(",")}
    assert {"reward/combined", "val/keep_psnr", "loss/policy"} <= drawn
    assert "train/lr" not in drawn and "train/stepped" not in drawn  # constant: listed, not drawn
    constant = html.split("<h2>Constant over the run (not drawn)</h2>")[1].split("</section>")[0]
    assert "<td>train/lr</td><td>0.0001</td>" in constant and "<td>train/stepped</td><td>1</td>" in constant
    last = html.split("<h2>Last logged step</h2>")[1].split("</section>")[0]
    assert "<td>val/keep_psnr</td><td>31.00</td>" in last  # dB with 2 decimals; the step as an integer
    assert "<td>run</td><td>12</td>" in last
    captions = html.split('<ol class="rowcaps"')[1].split("</ol>")[0]
    assert re.findall(r"<li>(.*?)</li>", captions) == [t.replace("'", "&#x27;") for t in INSTRUCTIONS]
    assert "<figcaption>step 12</figcaption>" in html


def test_axes_have_no_offset_notation_and_runs_overlay(tmp_path):
    make_run(tmp_path / "a", seed=0)
    make_run(tmp_path / "b", seed=1, sidecar=False)
    runs = {"a": read_metrics(tmp_path / "a"), "b": read_metrics(tmp_path / "b")}
    fig = panels_figure(runs, [("loss/policy", "policy loss"), ("reward/combined", "reward")], 0.6)
    fig.canvas.draw()
    ax = fig.axes[0]
    assert ax.yaxis.get_offset_text().get_text() == ""
    labels = [t.get_text() for t in ax.get_yticklabels() if t.get_text()]
    # Plain numbers that tell the ticks apart (the series moves by about 1e-6 around 1.0002).
    assert labels and all(re.fullmatch(r"-?[0-9.]+", t) for t in labels) and len(set(labels)) == len(labels)
    assert (
        tick_text(0.25, 0.25) == "0.25" and tick_text(1.0002005, 5e-7) == "1.0002005" and tick_text(40.0, 5.0) == "40"
    )
    assert len([line for line in fig.axes[1].lines if line.get_label() in ("a", "b")]) == 2  # one bold curve per run
    result = runner.invoke(app, ["report", str(tmp_path / "a"), str(tmp_path / "b")])
    assert result.exit_code == 2 and "--out" in result.output
    result = runner.invoke(
        app, ["report", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "cmp.html")]
    )
    assert result.exit_code == 0, result.output
    html = (tmp_path / "cmp.html").read_text()
    assert "Training runs compared: a, b" in html
    assert "no row instructions: the run wrote no sidecar JSON" in html.split("<h2>Sample grids: b</h2>")[1]
