"""Device selection for the torch layer (DESIGN.md §4: ``--device auto|cpu|cuda``)."""

from __future__ import annotations

import torch


def resolve_device(name="auto") -> torch.device:
    """Map a device name to a ``torch.device``.

    ``"auto"``: CUDA when available, else CPU. ``"cpu"``. ``"cuda"`` or ``"cuda:K"``: raises ``ValueError``
    when CUDA is not available (or K is not a visible device) instead of failing later inside a kernel.
    A ``torch.device`` is accepted and checked the same way.
    """
    if isinstance(name, torch.device):
        name = str(name)
    if not isinstance(name, str):
        raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:K', got {name!r}")
    key = name.strip().lower()
    if key == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if key == "cpu":
        return torch.device("cpu")
    if key == "cuda" or key.startswith("cuda:"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {name!r} requested but CUDA is not available; use 'auto' or 'cpu'")
        dev = torch.device(key)
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise ValueError(
                f"device {name!r}: index must be in [0, {torch.cuda.device_count() - 1}]"
            )
        return dev
    raise ValueError(f"device must be 'auto', 'cpu', 'cuda' or 'cuda:K', got {name!r}")


def set_threads(n) -> int:
    """Set torch's intra-op CPU thread count to ``n`` >= 1; returns the previous count."""
    if isinstance(n, bool) or not float(n).is_integer() or int(n) < 1:
        raise ValueError(f"n (threads) must be an integer >= 1, got {n!r}")
    previous = torch.get_num_threads()
    torch.set_num_threads(int(n))
    return previous
