"""The training-side policy options: their help is read from the registries (every member, plugins included,
no list by hand), and `--set KIND.KEY=VALUE` reaches the chosen member's settings or fails in one line."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from gpufleet.cli import app
from gpufleet.forecasting.runtime import PREDICTORS
from gpufleet.optimizer.autoscaling.pools import POOL_SCALERS
from gpufleet.optimizer.packing import PLACERS
from gpufleet.sim.schedulers import SCHEDULERS

runner = CliRunner()
SYN = ["--jobs", "synthetic:jobs", "-p", "n_jobs=200", "-p", "days=1", "--cluster", "4x8:A100"]


def _help(*command: str) -> str:
    res = runner.invoke(app, [*command, "--help"])
    assert res.exit_code == 0, res.output
    # one line; the help wraps at 80 columns, breaking after a name's hyphen (`fgd-` / `balance`)
    return re.sub(r"(\w)- (\w)", r"\1-\2", " ".join(res.output.split()))


@pytest.mark.parametrize(
    ("command", "registries"),
    [
        (["simulate"], [SCHEDULERS, PLACERS, PREDICTORS, POOL_SCALERS]),
        (["compare"], [SCHEDULERS, PLACERS, PREDICTORS]),
        (["tenancy"], [SCHEDULERS, PLACERS]),
        (["pack"], [PLACERS]),
        (["pack-experiment"], [PLACERS]),
        (["backtest", "runtime"], [PREDICTORS]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and isinstance(v[0], str) else "",
)
def test_help_lists_every_registered_member(command: list[str], registries: list[object]) -> None:
    text = _help(*command)
    for reg in registries:
        names = reg.names()  # type: ignore[attr-defined]
        assert names and ", ".join(names) in text, f"{reg.kind} members not all in {' '.join(command)} --help"  # type: ignore[attr-defined]
    assert "{policies:" not in text


def test_set_reaches_the_chosen_members(tmp_path: Path) -> None:
    out = tmp_path / "run"
    args = ["simulate", *SYN, "--scheduler", "sjf", "--placement", "fgd", "--pool", "predictive", "--out", str(out)]
    sets = ["scheduler.blocking=true", "placement.coverage=0.9", "pool.target_wait_s=120"]
    res = runner.invoke(app, [*args, *(x for s in sets for x in ("--set", s)), "--json"])
    assert res.exit_code == 0, res.output
    cfg = yaml.safe_load((out / "config.yaml").read_text())
    assert cfg["scheduler"] == {"name": "sjf", "settings": {"blocking": True}}
    assert cfg["placement"] == {"name": "fgd", "settings": {"coverage": 0.9}}
    assert cfg["pool"]["name"] == "predictive" and cfg["pool"]["settings"]["target_wait_s"] == 120.0


@pytest.mark.parametrize(
    ("args", "needles"),
    [
        (["simulate", "--scheduler", "sjf", "--set", "scheduler.blocking=maybe"], ["--set", "'sjf'", "blocking"]),
        (
            ["simulate", "--set", "scheduler.blocking=true"],
            ["--set scheduler.blocking=true", "scheduler 'fifo'", "not a setting"],
        ),
        (["simulate", "--set", "blocking=true"], ["--set blocking", "KIND.KEY=VALUE", "scheduler, placement"]),
        (["simulate", "--set", "pool.idle_s=60"], ["--set pool", "--pool"]),
        (["simulate", "--set", "scheduler.blocking"], ["--set", "'scheduler.blocking'", "KIND.KEY=VALUE"]),
        (["simulate", "--placement", "fgd", "--set", "placement.coverage=2"], ["placer 'fgd'", "coverage"]),
        (["compare", "--schedulers", "sjf,fifo", "--set", "scheduler.blocking=true"], ["scheduler 'fifo'"]),
        (["tenancy", "--set", "predictor.default_s=1"], ["--set predictor.default_s", "scheduler, placement"]),
    ],
    ids=lambda v: " ".join(v) if isinstance(v, list) and v[0] in ("simulate", "compare", "tenancy") else "",
)
def test_a_bad_setting_is_one_line_exit_2(tmp_path: Path, args: list[str], needles: list[str]) -> None:
    (tmp_path / "t.yaml").write_text("nodes: 2x8:A100\nvcs: {a: 1, b: 1}\n")
    extra = {
        "simulate": [*SYN, "--out", str(tmp_path / "run")],
        "compare": SYN,
        "tenancy": ["--jobs", "synthetic:jobs", "--cluster", str(tmp_path / "t.yaml")],
    }[args[0]]
    res = runner.invoke(app, [args[0], *extra, *args[1:]])
    err = res.stderr.strip()
    assert res.exit_code == 2, res.output
    assert err.startswith("error:") and "\n" not in err and "internal error" not in err, err
    for n in needles:
        assert n in err, f"{n!r} not in: {err}"
    assert not (tmp_path / "run").exists()  # refused before any work


def test_pack_takes_the_placer_settings() -> None:
    res = runner.invoke(app, ["pack", "--pods", "synthetic:jobs", "--nodes", "2x8", "--policy", "fgd", "--set", "x=1"])
    assert res.exit_code == 2 and "--set x=1" in res.stderr and "coverage" in res.stderr, res.output
