"""Self-contained HTML reports: one file, plots and thumbnails inlined as base64 PNG.

:func:`html_page`, :func:`section`, :func:`html_table`, :func:`figure_img`, :func:`image_img`,
:func:`tile_img`, :func:`mask_overlay` and :func:`pyplot` are shared by every report of the package (evaluation,
training, curation statistics, the demo).
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from cocoedit.core.formatting import format_number, kind_for
from cocoedit.core.masks import MaskPolarity

THUMBNAIL_SIDE = 220

_CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:2rem auto;max-width:1200px;
color:#1d2330;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem} h2{font-size:1.2rem;margin-top:2.2rem;
border-bottom:1px solid #dde;padding-bottom:.3rem}
table{border-collapse:collapse;margin:.6rem 0;font-size:.9rem}
th,td{border:1px solid #d8dbe4;padding:.3rem .55rem;text-align:right}
th{background:#f1f3f8} td:first-child,th:first-child{text-align:left}
.muted{color:#667;font-size:.88rem} .bad{color:#b3261e}
figure{display:inline-block;margin:.3rem .6rem .3rem 0;text-align:center;font-size:.8rem}
img{max-width:100%} .thumbs img{border:1px solid #ccd}
.tiles{display:flex;flex-wrap:wrap;gap:.2rem;align-items:flex-start} .tilecol{display:flex;flex-direction:column}
.tile{margin:.1rem .3rem .1rem 0;width:184px} .tile img{width:180px;height:135px;object-fit:contain;
background:#eef0f4;border:1px solid #ccd} .tile.own img{outline:3px solid #2c6fbb} .sample{margin:1rem 0 1.4rem}
.instruction{font-style:italic}
"""


def _fmt(value: Any, kind: str = "auto") -> str:
    return html.escape(format_number(value, kind))


def html_table(columns: Sequence[str], rows: Sequence[Sequence[Any]], kinds: Sequence[str] | None = None) -> str:
    """An HTML table; numbers formatted by kind (:mod:`cocoedit.core.formatting`), text escaped.

    ``kinds`` gives each column's number kind; by default it is guessed from the column header.
    A cell given as ``("raw", html_string)`` is inserted without escaping.
    """
    kinds = list(kinds) if kinds is not None else [kind_for(c) for c in columns]
    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = []
    for row in rows:
        cells = []
        for v, kind in zip(row, kinds, strict=True):
            if isinstance(v, tuple) and len(v) == 2 and v[0] == "raw":
                cells.append(f"<td>{v[1]}</td>")
            else:
                cells.append(f"<td>{_fmt(v, kind)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def section(title: str, body_html: str) -> str:
    return f"<section><h2>{html.escape(title)}</h2>{body_html}</section>"


def html_page(title: str, sections: Sequence[str], subtitle: str = "") -> str:
    """A complete HTML document with the shared style."""
    sub = f'<p class="muted">{html.escape(subtitle)}</p>' if subtitle else ""
    return (
        "<!DOCTYPE html><html lang=en><head><meta charset=utf-8>"
        f"<title>{html.escape(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{html.escape(title)}</h1>{sub}{''.join(sections)}</body></html>"
    )


def _png_data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def figure_img(fig: Any, alt: str = "") -> str:
    """A matplotlib figure as an inline ``<img>``; the figure is closed."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return f'<img alt="{html.escape(alt)}" src="{_png_data_url(buf.getvalue())}">'


def image_img(image: Image.Image, caption: str = "", max_side: int = THUMBNAIL_SIDE) -> str:
    """A PIL image as an inline thumbnail ``<figure>``."""
    thumb = image.convert("RGB")
    thumb.thumbnail((max_side, max_side))
    buf = io.BytesIO()
    thumb.save(buf, format="PNG")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure><img src="{_png_data_url(buf.getvalue())}">{cap}</figure>'


def tile_img(image: Image.Image, caption: str = "", own: bool = False) -> str:
    """A thumbnail in a fixed-size box (every tile of a report the same size), with a caption."""
    body = image_img(image, "", max_side=400).removeprefix("<figure>").removesuffix("</figure>")
    cap = f"<figcaption>{html.escape(caption)}</figcaption>" if caption else ""
    return f'<figure class="tile{" own" if own else ""}">{body}{cap}</figure>'


def mask_overlay(source: Image.Image, mask_file: Image.Image, polarity: MaskPolarity) -> Image.Image:
    """The source with its edit region tinted red and the keep region left as is."""
    src = np.asarray(source.convert("RGB"), dtype=np.float32)
    values = np.asarray(mask_file.convert("L").resize(source.size, Image.NEAREST), dtype=np.float32) / 255
    edit = values >= 0.5 if polarity == "white_is_edit" else values < 0.5
    tint = src * 0.45 + np.array([255.0, 40.0, 40.0]) * 0.55
    return Image.fromarray(np.where(edit[..., None], tint, src).astype(np.uint8))


def pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt
