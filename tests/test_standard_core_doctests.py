"""The examples in standard_core's date modules run as tests, and every public function has them.

Each public function's docstring must show an example (>>>) and name its legal source (a law, an article
or the published table it follows), so the rule and its proof sit next to the code.
"""

from __future__ import annotations

import doctest
import importlib
import inspect
import re
from types import ModuleType

import pytest

MODULES = ("standard_core.dates", "standard_core.wareki", "standard_core.holidays", "standard_core.municipal_calendar")
# What a legal source looks like in a docstring: 民法143条, 地方自治法4条の2, …ニ関スル法律, 条例, 暦要項, 元号法.
LEGAL_SOURCE = re.compile(r"法|条|条例|暦要項|布告")


def module(name: str) -> ModuleType:
    return importlib.import_module(name)


def public_functions(mod: ModuleType) -> list[tuple[str, object]]:
    """Module-level functions and the public methods of classes defined in the module."""
    found: list[tuple[str, object]] = []
    for name, obj in vars(mod).items():
        if name.startswith("_") or getattr(obj, "__module__", None) != mod.__name__:
            continue
        if inspect.isfunction(obj):
            found.append((name, obj))
        elif inspect.isclass(obj) and not issubclass(obj, Exception):
            for method_name, method in vars(obj).items():
                if isinstance(method, classmethod):
                    method = method.__func__
                if not method_name.startswith("_") and inspect.isfunction(method):
                    found.append((f"{name}.{method_name}", method))
    return found


@pytest.mark.parametrize("name", MODULES)
def test_doctests_pass(name: str) -> None:
    result = doctest.testmod(module(name), optionflags=doctest.ELLIPSIS)
    assert result.attempted > 0
    assert result.failed == 0


@pytest.mark.parametrize("name", MODULES)
def test_every_public_function_has_examples_and_a_source(name: str) -> None:
    mod = module(name)
    functions = public_functions(mod)
    assert functions
    lacking = [
        fn_name
        for fn_name, fn in functions
        if ">>>" not in (fn.__doc__ or "") or not LEGAL_SOURCE.search((fn.__doc__ or "").split(">>>")[0])
    ]
    assert lacking == []
