"""The demo's report in a real browser: Debian's chromium (headless), driven by playwright-core from npm as the
dashboard's browser test does, checks the layout a planner sees through the DOM: the executive summary on the
first screen, no two text boxes of a chart (legend entries, axis titles, tick labels) overlapping, value axes
from zero, every $ figure written as currency, no 'undefined'/'NaN'/object repr. Screenshots go to
test-artifacts/report/."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from tests.chromium import CHROMIUM, ROOT, TOOLS, browser_tools

pytestmark = pytest.mark.integration
CURRENCY = re.compile(r"^-?\$\d{1,3}(,\d{3})*\.\d{2}$")


def test_report_layout_in_chromium(demo: Path) -> None:
    browser_tools(need_node=True)
    out = ROOT / "test-artifacts" / "report"
    out.mkdir(parents=True, exist_ok=True)
    # node resolves playwright-core from the script's folder upwards: run a copy inside the tools folder
    shutil.copy(ROOT / "tests" / "report" / "layout.mjs", TOOLS / "report-layout.mjs")
    res = subprocess.run(
        ["node", str(TOOLS / "report-layout.mjs"), str((demo / "report.html").resolve()), str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        env={"CHROMIUM": CHROMIUM, "PATH": "/usr/bin:/bin", "HOME": str(TOOLS)},
    )
    assert res.returncode == 0, res.stderr[-2000:]
    f = json.loads(res.stdout)
    assert not f["errors"], f["errors"]
    assert f["charts"] == 11, f["charts"]
    # the executive summary starts on the first screen and says what to do, in dollars
    assert f["summaryTop"] is not None and 0 <= f["summaryTop"] < f["viewportHeight"]
    assert "Executive summary" in f["summaryText"] and "/month" in f["summaryText"]
    assert f["links"] and all(link["target"] for link in f["links"]), f["links"]
    assert not f["overlaps"], f["overlaps"][:5]
    for chart in f["ranges"]:
        for name, ax in chart["axes"].items():
            if ax["type"] == "linear":
                assert ax["range"][0] >= 0, (chart["chart"], name, ax)
    assert not f["bad"], f["bad"]
    assert len(f["money"]) >= 3 and all(CURRENCY.match(m) for m in f["money"]), f["money"]
    # any "$" followed by a figure anywhere on the page is currency too (not "$1234.5" or "$0.4")
    figures = [d.removesuffix("/month") for d in f["dollarsInText"] if re.search(r"\d", d)]
    assert figures and all(CURRENCY.match(d) for d in figures), [d for d in figures if not CURRENCY.match(d)]
    assert (out / "report-first-screen.png").stat().st_size > 10_000
