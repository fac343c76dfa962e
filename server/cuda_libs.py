"""Making CTranslate2 run on CUDA: its PyPI wheel loads cuBLAS 12 (``libcublas.so.12``) at
run time with ``dlopen``; the rest of CUDA it needs (the runtime, cuRAND) is linked in, and
the driver (``libcuda.so.1``) comes with the GPU.

Many GPU hosts now have only CUDA 13 system libraries, so ``dlopen("libcublas.so.12")``
fails there. The ``cuda`` extra installs NVIDIA's ``nvidia-cublas-cu12`` wheel, whose
``nvidia/cublas/lib`` folder is on no loader path: :func:`preload_cublas` loads the library
from that folder into the process first (``RTLD_GLOBAL``), after which CTranslate2's own
``dlopen`` finds it already loaded. :func:`cuda_problem` says, in one sentence, why
``device = "cuda"`` cannot work on this machine.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
from collections.abc import Callable
from pathlib import Path

from .manifest import ModelError

logger = logging.getLogger(__name__)

CUBLAS = "libcublas.so.12"
CUBLAS_LT = "libcublasLt.so.12"
"""cuBLAS loads cuBLASLt; preload it from the same folder so that the pair matches."""
INSTALL_HINT = "pip install 'codeward[cuda]' (NVIDIA's nvidia-cublas-cu12 wheel)"

_loaded: str | None = None


def wheel_lib_dirs() -> list[Path]:
    """``nvidia/cublas/lib`` folders of installed ``nvidia-cublas-cu12`` wheels."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ImportError, ValueError):
        return []
    roots = list(spec.submodule_search_locations or []) if spec is not None else []
    return [Path(r) / "cublas" / "lib" for r in roots if (Path(r) / "cublas" / "lib" / CUBLAS)
            .is_file()]


def _dlopen(name: str) -> bool:
    try:
        ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
    except OSError:
        return False
    return True


def preload_cublas(dirs: list[Path] | None = None,
                   dlopen: Callable[[str], bool] = _dlopen) -> str | None:
    """Make ``libcublas.so.12`` loadable for CTranslate2; return where it came from
    (``"system"`` or the wheel's file), or None when it is nowhere. Idempotent."""
    global _loaded
    if _loaded is not None:
        return _loaded
    if sys.platform != "linux":
        return None
    for folder in wheel_lib_dirs() if dirs is None else dirs:
        lt = folder / CUBLAS_LT
        if lt.is_file() and not dlopen(str(lt)):
            logger.warning("cuda: %s cannot be loaded", lt)
            continue
        if dlopen(str(folder / CUBLAS)):
            _loaded = str(folder / CUBLAS)
            logger.info("cuda: cuBLAS 12 loaded from %s", folder)
            return _loaded
    if dlopen(CUBLAS):  # the system's loader path (a CUDA 12 toolkit, LD_LIBRARY_PATH)
        _loaded = "system"
        return _loaded
    return None


def cuda_device_count() -> int:
    import ctranslate2

    try:
        return int(ctranslate2.get_cuda_device_count())
    except Exception:  # noqa: BLE001 - a broken driver counts as no device
        return 0


def cuda_problem(*, devices: Callable[[], int] = cuda_device_count,
                 cublas: Callable[[], str | None] = preload_cublas) -> str | None:
    """None when CTranslate2 can run on CUDA here, else why not (one sentence with the fix)."""
    if sys.platform == "darwin":
        return "CTranslate2 has no CUDA build for macOS; use device = \"cpu\""
    count = devices()
    if count == 0:
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        why = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        return ("no CUDA GPU is visible to CTranslate2" + why + ": no NVIDIA driver "
                "(libcuda.so.1), no GPU, or the GPU is hidden; use device = \"cpu\"")
    if cublas() is None:
        return (f"CTranslate2 needs {CUBLAS} (CUDA 12 cuBLAS), which is neither on the "
                f"loader path nor installed as a wheel; {INSTALL_HINT}")
    return None


def resolve_device(device: str, *, problem: Callable[[], str | None] = cuda_problem) -> str:
    """``cpu`` stays; ``cuda`` raises :class:`CudaUnavailable` with the reason when it cannot
    work; ``auto`` picks CUDA when it can work, else CPU (the reason logged once)."""
    if device == "cpu":
        return "cpu"
    why = problem()
    if why is None:
        return "cuda"
    if device == "cuda":
        raise CudaUnavailable(f"engine.device = \"cuda\" cannot work: {why}")
    logger.info("engine.device = auto: using the CPU (%s)", why)
    return "cpu"


class CudaUnavailable(ModelError):
    """``device = "cuda"`` was asked for and cannot work (the message says why)."""
