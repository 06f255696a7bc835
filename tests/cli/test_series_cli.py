"""`backtest series --protocol`: bad input is one line and exit code 2; a protocol run on synthetic samples."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
SAMPLES = ["--data", "synthetic:gpu-samples", "-p", "n_gpus=2", "-p", "hours=30"]


def test_unknown_protocol_and_wrong_table_are_one_line_errors() -> None:
    bad = runner.invoke(app, ["backtest", "series", *SAMPLES, "--protocol", "m5"])
    assert bad.exit_code == 2 and "valid: genai-a, helios-b" in bad.stderr and len(bad.stderr.splitlines()) == 1
    wrong = runner.invoke(app, ["backtest", "series", *SAMPLES, "--protocol", "helios-b"])
    assert wrong.exit_code == 2 and "use helios:earth" in wrong.stderr
    neg = runner.invoke(app, ["backtest", "series", *SAMPLES, "--protocol", "genai-a", "--shift", "-1"])
    assert neg.exit_code == 2 and "--shift" in neg.stderr


def test_genai_protocol_on_synthetic_samples_has_baselines_and_per_series_rows() -> None:
    r = runner.invoke(
        app, ["backtest", "series", *SAMPLES, "--protocol", "genai-a", "--models", "naive-last", "--json"]
    )
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert {(s["model"], s["horizon"]) for s in out["summary"]} == {
        (m, h) for m in ("naive-last", "window-mean") for h in ("1h_steps", "1h_mean")
    }
    assert out["per_series"] and {"unique_id", "MAE", "MASE", "relMAE_vs_naive"} <= set(out["per_series"][0])
    naive = [s for s in out["summary"] if s["model"] == "naive-last"]
    assert all(s["pooled_relMAE"] == 1.0 for s in naive)
