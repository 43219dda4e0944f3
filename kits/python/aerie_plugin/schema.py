"""Argument schemas from typed parameters.

A tool handler declares its arguments as keyword parameters after the context::

    def search(ctx, hostname: str | None = None,
               limit: int = arg(10, "Page size", min=1, max=100)): ...

The annotation gives the type — ``str``, ``int``, ``float``, ``bool``, ``list[T]``,
``Literal["a", "b"]`` or an ``enum.Enum`` subclass (an enum), ``Optional[T]``/``T | None`` (may be
left out) — and the default (a plain value or :func:`arg`) gives the default, a description and the
bounds. A parameter without a default is required. From this the kit generates the compact JSON
Schema the host validates arguments against (``additionalProperties: false``) and turns the
validated JSON back into Python values (an enum member for an ``Enum``).
"""

from __future__ import annotations

import enum
import inspect
import re
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from .errors import InvalidArguments


class _Required:
    def __repr__(self) -> str:
        return "REQUIRED"


#: The default of a parameter that must be given.
REQUIRED: Any = _Required()


@dataclass(frozen=True)
class Arg:
    """What the annotation cannot say about a parameter: default, description, bounds."""

    default: Any = REQUIRED
    description: str = ""
    min: Optional[float] = None
    max: Optional[float] = None
    min_length: Optional[int] = None
    max_length: Optional[int] = None
    pattern: Optional[str] = None
    max_items: Optional[int] = None


def arg(default: Any = REQUIRED, description: str = "", *, min: Optional[float] = None,
        max: Optional[float] = None, min_length: Optional[int] = None,
        max_length: Optional[int] = None, pattern: Optional[str] = None,
        max_items: Optional[int] = None) -> Any:
    """Describe a parameter: ``arg(10, "Page size", min=1, max=100)``; leave ``default`` out for a
    required one (``arg(description="Composite alert id")``). ``pattern`` is a regular expression
    the host checks (JSON Schema semantics: anchor it with ``^…$``)."""
    return Arg(default, description, min, max, min_length, max_length, pattern, max_items)


@dataclass
class Param:
    """One argument: its name, JSON type, bounds and how to convert it."""

    name: str
    schema: dict
    required: bool
    default: Any
    convert: Callable[[Any, str], Any]
    spec: Arg = field(default_factory=Arg)


_SCALARS: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def _strip_optional(tp: Any) -> tuple[Any, bool]:
    origin = typing.get_origin(tp)
    if origin is typing.Union or origin is getattr(types, "UnionType", None):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) == 1:
            return args[0], True
        raise TypeError(f"unsupported union {tp!r}: use one type, optionally with None")
    return tp, False


def _type_schema(tp: Any, where: str) -> tuple[dict, Callable[[Any, str], Any]]:
    """The JSON Schema of annotation ``tp`` and a converter from validated JSON."""
    if tp in _SCALARS:
        return {"type": _SCALARS[tp]}, _scalar(tp)
    origin = typing.get_origin(tp)
    if origin is typing.Literal:
        values = list(typing.get_args(tp))
        if not values or not all(isinstance(v, str) for v in values):
            raise TypeError(f"{where}: Literal choices must be strings")
        return {"type": "string", "enum": values}, _choice(values, lambda v: v)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [m.value for m in tp]
        if not all(isinstance(v, str) for v in values):
            raise TypeError(f"{where}: enum values of {tp.__name__} must be strings")
        return {"type": "string", "enum": values}, _choice(values, tp)
    if origin in (list, typing.List):
        (item,) = typing.get_args(tp) or (None,)
        if item is None:
            raise TypeError(f"{where}: say what the list holds, e.g. list[str]")
        item_schema, item_convert = _type_schema(item, where)

        def convert_list(v: Any, name: str) -> list:
            if not isinstance(v, list):
                raise InvalidArguments(f"`{name}` must be a list")
            return [item_convert(x, f"{name}[{i}]") for i, x in enumerate(v)]

        return {"type": "array", "items": item_schema}, convert_list
    raise TypeError(f"{where}: unsupported annotation {tp!r}; use str, int, float, bool, "
                    "list[...], Literal[...] or an Enum, optionally | None")


def _scalar(tp: type) -> Callable[[Any, str], Any]:
    def convert(v: Any, name: str) -> Any:
        # JSON true is not a number and 1 is not a boolean, whatever Python thinks.
        if tp is bool:
            ok = isinstance(v, bool)
        elif tp is int:
            ok = (isinstance(v, int) and not isinstance(v, bool)) or (
                isinstance(v, float) and v.is_integer())
            v = int(v) if ok else v
        elif tp is float:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool)
            v = float(v) if ok else v
        else:
            ok = isinstance(v, str)
        if not ok:
            raise InvalidArguments(f"`{name}` must be {_SCALARS[tp]}, not {_json_type(v)}")
        return v
    return convert


