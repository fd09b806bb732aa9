"""The part of AWS IoT SQL (version 2016-03-23) the local rule engine evaluates.

``SELECT <items> FROM '<topic filter>' [WHERE <condition>]`` where an item is ``*``,
``topic()`` / ``topic(n)``, ``encode(*, 'base64')``, ``timestamp()``, ``newuuid()``, a
JSON attribute path (``a.b``), a string or number literal, each with an optional
``AS alias``; the condition compares such expressions (``= <> != < <= > >=``) joined by
``AND`` / ``OR``. Anything else is refused when the rule is loaded, so a template rule the
local engine cannot honour fails loudly instead of silently differing from IoT Core.

Payload rules follow IoT Core:
- a JSON object payload: ``*`` merges its attributes into the result;
- an empty payload counts as ``{}``;
- any other payload is binary: ``SELECT *`` alone passes the raw bytes on (which a Lambda
  action refuses: IoT Core asks for ``encode(*, 'base64')`` there), ``encode(*,
  'base64')`` works, and ``*`` mixed with other items is an error;
- an attribute that does not exist is left out of the result (IoT's ``Undefined``);
- unaliased function results are named ``_1``, ``_2`` ... in order.
"""

from __future__ import annotations

import base64
import json
import re
import time
import uuid
from dataclasses import dataclass
from typing import Any

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<string>'(?:[^']|'')*')
      | (?P<number>-?\d+(?:\.\d+)?)
      | (?P<op><>|!=|<=|>=|=|<|>)
      | (?P<punct>[(),*])
      | (?P<name>[A-Za-z_$][A-Za-z0-9_$:]*(?:\.[A-Za-z_$][A-Za-z0-9_$:]*)*)
    )""",
    re.VERBOSE,
)

_UNDEFINED = object()


class RuleSqlError(ValueError):
    """The SQL uses something the local rule engine does not evaluate."""


class RuleEvaluationError(ValueError):
    """A message cannot be turned into the rule's output (IoT Core fails the action)."""


@dataclass(frozen=True, slots=True)
class MqttMessage:
    topic: str
    payload: bytes


@dataclass(frozen=True, slots=True)
class _Expr:
    kind: str  # star | topic | encode | timestamp | newuuid | path | literal
    value: Any = None


@dataclass(frozen=True, slots=True)
class _Item:
    expr: _Expr
    alias: str | None


@dataclass(frozen=True, slots=True)
class _Comparison:
    left: _Expr
    op: str
    right: _Expr


class _Tokens:
    def __init__(self, text: str) -> None:
        self.items: list[tuple[str, str]] = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = _TOKEN.match(text, position)
            if match is None or match.end() == position:
                raise RuleSqlError(f"cannot read the SQL at: {text[position : position + 20]!r}")
            kind = match.lastgroup or ""
            self.items.append((kind, match.group(kind)))
            position = match.end()
            while position < len(text) and text[position].isspace():
                position += 1
        self.index = 0

    def peek(self) -> tuple[str, str] | None:
        return self.items[self.index] if self.index < len(self.items) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise RuleSqlError("the SQL ends too early")
        self.index += 1
        return token

    def is_keyword(self, word: str) -> bool:
        token = self.peek()
        return token is not None and token[0] == "name" and token[1].upper() == word

    def expect_keyword(self, word: str) -> None:
        if not self.is_keyword(word):
            raise RuleSqlError(f"expected {word}")
        self.index += 1

    def expect(self, text: str) -> None:
        token = self.take()
        if token[1] != text:
            raise RuleSqlError(f"expected {text!r}, found {token[1]!r}")


def _unquote(literal: str) -> str:
    return literal[1:-1].replace("''", "'")


def _parse_expr(tokens: _Tokens) -> _Expr:
    kind, text = tokens.take()
    if kind == "punct" and text == "*":
        return _Expr("star")
    if kind == "string":
        return _Expr("literal", _unquote(text))
    if kind == "number":
        return _Expr("literal", float(text) if "." in text else int(text))
    if kind != "name":
        raise RuleSqlError(f"unexpected {text!r}")
    following = tokens.peek()
    if following is None or following[1] != "(":
        if text.lower() in ("true", "false"):
            return _Expr("literal", text.lower() == "true")
        return _Expr("path", tuple(text.split(".")))
    tokens.take()
    function = text.lower()
    if function == "topic":
        if tokens.peek() == ("punct", ")"):
            tokens.take()
            return _Expr("topic", None)
        number_kind, number = tokens.take()
        if number_kind != "number" or not number.isdigit() or int(number) < 1:
            raise RuleSqlError("topic() takes a segment number from 1")
        tokens.expect(")")
        return _Expr("topic", int(number))
    if function == "encode":
        tokens.expect("*")
        tokens.expect(",")
        encoding_kind, encoding = tokens.take()
        if encoding_kind != "string" or _unquote(encoding).lower() != "base64":
            raise RuleSqlError("encode() supports only encode(*, 'base64')")
        tokens.expect(")")
        return _Expr("encode")
    if function in ("timestamp", "newuuid"):
        tokens.expect(")")
        return _Expr(function)
    raise RuleSqlError(f"the local rule engine does not evaluate {text}()")


