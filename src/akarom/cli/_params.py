"""Option values coerced without pydantic, so a short command starts in a blink.

Typer (0.2x) turns every option's text into its type through a pydantic
``TypeAdapter``, and importing pydantic alone takes longer than importing Typer and
Rich together (measured: ~0.1 s). akarom's options are plain: text, whole numbers,
choices (``Role``, ``Sim``…), paths and lists of those. ``lighten(params)`` gives each
a coercion that handles those values itself and hands anything else (bytes, a
malformed number) to Typer's own coercion, built on first need, so Typer's checks and
error messages stay Typer's. A path is made a ``Path`` here and then checked by
Typer's own path check (``exists``, file or folder…), which takes a ``Path`` as it
is: it is only the text-to-``Path`` step that Typer hands to pydantic.

This leans on Typer's internal coercion seam (``typer._coercion.RuntimeParam`` and a
parameter's ``_runtime_param``). Where those are missing (another Typer version),
``lighten`` changes nothing and Typer coerces as it always does;
``tests/test_cli_startup.py`` notices if pydantic is loaded again.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, get_args, get_origin

try:
    from typer._coercion import RuntimeParam, build_runtime_param
    from typer._param_types import coerce_cli_path
except ImportError:  # a Typer without the pydantic layer: nothing to lighten
    RuntimeParam = None  # type: ignore[assignment,misc]

if TYPE_CHECKING:
    from collections.abc import Iterable

    from typer._click import Context, Parameter
    from typer.core import _TyperParameter
    from typer.models import ParameterInfo

__all__ = ["lighten"]

#: ``_plain`` could not coerce the value itself: Typer's coercion decides.
_TYPERS_TURN = object()


def _plain(annotation: Any, value: Any) -> Any:
    """``value`` as ``annotation`` when that needs no judgement, else ``_TYPERS_TURN``."""
    if annotation is str and isinstance(value, str):
        return value
    if annotation is int and not isinstance(value, bool):
        if isinstance(value, int):
            return value
        if isinstance(value, str) and value.isascii() and value.isdecimal():
            return int(value)
    if isinstance(annotation, type) and issubclass(annotation, Enum):
        if isinstance(value, annotation):
            return value
        for member in annotation:
            if value == member.value:  # the exact spelling; anything looser is Typer's call
                return member
    if get_origin(annotation) is list and isinstance(value, list | tuple):
        (item_type,) = get_args(annotation)
        items = [_plain(item_type, item) for item in value]
        return _TYPERS_TURN if _TYPERS_TURN in items else items
    return _TYPERS_TURN


def _plain_path(annotation: Any, info: ParameterInfo, value: Any) -> bool:
    """Whether ``value`` is text that plainly names a path of type ``annotation``."""
    return (
        info.path_type is None
        and isinstance(annotation, type)
        and issubclass(annotation, Path)
        and isinstance(value, str)
        and value != ""
        and "\0" not in value
    )


if RuntimeParam is not None:

    @dataclass(frozen=True)
    class _PlainCoercion(RuntimeParam):
        """Plain values here; anything else through Typer's coercion for this parameter."""

        def _coerce_value(self, value: Any, param: _TyperParameter, ctx: Context) -> Any:
            if _plain_path(self.annotation, self.parameter_info, value):
                path = self.annotation(value)
                return coerce_cli_path(
                    path, self.parameter_info, path_type=self.annotation, param=param, ctx=ctx
                )
            plain = _plain(self.annotation, value)
            if plain is not _TYPERS_TURN:
                return plain
            typers = build_runtime_param(param.type_descriptor)
            param._runtime_param = typers  # from now on, Typer's alone
            return typers.coerce(value, param=param, ctx=ctx)


def lighten(params: Iterable[Parameter]) -> None:
    """Give each of ``params`` the plain coercion (``Command.get_params``: with ``--help``).

    Idempotent: a parameter that already has its coercion keeps it.
    """
    if RuntimeParam is None:
        return
    for param in params:
        descriptor = getattr(param, "type_descriptor", None)
        if descriptor is None or getattr(param, "_runtime_param", False) is not None:
            continue
        info = descriptor.parameter_info
        if info.parser is not None or info.min is not None or info.max is not None:
            continue  # a custom parser or a range: Typer's judgement from the start
        coercion = _PlainCoercion(parameter_info=info, annotation=descriptor.annotation)
        param._runtime_param = coercion  # type: ignore[attr-defined]  # Typer's own seam
