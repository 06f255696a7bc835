"""Secrets never printed, label values never spliced, and a native panic report kept off the terminal."""

from __future__ import annotations

import pytest

from gpufleet.collector.native_stderr import _without_panics
from gpufleet.core.promql import matchers, quote
from gpufleet.core.redact import redact, redact_url


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://alice:pw@prom:9090/x", "http://***@prom:9090/x"),
        (
            "https://token@thanos.example/api?access_token=abc&step=30",
            "https://***@thanos.example/api?access_token=***&step=30",
        ),
        ("http://prom:9090", "http://prom:9090"),
    ],
)
def test_urls_lose_their_credentials(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_free_text_loses_credentials_and_tokens() -> None:
    text = "GET https://u:p@h/q?password=x failed; header Authorization: Bearer abc.def-ghi"
    out = redact(text)
    assert "u:p@" not in out and "password=x" not in out and "abc.def" not in out and out.count("***") == 3


@pytest.mark.parametrize(
    ("value", "literal"),
    [('a"b', '"a\\"b"'), ("c\\d", '"c\\\\d"'), ("{x}#", '"{x}#"'), ("l1\nl2", '"l1\\nl2"')],
)
def test_label_values_are_promql_string_literals(value: str, literal: str) -> None:
    assert quote(value) == literal


def test_label_names_are_checked() -> None:
    assert matchers({"namespace": "a", "model_name": 'b"'}) == 'namespace="a",model_name="b\\""'
    with pytest.raises(ValueError, match="label name"):
        matchers({'x"} or vector(1) #': "v"})


def test_a_rust_panic_report_is_dropped_and_other_lines_pass() -> None:
    text = (
        "hook: decision ok\n"
        "thread 'tokio-rt-worker' (12256) panicked at /cargo/object_store-0.13.2/src/buffered.rs:369:41:\n"
        "Already shut down\n"
        "stack backtrace:\n"
        "   0: rust_begin_unwind\n"
        "note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.\n"
        "collector: 120 GPU_SAMPLES\n"
    )
    dropped: list[str] = []
    assert _without_panics(text, dropped) == "hook: decision ok\ncollector: 120 GPU_SAMPLES\n"
    assert len(dropped) == 5
