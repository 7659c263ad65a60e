"""Lazy package exports (PEP 562): a package's public names imported from their modules on first
use, so that importing the package (or one light module of it) imports nothing heavy."""

from __future__ import annotations

import importlib
from typing import Any, Callable


def lazy_exports(package: str, exports: dict[str, str],
                 own: dict[str, Any]) -> tuple[Callable[[str], Any], Callable[[], list[str]]]:
    """The `__getattr__` and `__dir__` of `package`: `exports` maps each public name to the
    module of the package it comes from; `own` is the package's `globals()`."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        return getattr(importlib.import_module(f".{module}", package), name)

    def __dir__() -> list[str]:
        return sorted([*own, *exports])

    return __getattr__, __dir__
