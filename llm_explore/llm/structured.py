"""Parse model answers into validated pydantic objects.

Two documented formats:
- JSON: the first balanced `{...}` object in the answer (models often add prose or code fences),
  validated against the model; the schema sent to the server forbids extra keys.
- Bullet lines: every line starting with "-" or "*" is an item ("- Chop tree" -> "Chop tree");
  other non-empty lines are counted as unparsed and the bullets kept. ELLM's reference parser
  (yuqingd/ellm `text_crafter/lm.py`) is stricter: a line without "-" rejects the whole answer.
"""

from __future__ import annotations

import json
import re
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

M = TypeVar("M", bound=BaseModel)


def json_schema_for(model: type[BaseModel]) -> dict[str, Any]:
    """The model's JSON schema with `additionalProperties: false` on every object, so grammar-
    constrained decoding stops after the last field instead of inventing new ones."""
    schema = model.model_json_schema()

    def close(node: Any) -> None:
        if isinstance(node, dict):
            if node.get("type") == "object" and "properties" in node:
                node.setdefault("additionalProperties", False)
                node.setdefault("required", list(node["properties"]))
            for value in node.values():
                close(value)
        elif isinstance(node, list):
            for value in node:
                close(value)

    close(schema)
    return schema


def extract_json_object(text: str) -> str | None:
    """The first balanced {...} in `text`, respecting strings; None if there is none."""
    start = text.find("{")
    while start != -1:
        depth, in_str, escape = 0, False, False
        for i in range(start, len(text)):
            ch = text[i]
            if in_str:
                if escape:
                    escape = False
                elif ch == "\\":
                    escape = True
                elif ch == '"':
                    in_str = False
            elif ch == '"':
                in_str = True
            elif ch == "{":
                depth += 1
            elif ch == "}":
                depth -= 1
                if depth == 0:
                    return text[start : i + 1]
        start = text.find("{", start + 1)
    return None


class ParseFailure(ValueError):
    """One answer failed to parse; `feedback` is what the model is told on the retry."""

    def __init__(self, feedback: str):
        super().__init__(feedback)
        self.feedback = feedback


def parse_json_answer(text: str, model: type[M]) -> M:
    """Validate the JSON object in `text` against `model` or raise `ParseFailure`."""
    blob = extract_json_object(text)
    if blob is None:
        raise ParseFailure("the answer contains no JSON object")
    try:
        data = json.loads(blob)
    except json.JSONDecodeError as exc:
        raise ParseFailure(f"invalid JSON ({exc.msg} at position {exc.pos})") from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'object'}: {e['msg']}" for e in exc.errors())
        raise ParseFailure(f"JSON does not match the schema ({problems})") from None


_BULLET = re.compile(r"^\s*(?:[-*\u2022]|\d+[.)])\s+(.+?)\s*$")


def parse_bullets(text: str) -> tuple[list[str], list[str]]:
    """Split an answer into bullet items and the non-empty lines that were not bullets."""
    items, bad = [], []
    for line in text.splitlines():
        if not line.strip():
            continue
        m = _BULLET.match(line)
        if m:
            items.append(m.group(1).rstrip(".").strip())
        else:
            bad.append(line.strip())
    return items, bad


def bullet_parser(model: type[M], field: str, *, min_items: int = 1):
    """A `parse=` function for `LLMClient.structured` that reads the bullet-line format into
    `model(**{field: items})`; fewer than `min_items` bullets is a `ParseFailure`."""

    def parse(text: str) -> M:
        items, _bad = parse_bullets(text)
        if len(items) < min_items:
            raise ParseFailure(f"expected at least {min_items} lines starting with '- '")
        try:
            return model.model_validate({field: items})
        except ValidationError as exc:
            raise ParseFailure(f"lines do not match the schema ({exc.errors()[0]['msg']})") from None

    return parse
