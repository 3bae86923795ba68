"""Each integration imports its library only in its own module, and names the extra without it."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

MODULES = {
    "resilience.contrib.requests": ("requests", "requests"),
    "resilience.contrib.aiohttp": ("aiohttp", "aiohttp"),
    "resilience.contrib.grpc": ("grpc", "grpc"),
    "resilience.contrib.starlette": ("starlette", "starlette"),
    "resilience.contrib.fastapi": ("fastapi", "fastapi"),
    "resilience.contrib.flask": ("flask", "flask"),
    "resilience.contrib.django.conf": ("django", "django"),
    "resilience.contrib.structlog": ("structlog", "structlog"),
}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_without_its_library_the_import_names_the_extra(
    module: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the library hidden, importing the integration raises ImportError naming its extra."""
    library, extra = MODULES[module]
    for name in [n for n in sys.modules if n == library or n.startswith(f"{library}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, library, None)
    for name in [n for n in sys.modules if n == module or n.startswith("resilience.contrib.")]:
        if name != "resilience.contrib":
            monkeypatch.delitem(sys.modules, name)
    with pytest.raises(ImportError, match=rf"resilience-engine\[{extra}\]"):
        importlib.import_module(module)


def test_importing_resilience_imports_no_integration_library() -> None:
    """A fresh interpreter importing resilience (and its health probes) loads none of them."""
    code = (
        "import sys, resilience, resilience.health, resilience.contrib.logging\n"
        "libraries = ['requests', 'aiohttp', 'grpc', 'starlette', 'fastapi', 'flask',"
        " 'django', 'structlog']\n"
        "print(sorted(n for n in libraries if n in sys.modules))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
