"""cocoedit report draws the learning signal: share of groups without signal, the within-group std
with its 10-90 % band, the pairwise distances on the edit and the keep region."""

from matplotlib.collections import PolyCollection

from cocoedit.rl.logging import RunLogger
from cocoedit.rl.report import SIGNAL_PANELS, signal_figure, write_training_report


def _run(path, shift):
    logger = RunLogger(path, trackers=())
    rows = []
    for step in range(1, 7):
        row = {
            "reward/combined": 0.3 + 0.01 * step,
            "signal/uninformative_groups": 0.5 - 0.05 * step + shift,
            "signal/group_std_p10": 0.01 * step,
            "signal/group_std_p50": 0.02 * step,
            "signal/group_std_p90": 0.03 * step,
            "signal/spread_edit": 0.1 + 0.01 * step,
            "signal/spread_keep": 0.05 - 0.002 * step,
        }
        logger.log(step, row)
        rows.append({"step": step, **row})
    logger.close()
    return rows


def test_the_report_has_a_learning_signal_section(tmp_path):
    runs = {"a": _run(tmp_path / "a", 0.0), "b": _run(tmp_path / "b", 0.1)}
    html = write_training_report([tmp_path / "a", tmp_path / "b"], tmp_path / "cmp.html").read_text()
    signal = html.split("<h2>Learning signal</h2>")[1].split("</section>")[0]
    assert '<img alt="learning signal"' in signal
    others = html.split("<h2>Other metrics")[1].split("</section>")[0] if "<h2>Other metrics" in html else ""
    assert "signal/" not in others  # drawn once, in their own section
    fig = signal_figure(runs, smoothing=0.0)
    assert [ax.get_title() for ax in fig.axes[: len(SIGNAL_PANELS)]] == [t for _, t in SIGNAL_PANELS]
    bands = [c for c in fig.axes[1].collections if isinstance(c, PolyCollection)]
    assert len(bands) == 2  # one 10-90 % band per run
    low, high = bands[0].get_paths()[0].vertices[:, 1].min(), bands[0].get_paths()[0].vertices[:, 1].max()
    assert abs(low - 0.01) < 1e-9 and abs(high - 0.18) < 1e-9