@dataclass(frozen=True, slots=True)
class RuleQuery:
    """A parsed rule: what it selects, the topic filter it reads, its condition."""

    items: tuple[_Item, ...]
    topic_filter: str
    condition: tuple[tuple[_Comparison, ...], ...]  # OR of ANDs

    @classmethod
    def parse(cls, sql: str) -> RuleQuery:
        """Parse one rule's SQL.

        Raises:
            RuleSqlError: the SQL is not in the subset described in the module docstring.
        """
        tokens = _Tokens(sql)
        tokens.expect_keyword("SELECT")
        items: list[_Item] = []
        while True:
            expr = _parse_expr(tokens)
            alias = None
            if tokens.is_keyword("AS"):
                tokens.take()
                alias_kind, alias = tokens.take()
                if alias_kind != "name":
                    raise RuleSqlError("AS needs a name")
            items.append(_Item(expr, alias))
            if tokens.peek() == ("punct", ","):
                tokens.take()
                continue
            break
        tokens.expect_keyword("FROM")
        topic_kind, topic = tokens.take()
        if topic_kind != "string":
            raise RuleSqlError("FROM needs a quoted topic filter")
        condition: list[tuple[_Comparison, ...]] = []
        if tokens.is_keyword("WHERE"):
            tokens.take()
            conjunction: list[_Comparison] = []
            while True:
                left = _parse_expr(tokens)
                op_kind, op = tokens.take()
                if op_kind != "op":
                    raise RuleSqlError(f"expected a comparison, found {op!r}")
                conjunction.append(_Comparison(left, op, _parse_expr(tokens)))
                if tokens.is_keyword("AND"):
                    tokens.take()
                elif tokens.is_keyword("OR"):
                    tokens.take()
                    condition.append(tuple(conjunction))
                    conjunction = []
                else:
                    break
            condition.append(tuple(conjunction))
        if tokens.peek() is not None:
            raise RuleSqlError(f"unexpected {tokens.take()[1]!r} at the end")
        return cls(tuple(items), _unquote(topic), tuple(condition))

    @property
    def is_binary_passthrough(self) -> bool:
        return len(self.items) == 1 and self.items[0].expr.kind == "star"

    def evaluate(self, message: MqttMessage) -> dict[str, Any] | bytes | None:
        """The rule's output for one message: an object, raw bytes, or None (WHERE false).

        Raises:
            RuleEvaluationError: the payload cannot produce the selected output.
        """
        document = _json_object(message.payload)
        if not self._matches(message, document):
            return None
        if document is None and self.is_binary_passthrough:
            return message.payload
        result: dict[str, Any] = {}
        unnamed = 0
        for item in self.items:
            if item.expr.kind == "star":
                if document is None:
                    raise RuleEvaluationError("a binary payload cannot be merged with other fields")
                result.update(document)
                continue
            value = _value(item.expr, message, document)
            name = item.alias
            if name is None:
                if item.expr.kind == "path":
                    name = item.expr.value[-1]
                else:
                    unnamed += 1
                    name = f"_{unnamed}"
            if value is not _UNDEFINED:
                result[name] = value
        return result

    def _matches(self, message: MqttMessage, document: dict[str, Any] | None) -> bool:
        if not self.condition:
            return True
        return any(
            all(_compare(comparison, message, document) for comparison in conjunction)
            for conjunction in self.condition
        )


def _json_object(payload: bytes) -> dict[str, Any] | None:
    if not payload.strip():
        return {}
    try:
        parsed = json.loads(payload)
    except (UnicodeDecodeError, ValueError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _value(expr: _Expr, message: MqttMessage, document: dict[str, Any] | None) -> Any:
    if expr.kind == "literal":
        return expr.value
    if expr.kind == "topic":
        if expr.value is None:
            return message.topic
        segments = message.topic.split("/")
        return segments[expr.value - 1] if expr.value <= len(segments) else _UNDEFINED
    if expr.kind == "encode":
        return base64.b64encode(message.payload).decode("ascii")
    if expr.kind == "timestamp":
        return time.time_ns() // 1_000_000
    if expr.kind == "newuuid":
        return str(uuid.uuid4())
    if expr.kind == "path":
        current: Any = document
        for key in expr.value:
            if not isinstance(current, dict) or key not in current:
                return _UNDEFINED
            current = current[key]
        return current
    raise RuleEvaluationError("* is not a value here")


def _compare(
    comparison: _Comparison, message: MqttMessage, document: dict[str, Any] | None
) -> bool:
    left = _value(comparison.left, message, document)
    right = _value(comparison.right, message, document)
    if left is _UNDEFINED or right is _UNDEFINED:
        return False
    op = comparison.op
    if op == "=":
        return bool(left == right)
    if op in ("<>", "!="):
        return bool(left != right)
    try:
        if op == "<":
            return bool(left < right)
        if op == "<=":
            return bool(left <= right)
        if op == ">":
            return bool(left > right)
        return bool(left >= right)
    except TypeError:
        return False
