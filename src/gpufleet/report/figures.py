"""Each figure of a report on its own, for a paper: PNG, SVG or PDF (kaleido, which drives a Chrome or Chromium
found on the machine: $BROWSER_PATH, PATH, or the one `plotly_get_chrome` downloads), its data as CSV, or a
standalone HTML page (plotly.js inlined: it opens with no network).

Files are named by the figure's place in the report and its title (`03-gpus-allocated.svg`), so the same runs
give the same names. A figure's CSV holds every trace as rows: the series' name, then its x and y under the
axes' titles (a trace on the right-hand axis gets that axis' title as its own column).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

from gpufleet.core.errors import GpufleetError, brief

FORMATS = ("png", "svg", "pdf", "csv", "html")
IMAGES = ("png", "svg", "pdf")
WIDTH = 900  # px of an exported image (a figure's height is the report's); PNG at 2x for print


def parse_formats(text: str) -> list[str]:
    """`svg,csv` -> ["svg", "csv"]; an unknown format is one line naming it."""
    given = [f.strip().lower() for f in text.split(",") if f.strip()]
    bad = next((f for f in given if f not in FORMATS), None)
    if bad is not None or not given:
        raise GpufleetError(f"--format {text!r}: give one or more of {', '.join(FORMATS)}")
    return list(dict.fromkeys(given))


def browser() -> str | None:
    """The Chrome/Chromium kaleido would drive, or None."""
    from choreographer.browsers.chromium import Chromium

    found = Chromium.find_browser(skip_local=False)
    return found if found and Path(found).exists() else None


def require_images(formats: Sequence[str]) -> None:
    """Before any work: PNG/SVG/PDF need kaleido and a browser for it; one line saying what is missing."""
    wanted = [f for f in formats if f in IMAGES]
    if not wanted:
        return
    try:
        import kaleido  # noqa: F401
    except ImportError:
        raise GpufleetError(
            f"--format {wanted[0]}: needs kaleido (pip install 'gpufleet[sim]'); csv and html need nothing more"
        ) from None
    if browser() is None:
        raise GpufleetError(
            f"--format {wanted[0]}: kaleido needs Chrome or Chromium and found none (install one, e.g. apt install"
            " chromium, set BROWSER_PATH, or run plotly_get_chrome); csv and html need neither"
        )


def slug(n: int, title: str) -> str:
    """A figure's file stem: its number in the report and its title, lower case, dashes."""
    words = re.sub(r"[^a-z0-9]+", "-", title.lower()).strip("-")
    return f"{n + 1:02d}-{words[:60].rstrip('-')}"


def _axis_title(fig: Any, axis: str) -> str | None:
    layout = getattr(fig.layout, axis, None)
    text = layout.title.text if layout is not None and layout.title is not None else None
    return str(text) if text else None


def _untitled(values: Any, axis: str) -> str:
    """An axis without a title: `category` for names (a bar chart's runs or groups), else the axis' name."""
    return "category" if any(isinstance(v, str) for v in values) else axis


def figure_frame(fig: Any) -> pl.DataFrame:
    """A figure's data, one row per point: `series`, then x and y under their axes' titles."""
    parts = []
    for i, tr in enumerate(fig.data):
        if tr.x is None or tr.y is None:
            continue
        xa, ya = tr.xaxis or "x", tr.yaxis or "y"
        xname = _axis_title(fig, "xaxis" + xa[1:]) or _untitled(tr.x, xa)
        yname = _axis_title(fig, "yaxis" + ya[1:]) or _untitled(tr.y, ya)
        if yname == xname:
            yname += " (y)"
        name = tr.name if tr.name is not None else f"trace {i + 1}"
        n = len(tr.x)
        parts.append(
            pl.DataFrame(
                {"series": [name] * n, xname: list(tr.x), yname: list(tr.y)}, strict=False, infer_schema_length=None
            )
        )
    return pl.concat(parts, how="diagonal_relaxed") if parts else pl.DataFrame({"series": []})


def export(figures: Sequence[tuple[str, Any]], folder: Path, formats: Sequence[str]) -> list[Path]:
    """Write each (title, figure) in each format into `folder`; the files written, in order."""
    folder.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    stems = [folder / slug(n, title) for n, (title, _) in enumerate(figures)]
    for stem, (_, fig) in zip(stems, figures, strict=True):
        if "csv" in formats:
            written.append(_replace(stem.with_suffix(".csv"), lambda p, f=fig: figure_frame(f).write_csv(p)))
        if "html" in formats:
            html = fig.to_html(full_html=True, include_plotlyjs=True, div_id="plot", config={"displaylogo": False})
            written.append(_replace(stem.with_suffix(".html"), lambda p, h=html: p.write_text(h)))
    images = [(stem, fig, f) for f in formats if f in IMAGES for stem, (_, fig) in zip(stems, figures, strict=True)]
    if images:
        written += _images(images)
    return written


def _replace(path: Path, write: Any) -> Path:
    """Write through `write(tmp)`, then move over `path`: a crash leaves the old file or the new one."""
    tmp = path.with_name(f".{path.name}.tmp")
    write(tmp)
    tmp.replace(path)
    return path


def _images(items: list[tuple[Path, Any, str]]) -> list[Path]:
    """Every image through one kaleido session (one browser start for all of them)."""
    import plotly.io as pio

    figs, paths = [], []
    for stem, fig, fmt in items:
        figs.append(fig.update_layout(width=WIDTH))  # the report's height; a page's width
        paths.append(stem.with_name(f".{stem.name}.{fmt}.tmp"))
    formats = [fmt for _, _, fmt in items]
    try:
        pio.write_images(figs, paths, format=formats, scale=[2 if f == "png" else 1 for f in formats])
    except Exception as e:  # kaleido's and the browser's failures alike: one line, not a traceback
        raise GpufleetError(
            f"--format {formats[0]}: kaleido could not render ({type(e).__name__}: {brief(e)})"
        ) from None
    return [p.replace(stem.with_suffix(f".{fmt}")) for p, (stem, _, fmt) in zip(paths, items, strict=True)]
