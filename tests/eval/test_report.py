"""The consistency HTML report: self-contained, every section present, worst samples first."""

import re

from cocoedit.eval.consistency import evaluate_consistency
from cocoedit.eval.report import psnr_histogram_figure


def test_report_is_self_contained_with_plots_and_worst_samples(gedit_bench, tmp_path):
    results = [gedit_bench.results["careful"], gedit_bench.results["global"]]
    evaluate_consistency("gedit", gedit_bench.bench_dir, results, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    for heading in (
        "Summary: keep-region consistency",
        "Per category",
        "Keep-region PSNR distribution",
        "Worst samples: careful",
        "Worst samples: global",
        "Samples not scored (0)",
    ):
        assert f"<h2>{heading}</h2>" in html
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # 2 plots + the colour bar + per worst sample of "global" (careful has none that is not exact):
    # source, edit region, and (result, error map) for both folders.
    assert len(sources) == 3 + gedit_bench.samples * (2 + 2 * 2)
    assert "No scored sample that is not an exact copy." in html.split("<h2>Worst samples: careful</h2>")[1]
    worst = html.split("<h2>Worst samples: global</h2>")[1].split("</section>")[0]
    psnrs = [float(v) for v in re.findall(r"global: keep PSNR ([0-9.]+) dB", worst)]
    assert psnrs == sorted(psnrs) and len(psnrs) == gedit_bench.samples
    # The same sample from the other folder is shown beside it, and the instruction above it.
    assert worst.count("careful: keep PSNR exact") == gedit_bench.samples
    assert worst.count('class="instruction"') == gedit_bench.samples


def test_exact_copies_are_counted_shown_as_exact_and_kept_out_of_the_plots(gedit_bench, tmp_path):
    evaluate_consistency(
        "gedit", gedit_bench.bench_dir, [gedit_bench.results["careful"], gedit_bench.results["drifting"]], tmp_path
    )
    html = (tmp_path / "report.html").read_text()
    summary_table = html.split("<h2>Per category</h2>")[0]
    careful_row = summary_table.split("<td>careful</td>")[1].split("</tr>")[0]
    cells = re.findall(r"<td>(.*?)</td>", careful_row)
    # samples, scored, not scored, exact copies, PSNR macro, PSNR mean without exact copies
    assert cells[3] == str(gedit_bench.samples) and cells[4] == "exact" and cells[5] == "–"
    assert "100.00" not in html

    rows = [
        {"results": "a", "status": "ok", "keep_psnr": "100.0", "keep_mse": "0.0"},
        {"results": "a", "status": "ok", "keep_psnr": "31.0", "keep_mse": "0.0008"},
        {"results": "b", "status": "ok", "keep_psnr": "30.0", "keep_mse": "0.001"},
    ]
    fig = psnr_histogram_figure(rows, ["a", "b"])
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["a (1 exact, not drawn)", "b"]
    assert ax.get_xlim()[1] < 32  # the 100 dB of the exact copy does not stretch the axis
    assert psnr_histogram_figure(rows[:1], ["a"]) is None
