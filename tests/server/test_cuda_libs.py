"""device = "cuda" on a machine without what CTranslate2 needs: a clear reason, never a
traceback at the first keystroke; cuBLAS 12 found in NVIDIA's wheel folder and preloaded.

There is no GPU here: the missing pieces are simulated (no device, no libcublas.so.12), and
the preload is exercised with a real shared library standing in for the wheel's cuBLAS."""

from __future__ import annotations

import importlib
import shutil
import sys
from pathlib import Path

import ctranslate2
import pytest

from codeward.server import cuda_libs
from codeward.server.engine import Engine
from codeward.server.manifest import ModelError
from codeward.server.settings import EngineSettings

STAND_IN = next((Path(ctranslate2.__file__).parent.parent / "ctranslate2.libs").glob("libgomp*"))
"""A real shared library of no consequence, loaded under cuBLAS's file names."""


@pytest.fixture(autouse=True)
def _fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cuda_libs, "_loaded", None)


def fake_wheel(root: Path) -> Path:
    lib = root / "nvidia" / "cublas" / "lib"
    lib.mkdir(parents=True)
    for name in (cuda_libs.CUBLAS, cuda_libs.CUBLAS_LT):
        shutil.copy(STAND_IN, lib / name)
    return lib


def test_cpu_asks_nothing_about_cuda() -> None:
    def problem() -> str:
        raise AssertionError("cpu must not probe CUDA")

    assert cuda_libs.resolve_device("cpu", problem=problem) == "cpu"


def test_no_gpu_is_named_and_cuda_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    why = cuda_libs.cuda_problem(devices=lambda: 0, cublas=lambda: "system")
    assert why is not None and "no CUDA GPU" in why and "CUDA_VISIBLE_DEVICES=''" in why
    with pytest.raises(cuda_libs.CudaUnavailable, match='engine.device = "cuda" cannot work'):
        cuda_libs.resolve_device("cuda", problem=lambda: why)
    assert cuda_libs.resolve_device("auto", problem=lambda: why) == "cpu"


def test_missing_cublas_names_the_library_and_the_extra() -> None:
    why = cuda_libs.cuda_problem(devices=lambda: 1, cublas=lambda: None)
    assert why is not None and "libcublas.so.12" in why and "codeward[cuda]" in why
    assert cuda_libs.cuda_problem(devices=lambda: 1, cublas=lambda: "system") is None
    assert cuda_libs.resolve_device("auto", problem=lambda: None) == "cuda"


def test_preload_loads_the_wheel_folder_lt_first(tmp_path: Path) -> None:
    lib = fake_wheel(tmp_path)
    opened: list[str] = []

    def dlopen(name: str) -> bool:
        opened.append(name)
        return cuda_libs._dlopen(name)

    where = cuda_libs.preload_cublas([lib], dlopen=dlopen)
    assert where == str(lib / cuda_libs.CUBLAS)
    assert opened == [str(lib / cuda_libs.CUBLAS_LT), str(lib / cuda_libs.CUBLAS)]
    assert cuda_libs.preload_cublas([], dlopen=dlopen) == where  # once per process
    assert len(opened) == 2


def test_preload_none_when_nowhere(tmp_path: Path) -> None:
    broken = tmp_path / "lib"
    broken.mkdir()
    (broken / cuda_libs.CUBLAS).write_bytes(b"not an ELF file")
    assert cuda_libs.preload_cublas([broken, tmp_path / "absent"],
                                    dlopen=lambda name: name != cuda_libs.CUBLAS
                                    and cuda_libs._dlopen(name)) is None


def test_wheel_folder_found_on_sys_path(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = fake_wheel(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    sys.modules.pop("nvidia", None)
    assert lib in cuda_libs.wheel_lib_dirs()


def test_engine_on_cuda_without_gpu_says_why(tiny_model_dir: Path) -> None:
    if cuda_libs.cuda_problem() is None:
        pytest.skip("this machine can run CTranslate2 on CUDA")
    with pytest.raises(ModelError, match='engine.device = "cuda" cannot work: '):
        Engine(tiny_model_dir, EngineSettings(device="cuda"))
    engine = Engine(tiny_model_dir, EngineSettings(device="auto"))  # falls back to the CPU
    try:
        assert engine.generator.device == "cpu"
    finally:
        engine.close()
