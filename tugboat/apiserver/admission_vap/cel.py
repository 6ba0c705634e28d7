"""CEL for admission: compile once, evaluate against admission variables.

Why a thin wrapper: ValidatingAdmissionPolicy validations and webhook matchConditions both
evaluate CEL over `object`, `oldObject`, `request`, `params`, `namespaceObject` and
`authorizer`-free variables. We use the pure-Python `cel-python` package (import `celpy`) — the
one maintained PyPI CEL implementation; if it is missing, every expression is treated as an
evaluation error (policies then follow their failurePolicy) and `available()` says so.
Compiled programs are cached by expression text.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

celpy: Any = None  # imported on first use (_load): with lark and pendulum it costs ≈ 7 MB idle
_loaded = False


def _load() -> Any:
    global celpy, _loaded
    if not _loaded:
        _loaded = True
        try:
            import celpy as mod  # type: ignore[import-untyped]

            celpy = mod
        except ImportError:  # pragma: no cover - the dependency is declared in pyproject
            celpy = None
    return celpy


class CelError(Exception):
    """Compile or evaluation failure, with a message fit for users."""


def available() -> bool:
    return _load() is not None


@lru_cache(maxsize=1024)
def _compile(expr: str) -> Any:
    if _load() is None:
        raise CelError("CEL is not available (install cel-python)")
    env = celpy.Environment()
    try:
        return env.program(env.compile(expr))
    except Exception as e:  # celpy raises its own parse error types
        raise CelError(f"compilation failed: {e}") from None


def compile_check(expr: str) -> str | None:
    """None if `expr` compiles, else the error text."""
    try:
        _compile(expr)
    except CelError as e:
        return str(e)
    return None


def to_cel(value: Any) -> Any:
    return celpy.json_to_cel(value) if celpy is not None else value


def evaluate(expr: str, activation: dict[str, Any]) -> Any:
    """The expression's value as a plain Python value; raises CelError on failure."""
    prog = _compile(expr)
    try:
        out = prog.evaluate({k: to_cel(v) for k, v in activation.items()})
    except Exception as e:
        raise CelError(f"expression '{expr}' resulted in error: {e}") from None
    if celpy is not None and isinstance(out, celpy.CELEvalError):
        raise CelError(f"expression '{expr}' resulted in error: {out.args[0] if out.args else out}")
    return _plain(out)


def _plain(v: Any) -> Any:
    if isinstance(v, bool) or (celpy is not None and isinstance(v, celpy.celtypes.BoolType)):
        return bool(v)
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, int):
        return int(v)
    if isinstance(v, float):
        return float(v)
    if isinstance(v, str):
        return str(v)
    return v
