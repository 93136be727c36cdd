"""Run records: one JSON per finished run, keyed by a hash of what determines its numbers.

A record is written atomically (temporary file in the same directory, then ``os.replace``), so a killed process
leaves either the complete record or none. A record that fails to parse is treated as missing and recomputed.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import platform
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np

from verify import __version__


def cache_dir() -> Path:
    """``$CAPDYN_CACHE`` if set, else the user cache directory (``$XDG_CACHE_HOME/capdyn`` or ``~/.cache/capdyn``)."""
    env = os.environ.get("CAPDYN_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "capdyn"


def to_jsonable(x: Any) -> Any:
    """Convert numpy/torch scalars and arrays (recursively) to plain JSON types; non-finite floats become None."""
    if isinstance(x, dict):
        return {str(k): to_jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [to_jsonable(v) for v in x]
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    if isinstance(x, np.ndarray):
        return to_jsonable(x.tolist())
    if isinstance(x, (np.bool_, bool)):
        return bool(x)
    if isinstance(x, (np.integer, int)):
        return int(x)
    if isinstance(x, (np.floating, float)):
        x = float(x)
        return x if math.isfinite(x) else None
    return x


@cache
def code_hash() -> str:
    """Hash of every source file of the packages theory, sim and verify: a record computed by other code is
    never reused."""
    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in ("theory", "sim", "verify"):
        for f in sorted((root / pkg).rglob("*.py")):
            h.update(f.relative_to(root).as_posix().encode())
            h.update(f.read_bytes())
    return h.hexdigest()[:16]


def run_key(run: str, params: dict, device: str) -> str:
    """Hash of the run function, its parameters, the device and the package source (``code_hash``)."""
    blob = json.dumps({"run": run, "params": to_jsonable(params), "device": device, "code": code_hash()},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def atomic_write_json(path: Path, obj: Any) -> None:
    """Write ``obj`` as JSON to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w") as fh:
            json.dump(to_jsonable(obj), fh, indent=1, sort_keys=True, allow_nan=False)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def read_json(path: Path) -> Any | None:
    """The parsed JSON at ``path``, or None when it is missing or unreadable (a corrupt file counts as missing)."""
    try:
        with open(path) as fh:
            return json.load(fh)
    except (OSError, json.JSONDecodeError, UnicodeDecodeError):
        return None


def record_path(key: str, root: Path | None = None) -> Path:
    return (root or cache_dir()) / "runs" / key[:2] / f"{key}.json"


def load_record(key: str, root: Path | None = None) -> dict | None:
    rec = read_json(record_path(key, root))
    if not isinstance(rec, dict) or rec.get("key") != key or "metrics" not in rec:
        return None
    return rec


@cache
def provenance() -> dict:
    """Package and library versions, git revision (when run from a checkout), Python and platform."""
    import importlib.metadata as md

    libs = {}
    for name in ("numpy", "scipy", "sympy", "numba", "torch", "matplotlib", "pydantic"):
        try:
            libs[name] = md.version(name)
        except md.PackageNotFoundError:
            libs[name] = None
    git = None
    try:
        here = Path(__file__).resolve().parent.parent
        out = subprocess.run(["git", "-C", str(here), "rev-parse", "--short", "HEAD"], capture_output=True,
                             text=True, timeout=5)
        if out.returncode == 0:
            git = out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        pass
    return {"capdyn": __version__, "code": code_hash(), "git": git, "python": platform.python_version(),
            "platform": platform.platform(), "libraries": libs}


def make_record(key: str, run: str, params: dict, device: str, metrics: dict, wall_s: float) -> dict:
    status = "diverged" if metrics.get("diverged") else "ok"
    return {"key": key, "run": run, "params": params, "device": device, "status": status,
            "wall_s": wall_s, "metrics": metrics, "provenance": provenance()}
