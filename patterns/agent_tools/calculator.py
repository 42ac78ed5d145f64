"""Exact arithmetic for the agent, without executing code.

The expression is parsed with `ast` and only numbers, + - * / // % ** (whole exponents up to 100), parentheses,
unary signs and a few named functions are evaluated, on `Fraction`s: 0.1 + 0.2 is exactly 0.3, and 1/3 is
shown rounded with a "≈". Anything else (names, attributes, strings, calls of other functions) is refused.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal, localcontext
from fractions import Fraction

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 100
MAX_DIGITS = 400  # of any intermediate numerator or denominator
SHOWN_DECIMALS = 10


class CalculationError(ValueError):
    """The expression is not allowed or cannot be computed; the message says why."""


def _percent(part: Fraction, whole: Fraction) -> Fraction:
    """What percentage `part` is of `whole`."""
    if whole == 0:
        raise CalculationError("percent(part, whole) needs a whole that is not zero")
    return part / whole * 100


def _growth(old: Fraction, new: Fraction) -> Fraction:
    """Percentage change from `old` to `new`."""
    if old == 0:
        raise CalculationError("growth(old, new) is undefined when old is zero")
    return (new - old) / old * 100


def _round(value: Fraction, places: Fraction = Fraction(0)) -> Fraction:
    if places.denominator != 1 or not 0 <= places <= 20:
        raise CalculationError("round(x, n) needs n to be a whole number from 0 to 20")
    with localcontext() as context:
        context.prec = MAX_DIGITS + 30
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        return Fraction(exact.quantize(Decimal(1).scaleb(-int(places)), rounding=ROUND_HALF_UP))


FUNCTIONS: dict[str, tuple[Callable[..., Fraction], tuple[int, int]]] = {
    "round": (_round, (1, 2)),
    "abs": (lambda x: abs(x), (1, 1)),
    "percent": (_percent, (2, 2)),
    "growth": (_growth, (2, 2)),
    "min": (lambda *xs: min(xs), (1, 20)),
    "max": (lambda *xs: max(xs), (1, 20)),
}
_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: lambda a, b: Fraction(a // b),
    ast.Mod: operator.mod,
}


def calculate(expression: str) -> str:
    """The value of `expression`, exact when it can be written in decimals, else rounded and marked ≈."""
    value = evaluate(expression)
    return format_number(value)


def evaluate(expression: str) -> Fraction:
    text = expression.strip().replace("^", "**").replace("×", "*").replace("÷", "/")
    if not text:
        raise CalculationError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise CalculationError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError:
        raise CalculationError("the expression is not valid arithmetic") from None
    return _eval(tree.body)


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return _bounded(Fraction(str(node.value)))  # via str: 0.1 is exactly one tenth, not a binary float
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        return _power(_eval(node.left), _eval(node.right))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)) and right == 0:
            raise CalculationError("division by zero")
        return _bounded(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        name = node.func.id.lower()
        if name not in FUNCTIONS:
            raise CalculationError(f"unknown function {node.func.id}(); available: {', '.join(FUNCTIONS)}")
        function, (least, most) = FUNCTIONS[name]
        if not least <= len(node.args) <= most:
            raise CalculationError(f"{name}() takes {least if least == most else f'{least} to {most}'} arguments")
        return _bounded(function(*(_eval(argument) for argument in node.args)))
    raise CalculationError(
        f"only numbers, + - * / // % ** and {', '.join(FUNCTIONS)}() are allowed (found {_describe(node)})"
    )


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise CalculationError("only whole-number exponents are supported")
    if abs(exponent) > MAX_EXPONENT:
        raise CalculationError(f"exponents are limited to ±{MAX_EXPONENT}")
    if base == 0 and exponent < 0:
        raise CalculationError("division by zero")
    return _bounded(base ** int(exponent))


def _bounded(value: Fraction) -> Fraction:
    if len(str(abs(value.numerator))) > MAX_DIGITS or len(str(value.denominator)) > MAX_DIGITS:
        raise CalculationError(f"the numbers grew beyond {MAX_DIGITS} digits")
    return value


def format_number(value: Fraction) -> str:
    """Exact decimal text when the value has a finite decimal form, else ≈ with 10 decimals."""
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    with localcontext() as context:
        context.prec = MAX_DIGITS * 2
        exact = Decimal(value.numerator) / Decimal(value.denominator)
        if denominator == 1:
            return _plain(exact)
        return "≈ " + _plain(exact.quantize(Decimal(1).scaleb(-SHOWN_DECIMALS), rounding=ROUND_HALF_UP))


def _plain(number: Decimal) -> str:
    text = format(number, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in {"-0", ""} else text


def _describe(node: ast.AST) -> str:
    if isinstance(node, ast.Name):
        return f"the name {node.id!r}"
    if isinstance(node, ast.Constant):
        return f"the constant {node.value!r}"[:60]
    return type(node).__name__
