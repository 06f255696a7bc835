"""Which commit of a checkout the running gpufleet comes from, and whether its tracked files were changed.

Read from `.git` itself so that no git binary is needed: HEAD, the ref it names (a loose ref file or
packed-refs), a worktree's `.git` file. "Dirty" (tracked files differ from the index, or the index from HEAD)
asks `git status` when git is on PATH; without it, each tracked file's size, mtime and, where those differ,
its content's blob hash are compared with the index (changes staged but not committed are then not seen,
which the result says). Nothing here raises: an unreadable repository gives None fields.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import struct
import subprocess
from pathlib import Path
from typing import Any


def find_checkout(start: Path) -> Path | None:
    """The work tree above `start` holding a `.git`, unless `start` lies in an installed site-packages."""
    for p in (start, *start.parents):
        if p.name in ("site-packages", "dist-packages"):
            return None
        if (p / ".git").exists():
            return p
    return None


def git_dir(tree: Path) -> Path | None:
    """The repository directory of a work tree (`.git`, or where a worktree's `.git` file points)."""
    dot = tree / ".git"
    if dot.is_dir():
        return dot
    try:
        text = dot.read_text().strip()
    except OSError:
        return None
    if not text.startswith("gitdir:"):
        return None
    where = Path(text.removeprefix("gitdir:").strip())
    return where if where.is_absolute() else (tree / where).resolve()


def head_commit(gd: Path) -> tuple[str | None, str | None]:
    """(commit, branch) of HEAD; the branch is None when HEAD is detached."""
    try:
        head = (gd / "HEAD").read_text().strip()
    except OSError:
        return None, None
    if not head.startswith("ref:"):
        return head or None, None
    ref = head.removeprefix("ref:").strip()
    branch = ref.removeprefix("refs/heads/")
    common = _common_dir(gd)
    for base in dict.fromkeys((gd, common)):
        try:
            return (base / ref).read_text().strip(), branch
        except OSError:
            pass
        try:
            for line in (base / "packed-refs").read_text().splitlines():
                parts = line.split(" ", 1)
                if len(parts) == 2 and parts[1] == ref:
                    return parts[0], branch
        except OSError:
            pass
    return None, branch  # a branch with no commit yet


def _common_dir(gd: Path) -> Path:
    """A linked worktree keeps its refs in the main repository (`commondir`)."""
    try:
        rel = (gd / "commondir").read_text().strip()
    except OSError:
        return gd
    return (gd / rel).resolve()


def dirty(tree: Path, gd: Path) -> tuple[bool | None, str]:
    """(whether tracked files changed, how that was found): `git status` when git is on PATH, else the index."""
    git = shutil.which("git")
    if git is not None:
        try:
            res = subprocess.run(
                [git, "-C", str(tree), "status", "--porcelain", "--untracked-files=no"],
                capture_output=True,
                text=True,
                timeout=30,
                check=False,
            )
        except (OSError, subprocess.SubprocessError):
            res = None
        if res is not None and res.returncode == 0:
            return bool(res.stdout.strip()), "git status"
    return _index_dirty(tree, gd), "index (without git: staged changes not seen)"


def _index_dirty(tree: Path, gd: Path) -> bool | None:
    """Whether a tracked file differs from its index entry (index versions 2 and 3; None for others)."""
    try:
        data = (gd / "index").read_bytes()
    except OSError:
        return None
    if len(data) < 12 or data[:4] != b"DIRC":
        return None
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3):
        return None
    pos = 12
    for _ in range(count):
        _, _, mtime_s, mtime_ns, _, _, mode, _, _, size = struct.unpack(">10I", data[pos : pos + 40])
        sha = data[pos + 40 : pos + 60]
        flags = struct.unpack(">H", data[pos + 60 : pos + 62])[0]
        start = pos + 62 + (2 if version == 3 and flags & 0x4000 else 0)
        end = data.index(b"\0", start)
        path = data[start:end].decode("utf-8", "surrogateescape")
        pos += ((end - pos) // 8 + 1) * 8  # entries are NUL-padded to a multiple of 8 bytes
        if mode >> 12 == 0b1110:  # a submodule: its own repository
            continue
        if _entry_changed(tree / path, mode, size, mtime_s, mtime_ns, sha):
            return True
    return False


def _entry_changed(f: Path, mode: int, size: int, mtime_s: int, mtime_ns: int, sha: bytes) -> bool:
    try:
        st = f.lstat()
    except OSError:
        return True  # deleted
    if size == 0:  # git zeroes the size of a "racily clean" entry: only the content can tell
        pass
    elif st.st_size != size:
        return True
    elif int(st.st_mtime) == mtime_s and st.st_mtime_ns % 1_000_000_000 == mtime_ns:
        return False  # as git does: same size and mtime, same content
    body = os.readlink(f).encode() if mode >> 12 == 0b1010 else f.read_bytes()
    return hashlib.sha1(b"blob %d\0" % len(body) + body).digest() != sha  # git's object name is a SHA-1


def describe(start: Path) -> dict[str, Any]:
    """{checkout, commit, branch, dirty, dirty_from} of the checkout holding `start`; all None when there is
    none (an installed wheel)."""
    tree = find_checkout(start)
    gd = git_dir(tree) if tree is not None else None
    if tree is None or gd is None:
        return {"checkout": None, "commit": None, "branch": None, "dirty": None, "dirty_from": None}
    commit, branch = head_commit(gd)
    is_dirty, how = dirty(tree, gd)
    return {"checkout": str(tree), "commit": commit, "branch": branch, "dirty": is_dirty, "dirty_from": how}
