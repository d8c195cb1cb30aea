"""Blind by construction: every byte a rater's browser receives (HTML, scripts, API answers, headers,
images) is collected for two results folders whose files differ in name, modification time, format
(PNG with text and resolution chunks against lossless WebP with alpha and EXIF) and metadata but
hold the same pixels: nothing tells them apart, and nothing changes when the files are replaced by
plain PNGs in folders of other names. The sides are drawn from a secret the raters never see."""

import io
import os
import struct

import numpy as np
from PIL import Image, PngImagePlugin

from cocoedit.core.images import open_rgb_image
from cocoedit.eval.benchmarks import load_benchmark, result_path
from cocoedit.testing.http import serving
from cocoedit.viewer.server import create_app, open_study

SECRET = "the same orders in both studies"
WHEN = {"model-alpha": 978_307_200, "model-beta": 1_717_200_000}  # 2001-01-01, 2024-06-01


def png_chunks(data):
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks, at = [], 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        chunks.append(data[at + 4 : at + 8])
        at += 12 + length
    return chunks


def write_folder(root, name, bench, style):
    """``name``'s results: the "careful" editor's pixels, stored as ``style`` says."""
    folder = root / name
    for sample in load_benchmark("gedit", bench.bench_dir):
        pixels = open_rgb_image(result_path(bench.results["careful"], sample))
        target = folder / sample.result_relpath
        target.parent.mkdir(parents=True, exist_ok=True)
        if style == "png with metadata":
            info = PngImagePlugin.PngInfo()
            info.add_text("Software", f"{name} trained on 8 GPUs")
            pixels.save(target, pnginfo=info, dpi=(300, 300))
        elif style == "webp with alpha and exif":
            exif = Image.Exif()
            exif[0x0131] = name  # Software
            rgba = pixels.copy()
            rgba.putalpha(255)
            rgba.save(target.with_suffix(".webp"), lossless=True, exact=True, exif=exif)
        else:
            pixels.save(target)
    for path in [folder, *folder.rglob("*")]:
        if style != "plain":
            os.utime(path, (WHEN[name], WHEN[name]))
    return folder


def transcript(browser, session):
    """Every response the rater's browser gets while answering the whole study: (path, status, headers, body)."""
    responses = []
    with serving(create_app(session)) as base:
        context = browser.new_context(viewport={"width": 1000, "height": 800})
        page = context.new_page()
        page.on("response", lambda response: responses.append(response))
        page.goto(f"{base}/?rater=ann")
        for _ in range(len(session.units)):
            page.wait_for_selector("#task[data-locked=no]")
            page.wait_for_function("[...document.images].every(i => i.complete && i.naturalWidth > 0)")
            page.click("#choose-tie")
        page.wait_for_selector("text=All done")
        out = []
        for r in responses:
            body = r.body().replace(session.page_token.encode(), b"TOKEN")
            headers = {k: v for k, v in r.all_headers().items() if k != "date"}
            out.append((r.url.removeprefix(base), r.status, tuple(sorted(headers.items())), body))
        context.close()
    return sorted(out)


def test_nothing_but_the_pixels_reaches_the_rater(browser, small_bench, tmp_path):
    labels = ("model-alpha", "model-beta")
    dressed = [
        write_folder(tmp_path / "s1", "model-alpha", small_bench, "png with metadata"),
        write_folder(tmp_path / "s1", "model-beta", small_bench, "webp with alpha and exif"),
    ]
    plain = [write_folder(tmp_path / "s2", name, small_bench, "plain") for name in ("x", "a-much-longer-name")]
    samples = load_benchmark("gedit", small_bench.bench_dir)
    for sample in samples:  # the two folders hold the same pixels in different files
        a, b = (result_path(d, sample) for d in dressed)
        assert a.suffix == ".png" and b.suffix == ".webp" and a.read_bytes() != b.read_bytes()
        assert np.array_equal(np.asarray(open_rgb_image(a)), np.asarray(open_rgb_image(b)))
    studies = [
        open_study("gedit", small_bench.bench_dir, folders, tmp_path / f"{i}.sqlite", secret=SECRET)[0]
        for i, folders in enumerate((dressed, plain))
    ]
    seen = [transcript(browser, s) for s in studies]
    for s in studies:
        s.store.close()

    # Plain PNGs in folders of other names (hence other labels) change nothing the rater receives
    # (the browser asks for a favicon when it likes: an empty 204, checked below with the rest).
    assert [r for r in seen[0] if r[0] != "/favicon.ico"] == [r for r in seen[1] if r[0] != "/favicon.ico"]
    everything = seen[0]
    paths = [p for p, *_ in everything]
    assert {"/?rater=ann", "/static/rate.js", "/static/rate.css"} <= set(paths)
    assert any(p.startswith("/api/task") for p in paths) and any(p.startswith("/api/vote") for p in paths)
    forbidden = [*labels, "GPUs", "webp", "WEBP", "jpeg", str(tmp_path)]
    images = {}
    for path, status, headers, body in everything:
        header_names = {k for k, _ in headers}
        assert status in (200, 204), path
        assert "etag" not in header_names and "last-modified" not in header_names, path
        assert dict(headers).get("cache-control") == "no-store", path
        for word in forbidden:
            assert all(word not in v for _, v in headers), (path, word)
            assert path.startswith("/img/") or word.encode() not in body, (path, word)
        if path.startswith("/img/"):
            assert dict(headers)["content-type"] == "image/png"
            assert set(png_chunks(body)) == {b"IHDR", b"IDAT", b"IEND"}, path  # no text, profile, EXIF, pHYs
            assert Image.open(io.BytesIO(body)).size == Image.open(samples[0].source).size
            images[path] = (headers, body)
    # Within the study, the two folders' images are the same bytes with the same headers.
    tasks = {p.split("/")[2] for p in images}
    assert len(tasks) == 3
    for task in tasks:
        assert images[f"/img/{task}/0"] == images[f"/img/{task}/1"]


def test_sides_come_from_a_secret_that_stays_in_the_file(small_bench, tmp_path):
    folders = [small_bench.results[n] for n in ("careful", "drifting", "global")]
    orders = []
    for i in range(2):  # the same seed, folders and rater: only the drawn secret differs
        session, _ = open_study("gedit", small_bench.bench_dir, folders, tmp_path / f"{i}.sqlite")
        order = []
        for _ in range(3):
            task = session.store.next_task("ann", session.units, 0)
            session.store.vote(task.id, "ann", [[0], [1]])
            order.append((task.sample_key, task.shown))
        orders.append(order)
        secret = session.store.secret()
        assert len(secret) == 32 and secret not in str(session.store.study())
        session.store.close()
    assert orders[0] != orders[1]
