"""Every bad input we know of, one table, run through the real CLI (issue #21 point 8).

Each row is a command line and the words its error must contain (the file, line/row, column or option it
names). Every row must end with exit code 2 and exactly one line on stderr starting with `error:`, nothing
on stdout, and never "internal error" or a traceback. `{f}` in an argument is the folder of bad files that
the `files` fixture writes. A new bad input found later belongs here as one more row.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
import sys
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from gpufleet.cli import app

runner = CliRunner()
JOBS = "{f}/jobs.csv"
SAMPLES = "{f}/samples.csv"
REQ = ["autoscale-sim", "--requests", "synthetic:requests"]
SIM = ["simulate", "--jobs", JOBS, "--cluster", "4x8:A100", "--out", "{f}/run"]
SHOW = ["traces", "show"]
EXPORT = [*SIM[:2], "{f}/export.csv", *SIM[3:]]
EXPORT_MAP = "table: JOBS\ncolumns: {job_id: id, submit_time: start, num_gpus: gpus}\n"


def _jobs(n: int = 30) -> pl.DataFrame:
    return pl.DataFrame(
        {
            "job_id": [f"j{i}" for i in range(n)],
            "submit_time": [float(i * 60) for i in range(n)],
            "duration": [600.0 + 30 * i for i in range(n)],
            "num_gpus": [1.0, 2.0, 4.0] * (n // 3),
            "kind": ["train"] * n,
        }
    )


def _write(d: Path) -> None:
    """The bad files (and the few good ones the bad options are given with)."""
    j = _jobs()
    j.write_csv(d / "jobs.csv")
    head = "job_id,submit_time,duration,num_gpus\n"
    (d / "header.csv").write_text(head)
    (d / "empty.csv").write_bytes(b"")
    (d / "binary.csv").write_bytes(bytes(range(256)) * 8)
    (d / "latin1.csv").write_bytes((head + "équipe,0,60,1\n").encode("latin-1"))
    (d / "ragged.csv").write_text(head + "a,1,2,3\nb,1,2,3,4,5\n")
    (d / "badnum.csv").write_text(head + "a,1,2,3\nb,1,2,x\n")
    _jobs(6).write_csv(d / "few.csv")
    (d / "nocol.csv").write_text("job_id,submit_time,duration\na,1,2\n")
    (d / "neg.csv").write_text(head + "a,1,-2,3\n")
    (d / "inf.csv").write_text(head + "a,1,2,inf\n")
    (d / "notgz.csv.gz").write_bytes(b"job_id,submit_time\n1,2\n")
    (d / "trunc.csv.gz").write_bytes(gzip.compress((d / "jobs.csv").read_bytes())[:60])
    j.with_columns(("x" + pl.col("num_gpus").cast(pl.String)).alias("num_gpus")).write_parquet(d / "strgpus.parquet")
    j.with_columns(pl.concat_list("num_gpus").alias("num_gpus")).write_parquet(d / "listgpus.parquet")
    j.with_columns(pl.col("submit_time").cast(pl.Boolean)).write_parquet(d / "boolsubmit.parquet")
    j.head(0).write_parquet(d / "zerorows.parquet")
    (d / "garbage.parquet").write_bytes(b"PAR1 this is not parquet")
    (d / "broken.jsonl").write_text('{"job_id": "a", "submit_time": 1, "duration": 2, "num_gpus": 1}\n{oops\n')
    (d / "empty.jsonl").write_text("")
    (d / "adir").mkdir()
    (d / "dir.csv").mkdir()
    (d / "afile").write_text("x")
    (d / "jobs.tsv").write_text((d / "jobs.csv").read_text().replace(",", "\t"))
    # times in the wrong unit: epoch milli/micro/nanoseconds, and run times in milliseconds
    base = pl.col("submit_time") + 1.7e9
    j.with_columns(base * 1e3).write_csv(d / "ms.csv")
    j.with_columns(base * 1e6).write_csv(d / "us.csv")
    j.with_columns(base * 1e9).write_csv(d / "ns.csv")
    j.with_columns(pl.col("duration") * 1e4).write_csv(d / "msdur.csv")
    samples = "ts,source,pod,util\n" + "".join(f"{1_714_550_400 + 60 * i},dcgm,p-{i % 3},0.5\n" for i in range(60))
    (d / "samples.csv").write_text(samples)
    (d / "samples_ms.csv").write_text(samples.replace(",dcgm", "000,dcgm"))
    (d / "baddates.csv").write_text("ts,source\nyesterday,dcgm\ntomorrow,dcgm\n")
    pl.DataFrame({"ts": [True, False], "source": ["a", "b"]}).write_parquet(d / "boolts.parquet")
    (d / "export.csv").write_text("id,start,end,gpus\na,0,60,1\nb,5,soon,2\n")
    qps = "".join(f"p,{1_735_689_600 + 3600 * k},{k % 5}\n" for k in range(24 * 14))
    (d / "qps.csv").write_text("pod,t,qps\n" + qps)
    # --map files
    maps = {
        "map_syntax.yaml": "table: JOBS\ncolumns: {job_id: [\n",
        "map_extra.yaml": "table: JOBS\ncolumnz: {}\n",
        "map_unit.yaml": "table: JOBS\nunits: {duration: fortnights}\n",
        "map_table.yaml": "table: FOO\n",
        "map_nodes.yaml": "table: NODES\n",
        "map_list.yaml": "- a\n- b\n",
        "map_epoch.yaml": "table: JOBS\ntimestamps: {submit_time: {epoch: yesterday}}\n",
        "map_const.yaml": "table: JOBS\nconstants: {num_gpus: lots}\n",
        "map_missingcol.yaml": "table: JOBS\ncolumns: {duration: runtime}\n",
        "map_badkey.yaml": "table: JOBS\ncolumns: {gpus: num_gpus}\n",
        # the map language of #25: computed columns, fill values, units by kind, sections (export.csv below)
        "map_op.yaml": f"{EXPORT_MAP}computed: {{duration: {{mul: [end, start]}}}}\n",
        "map_operand.yaml": f"{EXPORT_MAP}computed: {{duration: {{diff: [ended, start]}}}}\n",
        "map_diff.yaml": f"{EXPORT_MAP}computed: {{duration: {{diff: [end, start]}}}}\n",
        "map_fill.yaml": f"{EXPORT_MAP}fill: {{num_gpus: lots}}\n",
        "map_unitkind.yaml": f"{EXPORT_MAP}units: {{mem_bytes: ms}}\n",
        "map_section.yaml": "JOBS: {}\nJOB: {}\n",
        "map_ds_ms.yaml": "SERIES:\n  columns: {unique_id: pod, ds: t, y: qps}\n  units: {ds: ms}\n",
        "ten_syntax.yaml": "nodes: 4x8:A100\nvcs: {a: [\n",
        "ten_nope.yaml": "nodes: 4x8:NOPE\nvcs: {a: 2}\n",
        "ten_ok.yaml": "nodes: 4x8:A100\nvcs: {a: 4}\n",
        "prof_syntax.yaml": "name: x\n  bad: [\n",
    }
    for name, text in maps.items():
        (d / name).write_text(text)
    (d / "map_latin1.yaml").write_bytes("table: JOBS\ncolumns: {group: 'équipe'}\n".encode("latin-1"))
    (d / "ten_latin1.yaml").write_bytes("nodes: 4x8:A100\nvcs: {'é': 2}\n".encode("latin-1"))
    for name, content in {"model_latin1": b"\xff\xfe{", "model_list": b"[1, 2]"}.items():
        (d / name).mkdir()
        (d / name / "model.json").write_bytes(content)
    # run directories for `report`: a real one, then damaged copies
    ok = runner.invoke(app, ["simulate", "--jobs", str(d / "jobs.csv"), "--cluster", "2x8", "--out", str(d / "run")])
    assert ok.exit_code == 0, ok.output
    for name, file, content in (
        ("run_badjson", "summary.json", b"{not json"),
        ("run_badtable", "jobs.parquet", b"PAR1 torn"),
    ):
        shutil.copytree(d / "run", d / name)
        (d / name / file).write_bytes(content)


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("bad")
    _write(d)
    return d


# (id, command line, words the one error line must contain)
CASES: list[tuple[str, list[str], list[str]]] = [
    # -- files of your own: CSV, CSV.gz, Parquet, JSON Lines ------------------------------------------------
    ("csv-header-only", [*SHOW, "{f}/header.csv"], ["header.csv", "no data rows"]),
    ("csv-empty", [*SHOW, "{f}/empty.csv"], ["empty.csv", "empty"]),
    ("csv-binary", [*SHOW, "{f}/binary.csv"], ["binary.csv", "binary content", "line 1"]),
    ("csv-not-utf8", [*SHOW, "{f}/latin1.csv"], ["latin1.csv", "not UTF-8", "line 2"]),
    ("csv-ragged-row", [*SHOW, "{f}/ragged.csv"], ["ragged.csv", "line 3", "6 fields"]),
    ("csv-bad-number", [*SHOW, "{f}/badnum.csv"], ["badnum.csv", "line 3", "'num_gpus'", "'x'"]),
    ("csv-fits-no-table", [*SHOW, "{f}/nocol.csv"], ["nocol.csv", "which table"]),
    (
        "csv-missing-column",
        ["simulate", "--jobs", "{f}/nocol.csv", "--cluster", "1x8", "--out", "{f}/r"],
        ["nocol.csv", "missing column 'num_gpus'"],
    ),
    ("csv-negative-duration", [*SHOW, "{f}/neg.csv"], ["neg.csv", "JOBS.duration", "negative"]),
    ("csv-infinite-gpus", [*SHOW, "{f}/inf.csv"], ["inf.csv", "JOBS.num_gpus", "not finite"]),
    ("gz-not-gzip", [*SHOW, "{f}/notgz.csv.gz"], ["notgz.csv.gz", "not gzip"]),
    ("gz-truncated", [*SHOW, "{f}/trunc.csv.gz"], ["trunc.csv.gz", "truncated"]),
    ("parquet-text-in-number", [*SHOW, "{f}/strgpus.parquet"], ["strgpus.parquet", "row 0", "'num_gpus'"]),
    ("parquet-list-column", [*SHOW, "{f}/listgpus.parquet"], ["listgpus.parquet", "'num_gpus'", "List"]),
    ("parquet-bool-time", [*SHOW, "{f}/boolsubmit.parquet"], ["boolsubmit.parquet", "'submit_time'", "Boolean"]),
    ("parquet-bool-timestamp", ["rightsize", "--samples", "{f}/boolts.parquet"], ["boolts.parquet", "'ts'"]),
    ("parquet-no-rows", [*SHOW, "{f}/zerorows.parquet"], ["zerorows.parquet", "no data rows"]),
    ("parquet-garbage", [*SHOW, "{f}/garbage.parquet"], ["garbage.parquet", "cannot read it"]),
    ("jsonl-broken", [*SHOW, "{f}/broken.jsonl"], ["broken.jsonl", "cannot read it"]),
    ("jsonl-empty", [*SHOW, "{f}/empty.jsonl"], ["empty.jsonl"]),
    ("file-unknown-format", [*SHOW, "{f}/jobs.tsv"], ["jobs.tsv", "unknown format", ".parquet"]),
    ("file-missing", [*SHOW, "{f}/nothere.csv"], ["nothere.csv", "file not found"]),
    ("file-is-directory", [*SHOW, "{f}/adir"], ["adir", "is a directory"]),
    ("csv-named-directory", [*SHOW, "{f}/dir.csv"], ["dir.csv", "is a directory"]),
    ("samples-file-binary", ["rightsize", "--samples", "{f}/binary.csv"], ["binary.csv", "binary content"]),
    ("samples-bad-dates", ["rightsize", "--samples", "{f}/baddates.csv"], ["baddates.csv", "line 2", "'ts'"]),
    # -- times in the wrong unit ----------------------------------------------------------------------------
    ("time-milliseconds", [*SIM[:2], "{f}/ms.csv", *SIM[3:]], ["ms.csv", "'submit_time'", "--time-unit ms"]),
    ("time-microseconds", [*SHOW, "{f}/us.csv"], ["us.csv", "'submit_time'", "--time-unit us"]),
    ("time-nanoseconds", [*SHOW, "{f}/ns.csv"], ["ns.csv", "'submit_time'", "--time-unit ns"]),
    ("time-unit-still-wrong", [*SHOW, "{f}/ns.csv", "--time-unit", "ms"], ["ns.csv", "--time-unit ns"]),
    ("duration-milliseconds", [*SHOW, "{f}/msdur.csv"], ["msdur.csv", "'duration'", "--time-unit ms"]),
    ("samples-milliseconds", ["rightsize", "--samples", "{f}/samples_ms.csv"], ["samples_ms.csv", "'ts'", "ms"]),
    ("time-unit-unknown", [*SHOW, JOBS, "--time-unit", "minutes"], ["--time-unit", "'minutes' is not one of"]),
    # -- --map files ----------------------------------------------------------------------------------------
    ("map-yaml-syntax", [*SIM, "--map", "{f}/map_syntax.yaml"], ["map_syntax.yaml", "not valid YAML", "line 3"]),
    ("map-not-utf8", [*SIM, "--map", "{f}/map_latin1.yaml"], ["map_latin1.yaml", "not UTF-8", "line 2"]),
    ("map-unknown-key", [*SIM, "--map", "{f}/map_extra.yaml"], ["map_extra.yaml", "columnz"]),
    ("map-unknown-unit", [*SIM, "--map", "{f}/map_unit.yaml"], ["map_unit.yaml", "units", "'fortnights'"]),
    ("map-unknown-table", [*SIM, "--map", "{f}/map_table.yaml"], ["map_table.yaml", "table", "'FOO'"]),
    (  # a NODES map is never applied to a JOBS file: that file is read as it is, and lacks num_gpus
        "map-other-table",
        [*SIM[:2], "{f}/nocol.csv", *SIM[3:], "--map", "{f}/map_nodes.yaml"],
        ["map_nodes.yaml", "missing column 'num_gpus'", "not JOBS"],
    ),
    ("map-not-a-mapping", [*SIM, "--map", "{f}/map_list.yaml"], ["map_list.yaml", "dictionary"]),
    ("map-bad-epoch", [*SIM, "--map", "{f}/map_epoch.yaml"], ["map_epoch.yaml", "timestamps.submit_time.epoch"]),
    ("map-bad-constant", [*SIM, "--map", "{f}/map_const.yaml"], ["jobs.csv", "JOBS.num_gpus", "'lots'"]),
    (
        "map-column-not-in-file",
        [*SIM, "--map", "{f}/map_missingcol.yaml"],
        ["map_missingcol.yaml", "columns.duration", "'runtime'"],
    ),
    (
        "map-not-a-canonical-column",
        [*SIM, "--map", "{f}/map_badkey.yaml"],
        ["map_badkey.yaml", "columns.gpus", "no column 'gpus'"],
    ),
    ("map-computed-unknown-op", [*EXPORT, "--map", "{f}/map_op.yaml"], ["map_op.yaml", "computed.duration.mul"]),
    (
        "map-computed-operand-not-in-file",
        [*EXPORT, "--map", "{f}/map_operand.yaml"],
        ["map_operand.yaml", "computed.duration", "diff(ended, start)", "no column 'ended'"],
    ),
    (
        "map-computed-operand-unreadable",
        [*EXPORT, "--map", "{f}/map_diff.yaml"],
        ["export.csv", "line 3", "column 'end'", "'soon'"],
    ),
    ("map-fill-not-a-number", [*EXPORT, "--map", "{f}/map_fill.yaml"], ["map_fill.yaml", "fill.num_gpus", "'lots'"]),
    (
        "map-unit-of-the-wrong-kind",
        [*EXPORT, "--map", "{f}/map_unitkind.yaml"],
        ["map_unitkind.yaml", "units.mem_bytes", "'ms' is not a size unit"],
    ),
    ("map-unknown-section", [*EXPORT, "--map", "{f}/map_section.yaml"], ["map_section.yaml", "JOB"]),
    (  # seconds mapped onto ds and read as milliseconds: 14 days become 20 minutes (once an internal error)
        "map-series-seconds-as-ms",
        ["backtest", "series", "--data", "{f}/qps.csv", "--map", "{f}/map_ds_ms.yaml", "--models", "seasonal-naive"],
        ["too few steps", "units"],
    ),
    ("map-missing", [*SIM, "--map", "{f}/nomap.yaml"], ["--map", "nomap.yaml", "cannot read"]),
    ("map-is-directory", [*SIM, "--map", "{f}/adir"], ["--map", "adir", "is a directory"]),
    # -- cluster specs --------------------------------------------------------------------------------------
    ("spec-too-many-nodes", [*SIM[:3], "--cluster", "100000000x8", *SIM[5:]], ["100000000x8", "100,000"]),
    ("spec-too-many-in-all", [*SIM[:3], "--cluster", "60000x8,50000x8", *SIM[5:]], ["110,000 nodes"]),
    ("spec-unknown-gpu", [*SIM[:3], "--cluster", "64x8:NOPE", *SIM[5:]], ["'NOPE'", "known:", "H100"]),
    ("spec-zero-gpus", [*SIM[:3], "--cluster", "64x0", *SIM[5:]], ["'64x0'", "1 to 128"]),
    ("spec-zero-nodes", [*SIM[:3], "--cluster", "0x8", *SIM[5:]], ["'0x8'", "no nodes"]),
    ("spec-too-many-gpus", [*SIM[:3], "--cluster", "4x100000", *SIM[5:]], ["'4x100000'", "1 to 128"]),
    ("spec-pack-unknown-gpu", ["pack", "--pods", JOBS, "--nodes", "8x8:NOPE"], ["'NOPE'", "known:"]),
    ("spec-backtest-cluster", ["backtest", "runtime", "--data", JOBS, "--cluster", "64x0"], ["'64x0'"]),
    (
        "tenancy-yaml-syntax",
        ["tenancy", "--jobs", JOBS, "--cluster", "{f}/ten_syntax.yaml"],
        ["--cluster", "ten_syntax.yaml", "not valid YAML", "line 3"],
    ),
    (
        "tenancy-not-utf8",
        ["tenancy", "--jobs", JOBS, "--cluster", "{f}/ten_latin1.yaml"],
        ["ten_latin1.yaml", "not UTF-8"],
    ),
    ("tenancy-unknown-gpu", [*SIM[:3], "--cluster", "{f}/ten_nope.yaml", *SIM[5:]], ["'NOPE'"]),
    ("tenancy-missing", [*SIM[:3], "--cluster", "{f}/nothere.yaml", *SIM[5:]], ["nothere.yaml", "cannot read"]),
    # -- --out that cannot be written -----------------------------------------------------------------------
    ("out-is-file", [*SIM[:-1], "{f}/afile"], ["--out", "afile", "is a file"]),
    ("out-under-file", [*SIM[:-1], "{f}/afile/sub"], ["--out", "afile/sub", "is a file"]),
    ("compare-out-is-file", ["compare", "--jobs", JOBS, "--cluster", "2x8", "--out", "{f}/afile"], ["afile"]),
    (
        "tenancy-out-is-file",
        ["tenancy", "--jobs", JOBS, "--cluster", "{f}/ten_ok.yaml", "--out", "{f}/afile"],
        ["--out", "afile"],
    ),
    ("autoscale-out-is-file", [*REQ, "--out", "{f}/afile"], ["--out", "afile"]),
    (
        "autoscalers-out-is-file",
        ["compare-autoscalers", "--requests", "synthetic:requests", "--out", "{f}/afile"],
        ["--out", "afile"],
    ),
    ("train-out-is-file", ["train", "runtime", "--jobs", JOBS, "--out", "{f}/afile"], ["--out", "afile"]),
    (
        "predict-out-is-dir",
        ["predict", "runtime", "--model", "{f}/adir", "--jobs", JOBS, "--out", "{f}/adir"],
        ["--out", "adir", "is a directory"],
    ),
    (
        "forecast-out-is-dir",
        ["forecast", "--series", "synthetic:gpu-samples", "--out", "{f}/adir"],
        ["--out", "adir", "is a directory"],
    ),
    (
        "forecast-out-under-file",
        ["forecast", "--series", "synthetic:gpu-samples", "--out", "{f}/afile/x.parquet"],
        ["--out", "afile"],
    ),
    ("convert-out-is-dir", ["traces", "convert", JOBS, "--out", "{f}/adir"], ["--out", "adir"]),
    ("convert-out-under-file", ["traces", "convert", JOBS, "--out", "{f}/afile/x.parquet"], ["--out", "afile"]),
    ("convert-out-format", ["traces", "convert", JOBS, "--out", "{f}/jobs.txt"], ["--out", "jobs.txt", ".parquet"]),
    ("forecast-out-format", ["forecast", "--series", SAMPLES, "--out", "{f}/fc.json"], ["--out", "fc.json", ".csv"]),
    (
        "predict-out-format",
        ["predict", "runtime", "--model", "{f}/adir", "--jobs", JOBS, "--out", "{f}/p.csv"],
        ["--out", "p.csv", ".parquet"],
    ),
    ("report-out-format", ["report", "--run", "{f}/run", "--out", "{f}/r.pdf"], ["--out", "r.pdf", ".html"]),
    ("report-out-is-dir", ["report", "--run", "{f}/adir", "--out", "{f}/adir"], ["--out", "adir"]),
    ("demo-out-is-file", ["demo", "--out", "{f}/afile"], ["--out", "afile"]),
    # -- autoscaling options --------------------------------------------------------------------------------
    ("set-zero", [*REQ, "--set", "target_util=0"], ["--set target_util", "greater than 0"]),
    ("set-infinite", [*REQ, "--set", "target_util=inf"], ["--set target_util", "finite"]),
    ("set-nan", [*REQ, "--set", "target_util=nan"], ["--set target_util", "finite"]),
    ("set-unknown", [*REQ, "--set", "decide=1"], ["--set decide", "not a setting"]),
    ("set-not-a-number", [*REQ, "--set", "target_util=high"], ["--set", "target_util=high"]),
    ("set-no-key", [*REQ, "--set", "=0.5"], ["--set", "'=0.5'"]),
    ("min-over-max", [*REQ, "--min-replicas", "5", "--max-replicas", "2"], ["--min-replicas 5", "--max-replicas 2"]),
    ("min-over-default-max", [*REQ, "--min-replicas", "300"], ["--min-replicas 300", "(the default)"]),
    ("min-replicas-zero", [*REQ, "--min-replicas", "0"], ["--min-replicas"]),
    ("cold-start-negative", [*REQ, "--cold-start", "-1"], ["--cold-start", "greater than or equal to 0"]),
    ("slo-unreadable", [*REQ, "--slo", "fast"], ["--slo", "'fast'"]),
    ("profile-missing", [*REQ, "--profile", "{f}/nothere.yaml"], ["--profile", "nothere.yaml"]),
    ("profile-yaml-syntax", [*REQ, "--profile", "{f}/prof_syntax.yaml"], ["prof_syntax.yaml", "line 2"]),
    ("autoscaler-unknown", [*REQ, "--policy", "nope"], ["'nope'", "target-tracking"]),
    ("policies-twice", ["compare-autoscalers", "--requests", "x", "--policies", "kpa,kpa"], ["--policies"]),
    # -- simulation options ---------------------------------------------------------------------------------
    ("preempt-infinite", [*SIM, "--preempt-overhead", "inf"], ["--preempt-overhead inf", "finite"]),
    ("provision-nan", [*SIM, "--provision-delay", "nan"], ["--provision-delay nan", "finite"]),
    ("mate-gap-infinite", [*SIM, "--mate-gap", "inf"], ["--mate-gap inf", "finite"]),
    (
        "quota-step-infinite",
        ["tenancy", "--jobs", JOBS, "--cluster", "{f}/ten_ok.yaml", "--quota-step", "inf"],
        ["--quota-step inf"],
    ),
    ("cold-start-huge", [*REQ, "--cold-start", "1e12"], ["--cold-start", "86400"]),
    ("cold-start-infinite", [*REQ, "--cold-start", "inf"], ["--cold-start"]),
    (
        "runtime-origins-huge",
        ["backtest", "runtime", "--data", JOBS, "--origins", "99999999999"],
        ["--origins", "1000"],
    ),
    ("runtime-nudges-huge", ["backtest", "runtime", "--data", JOBS, "--nudges", "99999999999"], ["--nudges", "1000"]),
    ("preempt-negative", [*SIM, "--preempt-overhead", "-5"], ["--preempt-overhead"]),
    ("chunk-zero", [*SIM, "--chunk-gpus", "0"], ["--chunk-gpus"]),
    ("mate-gap-negative", [*SIM, "--mate-gap", "-1"], ["--mate-gap"]),
    ("provision-negative", [*SIM, "--provision-delay", "-1"], ["--provision-delay"]),
    ("speeds-unreadable", [*SIM, "--speeds", "A100=x"], ["--speeds", "A100=x"]),
    ("speeds-zero", [*SIM, "--speeds", "A100=0"], ["--speeds A100=0"]),
    ("speeds-nan", [*SIM, "--speeds", "A100=nan"], ["--speeds A100=nan"]),
    ("scheduler-unknown", [*SIM, "--scheduler", "nope"], ["'nope'", "fifo"]),
    ("pool-unknown", [*SIM, "--pool", "nope"], ["'nope'", "cluster-autoscaler"]),
    ("compat-unknown", [*SIM, "--compat", "nope"], ["--compat", "'nope'"]),
    ("param-out-of-range", ["traces", "show", "synthetic:jobs", "-p", "n_jobs=-1"], ["n_jobs=-1"]),
    ("param-unknown", ["traces", "show", "synthetic:jobs", "-p", "nope=1"], ["nope"]),
    ("param-too-many-jobs", [*SHOW, "synthetic:jobs", "-p", "n_jobs=100000000"], ["n_jobs=100000000", "10000000"]),
    ("param-too-many-requests", [*SHOW, "synthetic:requests", "-p", "mean_rps=1e9"], ["mean_rps", "50,000,000"]),
    (
        "param-too-many-samples",
        [*SHOW, "synthetic:gpu-samples", "-p", "interval_s=1", "-p", "n_gpus=100000"],
        ["n_gpus", "50,000,000"],
    ),
    ("param-no-value", ["traces", "show", "synthetic:jobs", "-p", "n_jobs"], ["--param", "'n_jobs'"]),
    ("workers-zero", ["compare", "--jobs", JOBS, "--cluster", "2x8", "--workers", "0"], ["--workers"]),
    ("schedulers-empty", ["compare", "--jobs", JOBS, "--cluster", "2x8", "--schedulers", ","], ["--schedulers"]),
    (
        "quota-step-zero",
        ["tenancy", "--jobs", JOBS, "--cluster", "{f}/ten_ok.yaml", "--quota-step", "0"],
        ["--quota-step"],
    ),
    ("seeds-reversed", ["pack-experiment", "--pods", JOBS, "--nodes", "2x8", "--seeds", "5-1"], ["--seeds", "'5-1'"]),
    ("seeds-unreadable", ["pack-experiment", "--pods", JOBS, "--nodes", "2x8", "--seeds", "a-b"], ["--seeds"]),
    ("max-load-zero", ["pack-experiment", "--pods", JOBS, "--nodes", "2x8", "--max-load", "0"], ["--max-load"]),
    ("policies-empty", ["pack-experiment", "--pods", JOBS, "--nodes", "2x8", "--policies", ","], ["--policies"]),
    ("placer-unknown", ["pack", "--pods", JOBS, "--nodes", "2x8", "--policy", "nope"], ["'nope'", "best-fit"]),
    # -- right-sizing, backtests, forecasts, models ---------------------------------------------------------
    ("top-zero", ["rightsize", "--samples", SAMPLES, "--top", "0"], ["--top"]),
    ("holdout-out-of-range", ["rightsize", "--samples", SAMPLES, "--holdout", "2"], ["--holdout"]),
    ("by-unknown", ["rightsize", "--samples", SAMPLES, "--by", "team"], ["--by", "'team'"]),
    ("sizer-unknown", ["rightsize", "--samples", SAMPLES, "--sizer", "nope"], ["'nope'", "vpa"]),
    ("runtime-origins-zero", ["backtest", "runtime", "--data", JOBS, "--origins", "0"], ["--origins"]),
    ("runtime-test-frac", ["backtest", "runtime", "--data", JOBS, "--test-frac", "1"], ["--test-frac"]),
    ("runtime-scheme", ["backtest", "runtime", "--data", JOBS, "--scheme", "nope"], ["--scheme", "'nope'"]),
    ("runtime-models-empty", ["backtest", "runtime", "--data", JOBS, "--models", ","], ["--models"]),
    ("runtime-too-few-jobs", ["backtest", "runtime", "--data", "{f}/few.csv"], ["few.csv", "at least 20 jobs"]),
    ("series-horizon-unreadable", ["backtest", "series", "--data", SAMPLES, "--horizon", "soon"], ["--horizon"]),
    ("series-horizon-zero", ["backtest", "series", "--data", SAMPLES, "--horizon", "0"], ["--horizon", "'0'"]),
    ("series-step-zero", ["backtest", "series", "--data", SAMPLES, "--step", "0s"], ["--step", "'0s'"]),
    (
        "series-horizon-too-long",
        ["backtest", "series", "--data", SAMPLES, "--horizon", "100000d"],
        ["--horizon 100000d", "100,000"],
    ),
    ("series-origins-zero", ["backtest", "series", "--data", SAMPLES, "--origins", "0"], ["--origins"]),
    ("series-top-zero", ["backtest", "series", "--data", SAMPLES, "--top", "0"], ["--top"]),
    ("series-protocol", ["backtest", "series", "--data", SAMPLES, "--protocol", "nope"], ["--protocol", "'nope'"]),
    ("series-shift", ["backtest", "series", "--data", SAMPLES, "--protocol", "genai-a", "--shift", "-1"], ["--shift"]),
    ("series-models", ["backtest", "series", "--data", SAMPLES, "--models", "nope"], ["'nope'"]),
    (
        "forecast-levels-range",
        ["forecast", "--series", SAMPLES, "--out", "{f}/fc.parquet", "--levels", "150"],
        ["--levels", "'150'"],
    ),
    (
        "forecast-levels-zero",
        ["forecast", "--series", SAMPLES, "--out", "{f}/fc.parquet", "--levels", "0"],
        ["--levels"],
    ),
    (
        "forecast-levels-text",
        ["forecast", "--series", SAMPLES, "--out", "{f}/fc.parquet", "--levels", "most"],
        ["--levels"],
    ),
    ("forecast-model", ["forecast", "--series", SAMPLES, "--out", "{f}/fc.parquet", "--model", "nope"], ["'nope'"]),
    ("train-model-unknown", ["train", "runtime", "--jobs", JOBS, "--out", "{f}/m", "--model", "nope"], ["'nope'"]),
    ("predict-no-model", ["predict", "runtime", "--model", "{f}/adir", "--jobs", JOBS], ["adir", "model.json"]),
    (
        "predict-model-not-utf8",
        ["predict", "runtime", "--model", "{f}/model_latin1", "--jobs", JOBS],
        ["model.json", "not UTF-8"],
    ),
    (
        "predict-model-not-object",
        ["predict", "runtime", "--model", "{f}/model_list", "--jobs", JOBS],
        ["model.json", "JSON object"],
    ),
    # -- references, the data root, the dashboard, the report -----------------------------------------------
    ("reference-unknown", [*SHOW, "nope:x"], ["'nope'", "valid:"]),
    ("reference-part-unknown", [*SHOW, "synthetic:nope"], ["'nope'", "gpu-samples"]),
    ("jobs-given-nodes", [*SIM[:2], "synthetic:nodes", *SIM[3:]], ["--jobs", "NODES"]),
    ("compare-one-reference", ["traces", "compare", "synthetic:jobs"], ["at least two"]),
    ("data-dir-missing", ["--data-dir", "{f}/nowhere", *SHOW, "itp:cluster04"], ["nowhere", "does not exist"]),
    ("prices-yaml-syntax", ["dashboard", "--prices", "{f}/prof_syntax.yaml"], ["--prices", "line 2"]),
    ("dashboard-port", ["dashboard", "--port", "99999"], ["--port", "65535"]),
    ("store-not-a-store", ["dashboard", "--store", "{f}/adir"], ["--store", "adir"]),
    # the collector's inputs (#21): a store that is a file, a URL that can never work (refused, not retried)
    (
        "collect-store-is-a-file",
        ["collect", "prometheus", "--url", "http://127.0.0.1:9", "--store", JOBS, "--since", "1h"],
        ["jobs.csv", "is a file"],
    ),
    (
        "collect-url-no-scheme",
        ["collect", "prometheus", "--url", "notaurl", "--store", "{f}/st"],
        ["notaurl", "http(s)"],
    ),
    ("collect-url-bad-port", ["collect", "prometheus", "--url", "http://h:99999", "--store", "{f}/st"], ["h:99999"]),
    (
        "collect-url-credentials",
        ["collect", "prometheus", "--url", "http://alice:pw@h:0", "--store", "{f}/st"],
        ["***@h"],
    ),
    ("exporter-port", ["exporter", "--port", "99999"], ["--port", "65535"]),
    ("store-info-not-a-store", ["store", "info", "--store", "{f}/adir"], ["adir", "not a collector store"]),
    (
        "report-summary-not-json",
        ["report", "--run", "{f}/run_badjson", "--out", "{f}/r.html"],
        ["run_badjson/summary.json", "not valid JSON"],
    ),
    (
        "report-table-damaged",
        ["report", "--run", "{f}/run_badtable", "--out", "{f}/r.html"],
        ["run_badtable/jobs.parquet", "cannot read"],
    ),
    ("report-run-missing", ["report", "--run", "{f}/nothere", "--out", "{f}/r.html"], ["--run", "nothere"]),
    # -- the command line itself ----------------------------------------------------------------------------
    ("option-missing", ["simulate", "--jobs", JOBS], ["--cluster"]),
    ("option-unknown", [*SHOW, JOBS, "--nope"], ["--nope"]),
    ("option-not-a-number", [*REQ, "--max-replicas", "many"], ["--max-replicas", "integer"]),
    ("usage-error-redacted", [*SHOW, JOBS, "--time-unit", "http://u:pw@h/"], ["'http://***@h/'"]),
    ("command-unknown", ["simulat"], ["simulat"]),
]


def _generator_rows() -> list[tuple[str, list[str], list[str]]]:
    """Every number a synthetic generator takes, at 1e300: refused in one line naming it (each once made an
    internal error, a 7 TiB allocation, a Rust panic, or a silently absurd workload)."""
    from gpufleet.traces.synthetic.config import SyntheticJobsConfig, SyntheticRequestsConfig, SyntheticSamplesConfig

    models = {"jobs": SyntheticJobsConfig, "requests": SyntheticRequestsConfig, "gpu-samples": SyntheticSamplesConfig}
    return [
        (f"param-huge-{part}-{name}", [*SHOW, f"synthetic:{part}", "-p", f"{name}=1e300"], [name])
        for part, model in models.items()
        for name, field in model.model_fields.items()
        if field.annotation in (int, float)
    ]


CASES += _generator_rows()


def test_the_table_is_long_and_ids_are_unique() -> None:
    ids = [c[0] for c in CASES]
    assert len(ids) == len(set(ids))
    assert len(ids) >= 57  # the issue found 57 bad inputs; this table holds every one of its kinds and more


def _args(args: list[str], f: Path) -> list[str]:
    return [a.replace("{f}", str(f)) for a in args]


@pytest.mark.parametrize(("args", "needles"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_one_line_exit_2(files: Path, args: list[str], needles: list[str]) -> None:
    res = runner.invoke(app, _args(args, files))
    err = res.stderr.strip()
    assert res.exit_code == 2, res.output
    assert res.stdout == "", res.stdout
    assert err.startswith("error:") and err.count("\n") == 0, err
    assert "internal error" not in err and "Traceback" not in err, err
    for n in needles:
        assert n.replace("{f}", str(files)) in err, f"{n!r} not in: {err}"


REAL = ["spec-too-many-nodes", "map-yaml-syntax", "time-milliseconds", "option-missing", "csv-binary"]


@pytest.mark.integration  # runs the console script
@pytest.mark.parametrize("case", REAL)
def test_the_installed_command_prints_the_same_line(files: Path, case: str) -> None:
    """The console script (not the test runner) gives the same single line, and --debug the traceback."""
    args, needles = next((c[1], c[2]) for c in CASES if c[0] == case)
    exe = Path(sys.executable).with_name("gpufleet")
    p = subprocess.run([str(exe), *_args(args, files)], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and p.stdout == "", (p.stdout, p.stderr)
    line = p.stderr.strip()
    assert line.startswith("error:") and line.count("\n") == 0 and "Traceback" not in line, line
    assert all(n in line for n in needles), line
    if case != "option-missing":  # a usage error has no traceback to show
        dbg = subprocess.run([str(exe), "--debug", *_args(args, files)], capture_output=True, text=True, timeout=120)
        assert dbg.returncode != 0 and "Traceback" in dbg.stderr


def test_time_unit_reads_what_it_refused(files: Path) -> None:
    """The hint works: the refused millisecond file replays the same jobs once --time-unit ms says so."""
    out = {}
    for name, extra in (("jobs.csv", []), ("ms.csv", ["--time-unit", "ms"])):
        res = runner.invoke(app, [*SHOW, str(files / name), "--json", *extra])
        assert res.exit_code == 0, res.output
        out[name] = json.loads(res.stdout)["meta"]
    assert out["ms.csv"]["rows"] == out["jobs.csv"]["rows"] == 30
    span = {k: v["time_end_s"] - v["time_start_s"] for k, v in out.items()}
    assert span["ms.csv"] == pytest.approx(span["jobs.csv"])  # 29 minutes both ways, not 29,000