def _choice(values: list, make: Callable[[Any], Any]) -> Callable[[Any, str], Any]:
    def convert(v: Any, name: str) -> Any:
        if v not in values:
            raise InvalidArguments(f"`{name}` must be one of {', '.join(values)}")
        return make(v)
    return convert


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    for tp, name in ((bool, "boolean"), (int, "integer"), (float, "number"), (str, "string"),
                     (list, "array"), (dict, "object")):
        if isinstance(v, tp):
            return name
    return type(v).__name__


def params_of(fn: Callable) -> list[Param]:
    """The arguments of handler ``fn``: every parameter after the first (the context)."""
    sig = inspect.signature(fn)
    hints = typing.get_type_hints(fn)
    names = list(sig.parameters)[1:]
    out = []
    for name in names:
        p = sig.parameters[name]
        where = f"{fn.__name__}({name})"
        if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            raise TypeError(f"{where}: *args and **kwargs cannot be described as a schema")
        if name not in hints:
            raise TypeError(f"{where}: annotate the parameter with its type")
        spec = p.default if isinstance(p.default, Arg) else Arg(
            REQUIRED if p.default is p.empty else p.default)
        tp, optional = _strip_optional(hints[name])
        schema, convert = _type_schema(tp, where)
        _bounds(schema, spec, where)
        if spec.description:
            schema["description"] = spec.description
        default = spec.default
        if default is REQUIRED and optional:
            default = None
        if default is not REQUIRED and default is not None:
            # The default is shown to the model, so it must be valid JSON of the declared type.
            json_default = default.value if isinstance(default, enum.Enum) else default
            convert(json_default, name)
            schema["default"] = json_default
        out.append(Param(name, schema, default is REQUIRED, default, convert, spec))
    return out


def _bounds(schema: dict, spec: Arg, where: str) -> None:
    t = schema["type"]
    pairs = {
        "minimum": (spec.min, ("integer", "number")),
        "maximum": (spec.max, ("integer", "number")),
        "minLength": (spec.min_length, ("string",)),
        "maxLength": (spec.max_length, ("string",)),
        "pattern": (spec.pattern, ("string",)),
        "maxItems": (spec.max_items, ("array",)),
    }
    for key, (value, types_ok) in pairs.items():
        if value is None:
            continue
        if t not in types_ok:
            raise TypeError(f"{where}: {key} does not apply to a {t}")
        if key == "pattern":
            re.compile(value)
        schema[key] = value


def object_schema(params: list[Param]) -> dict:
    """The JSON Schema of a tool's arguments object."""
    schema: dict = {"type": "object", "properties": {p.name: p.schema for p in params}}
    required = [p.name for p in params if p.required]
    if required:
        schema["required"] = required
    schema["additionalProperties"] = False
    return schema


def convert_args(params: list[Param], args: Any) -> dict:
    """Validated JSON arguments → keyword arguments of the handler.

    The host has checked them against the schema already; this repeats the checks that turn JSON
    into Python values (so a handler can trust its types) and fills in defaults.
    """
    if not isinstance(args, dict):
        raise InvalidArguments("the arguments must be a JSON object")
    known = {p.name for p in params}
    unknown = sorted(set(args) - known)
    if unknown:
        expected = ", ".join(sorted(known)) or "none"
        raise InvalidArguments(f"unknown argument `{unknown[0]}`; the arguments are: {expected}")
    out = {}
    for p in params:
        if p.name not in args or args[p.name] is None:
            if p.required:
                raise InvalidArguments(f"`{p.name}` is required")
            out[p.name] = p.default
            continue
        v = p.convert(args[p.name], p.name)
        _check_bounds(p, v)
        out[p.name] = v
    return out


def _check_bounds(p: Param, v: Any) -> None:
    s, name = p.spec, p.name
    if isinstance(v, enum.Enum):
        return
    if s.min is not None and v < s.min:
        raise InvalidArguments(f"`{name}` must be at least {s.min:g}")
    if s.max is not None and v > s.max:
        raise InvalidArguments(f"`{name}` must be at most {s.max:g}")
    if s.min_length is not None and len(v) < s.min_length:
        raise InvalidArguments(f"`{name}` must be at least {s.min_length} characters")
    if s.max_length is not None and len(v) > s.max_length:
        raise InvalidArguments(f"`{name}` must be at most {s.max_length} characters")
    if s.pattern is not None and not re.search(s.pattern, v):
        raise InvalidArguments(f"`{name}` must match {s.pattern}")
    if s.max_items is not None and len(v) > s.max_items:
        raise InvalidArguments(f"`{name}` takes at most {s.max_items} items")
