import os

# Each pytest-xdist worker (README: `pytest` runs two, one per core) computes on one thread; BLAS, OpenMP and
# numba threads on top of the workers would oversubscribe the cores many times over. Set before numpy loads.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import pytest  # noqa: E402

os.environ.setdefault("MPLBACKEND", "Agg")


def pytest_collection_modifyitems(config, items):
    try:
        import torch

        has_cuda = torch.cuda.is_available()
    except ImportError:
        has_cuda = False
    if has_cuda:
        return
    skip = pytest.mark.skip(reason="needs a GPU (CUDA)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def isolated(tmp_path, monkeypatch):
    """A private record cache and figures folder, so tests never touch the user's or the repository's."""
    monkeypatch.setenv("CAPDYN_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("CAPDYN_FIGURES", str(tmp_path / "figures"))
    return tmp_path
