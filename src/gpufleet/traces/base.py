"""What a dataset is (folder, parts, license) and what reading one part returns (frame + metadata)."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

import polars as pl

from gpufleet.core.registry import Registry

OnBadRow = Literal["raise", "skip"]


@dataclass
class ReadContext:
    """What a reader gets: where the dataset lives, what to do with bad rows, and a place to count skips."""

    folder: Path | None
    on_bad_row: OnBadRow = "raise"
    params: dict[str, Any] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    epoch: str | None = None
    # an embedded generator's full settings (its defaults filled in: the seed among them)
    settings: dict[str, Any] | None = None

    def skip(self, reason: str, n: int) -> None:
        """Count `n` rows skipped for `reason` (never drop a row without counting it)."""
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + int(n)

    def path(self, name: str) -> Path:
        """A file inside the dataset folder, remembered for the metadata."""
        assert self.folder is not None
        p = self.folder / name
        self.files.append(name)
        return p


Reader = Callable[[ReadContext], pl.DataFrame]


@dataclass
class TraceRead:
    """One reference a command read: the files it opened (none for a generator), a generator's settings."""

    ref: str
    files: list[Path]
    settings: dict[str, Any] | None
    rows: int


# What the readers read while a command runs, in order: the command sets a list here to record its inputs
# (their hashes go into the run directory's provenance.json); None records nothing.
READS: ContextVar[list[TraceRead] | None] = ContextVar("gpufleet_trace_reads", default=None)


def note_read(ref: str, files: list[Path], ctx: ReadContext, rows: int) -> None:
    """Record a reference read, when the command being run records them (READS)."""
    seen = READS.get()
    if seen is not None:
        seen.append(TraceRead(ref, files, ctx.settings, rows))


@dataclass(frozen=True)
class Part:
    """One readable part of a dataset: the canonical table it yields and the function that reads it."""

    name: str
    table: str
    doc: str
    read: Reader
    time_column: str | None = None
    # The files the part reads, when fixed: a part whose files are absent is left out of `NAME:*`
    # (a dataset folder may hold only some clusters of a family, e.g. 7 of ITP's 10).
    files: tuple[str, ...] = ()
    # Declared range of a SERIES part's y (counts and rates: lower 0); forecasts are clipped to it.
    lower: float | None = None
    upper: float | None = None
    # The frame has a `capacity` column: each series' y never exceeds it (a VC's GPUs).
    capacity: bool = False

    def present(self, folder: Path | None) -> bool:
        """Whether the part's files are in `folder` (parts that declare no files always are)."""
        return folder is None or all((folder / f).is_file() for f in self.files)


@dataclass(frozen=True)
class Dataset:
    """A dataset folder under the data root (or an embedded generator when folder is None)."""

    name: str
    folder: str | None
    title: str
    source: str
    license: str
    parts: tuple[Part, ...]
    default_part: str

    def part(self, name: str) -> Part | None:
        """The part called `name`, or None."""
        return next((p for p in self.parts if p.name == name), None)

    @property
    def part_names(self) -> list[str]:
        """Names of all parts, in declaration order."""
        return [p.name for p in self.parts]


@dataclass
class TraceMeta:
    """Where a frame came from and what happened while reading it."""

    ref: str
    dataset: str
    part: str
    table: str
    title: str
    source: str
    license: str
    rows: int
    files: list[str]
    epoch: str | None
    time_column: str | None
    time_start_s: float | None
    time_end_s: float | None
    skipped: dict[str, int]
    notes: list[str]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return asdict(self)


@dataclass
class Trace:
    """A canonical frame with its metadata."""

    frame: pl.DataFrame
    meta: TraceMeta


DATASETS: Registry[Dataset] = Registry("dataset")
