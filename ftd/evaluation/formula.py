"""A multi grader's ``calculate_output``: arithmetic over its graders' scores, nothing more.

The formula comes from a dropped sidecar, so it is parsed into a tree and
walked here, never handed to ``eval``: numbers, the graders' names, ``+ - *
/``, ``^`` or ``**`` for powers, parentheses and the functions OpenAI lists
for multi graders (min, max, abs, floor, ceil, exp, sqrt, log). Anything
else is refused with what and where.
"""

from __future__ import annotations

import ast
import math
from typing import TYPE_CHECKING

from ftd.errors import FtdError

if TYPE_CHECKING:
    from collections.abc import Callable, Collection, Mapping

MAX_FORMULA_CHARS = 2000
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "min": min,
    "max": max,
    "abs": abs,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "sqrt": math.sqrt,
    "log": math.log,
}
_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: lambda a, b: a + b,
    ast.Sub: lambda a, b: a - b,
    ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b,
    ast.Pow: lambda a, b: a**b,
}


class FormulaError(FtdError):
    """A ``calculate_output`` that cannot be read, or cannot be computed for these scores."""


def parse(formula: str, names: Collection[str]) -> ast.expr:
    """The formula's tree, checked: only known names, numbers, operators and functions."""
    if len(formula) > MAX_FORMULA_CHARS:
        raise FormulaError(f"calculate_output is longer than {MAX_FORMULA_CHARS} characters")
    try:
        # "^" is a power, binding as tightly as "**" (Python's "^" binds below "-")
        tree = ast.parse(formula.strip().replace("^", "**"), mode="eval").body
    except SyntaxError as exc:
        raise FormulaError(f"calculate_output {formula!r} is not a formula: {exc.msg}") from None
    for node in ast.walk(tree):
        _check(node, formula, names)
    return tree


def _check(node: ast.AST, formula: str, names: Collection[str]) -> None:
    if isinstance(node, ast.Name):
        if node.id not in names and node.id not in _FUNCTIONS:
            known = ", ".join(sorted(names)) or "none"
            raise FormulaError(
                f"calculate_output names {node.id!r}, which is not one of the graders ({known})"
            )
        return
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise FormulaError(f"calculate_output holds {node.value!r}, which is not a number")
        return
    if isinstance(node, ast.Call):
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCTIONS or node.keywords:
            raise FormulaError(
                f"calculate_output {formula!r} calls something other than "
                + ", ".join(sorted(_FUNCTIONS))
            )
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        return
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.UAdd | ast.USub):
        return
    if isinstance(node, ast.operator | ast.unaryop | ast.Load):
        return
    raise FormulaError(
        f"calculate_output {formula!r} holds {type(node).__name__}: only numbers, grader "
        "names, + - * / ^, parentheses and " + ", ".join(sorted(_FUNCTIONS)) + " are allowed"
    )


def evaluate(formula: str, scores: Mapping[str, float]) -> float:
    """The formula's value for these scores; FormulaError when it has none (a division by 0)."""
    tree = parse(formula, scores.keys())

    def value(node: ast.expr) -> float:
        if isinstance(node, ast.Constant):
            assert isinstance(node.value, int | float)  # parse() let no other constant through
            return float(node.value)
        if isinstance(node, ast.Name):
            return float(scores[node.id])
        if isinstance(node, ast.UnaryOp):
            inner = value(node.operand)
            return -inner if isinstance(node.op, ast.USub) else inner
        if isinstance(node, ast.BinOp):
            return _BINARY[type(node.op)](value(node.left), value(node.right))
        assert isinstance(node, ast.Call)
        assert isinstance(node.func, ast.Name)
        return float(_FUNCTIONS[node.func.id](*(value(arg) for arg in node.args)))

    try:
        result = value(tree)
    except (ArithmeticError, ValueError, TypeError) as exc:
        raise FormulaError(f"calculate_output {formula!r} has no value here: {exc}") from None
    if isinstance(result, complex) or not math.isfinite(result):
        raise FormulaError(f"calculate_output {formula!r} is not a finite number here")
    return float(result)
