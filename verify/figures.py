"""Figures are drawn only from the JSON of exactly what they plot, saved beside the PNG.

A topic registers a drawing function per figure name with :func:`drawer`; ``capdyn figures`` redraws every PNG
from its JSON without training. Paper-profile figures live in ``figures/``, other profiles in
``figures/<profile>/``.
"""

from __future__ import annotations

import importlib
import os
import tempfile
from pathlib import Path
from typing import Callable

from verify.records import atomic_write_json, read_json

_DRAWERS: dict[str, Callable] = {}
PLOT_MODULES = ("verify.plots",)


def drawer(name: str):
    def deco(fn):
        _DRAWERS[name] = fn
        return fn

    return deco


def figures_root() -> Path:
    return Path(os.environ.get("CAPDYN_FIGURES", "figures"))


def profile_dir(profile: str, root: Path | None = None) -> Path:
    root = root or figures_root()
    return root if profile == "paper" else root / profile


def _load_drawers() -> None:
    for mod in PLOT_MODULES:
        importlib.import_module(mod)


def draw(payload: dict, png: Path) -> None:
    """Draw ``payload`` (a figure JSON) into ``png`` atomically."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    _load_drawers()
    name = payload["figure"]
    if name not in _DRAWERS:
        raise KeyError(f"no drawing function for figure {name!r}")
    fig = _DRAWERS[name](payload["data"])
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    changed = sorted(payload.get("overrides") or {})
    fig.text(0.995, 0.005, f"capdyn · {payload.get('profile', '')} profile · {payload.get('device', '')}"
             + (f" · changed: {', '.join(changed)}" if changed else ""), ha="right", va="bottom", fontsize=6,
             color="0.5")
    fd, tmp = tempfile.mkstemp(prefix=f".{png.stem}.", suffix=".png", dir=png.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, png)
    finally:
        Path(tmp).unlink(missing_ok=True)
        plt.close(fig)


def save(name: str, data: dict, *, claim: str, profile: str, device: str, root: Path | None = None,
         overrides: dict | None = None) -> Path:
    """Write ``<dir>/<name>.json`` then draw ``<dir>/<name>.png`` from it. ``overrides``: the config values the
    run changed from its profile (kept in the JSON and shown in the report)."""
    d = profile_dir(profile, root)
    d.mkdir(parents=True, exist_ok=True)
    payload = {"figure": name, "claim": claim, "profile": profile, "device": device, "overrides": overrides or {},
               "data": data}
    atomic_write_json(d / f"{name}.json", payload)
    draw(read_json(d / f"{name}.json"), d / f"{name}.png")  # drawn from the file, exactly as `capdyn figures`
    return d / f"{name}.png"


def figure_files(root: Path | None = None) -> list[Path]:
    root = root or figures_root()
    files = sorted(root.glob("*.json")) + sorted(root.glob("*/*.json"))
    return [f for f in files if f.name != "claims.json"]


def redraw_all(root: Path | None = None) -> list[Path]:
    out = []
    for js in figure_files(root):
        payload = read_json(js)
        if not isinstance(payload, dict) or "figure" not in payload:
            raise ValueError(f"{js} is not a capdyn figure JSON")
        png = js.with_suffix(".png")
        draw(payload, png)
        out.append(png)
    return out
