"""The consistency HTML report: self-contained, every section present, worst samples first."""

import re

from cocoedit.eval.consistency import evaluate_consistency


def test_report_is_self_contained_with_plots_and_worst_samples(gedit_bench, tmp_path):
    results = [gedit_bench.results["careful"], gedit_bench.results["global"]]
    evaluate_consistency("gedit", gedit_bench.bench_dir, results, tmp_path)
    html = (tmp_path / "report.html").read_text()
    assert html.startswith("<!DOCTYPE html>")
    for heading in ("Summary: keep-region consistency", "Per category", "Keep-region PSNR distribution",
                    "Worst samples: careful", "Worst samples: global", "Samples not scored (0)"):
        assert f"<h2>{heading}</h2>" in html
    sources = re.findall(r'src="([^"]+)"', html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    # 2 plots + (source, result, overlay) for each shown sample of each results folder.
    assert len(sources) == 2 + 2 * 3 * gedit_bench.samples
    worst = html.split("<h2>Worst samples: global</h2>")[1].split("</section>")[0]
    psnrs = [float(v) for v in re.findall(r"keep PSNR ([0-9.]+) dB", worst)]
    assert psnrs == sorted(psnrs) and len(psnrs) == gedit_bench.samples
