"""Typed dataclass configs: strict dict/YAML round trips, registry-backed component configs, overrides.

A config is a tree of dataclasses. Fields whose concrete type depends on a registered component (an encoder's
options depend on which encoder) are declared with :func:`component_field`; in dicts and YAML they appear as
``{"name": <registered name>, **options}`` and are resolved through the registry, so unknown keys are rejected
for every component, not only for the top-level config.
"""

from __future__ import annotations

import dataclasses
import functools
import os
import types
import typing
from pathlib import Path
from typing import Any, Callable, Mapping, TypeVar, Union

import yaml

from ncse_cli.errors import NcseError
from ncse_cli.files import atomic_write_text
from ncse_cli.registry import Registry

C = TypeVar("C")


class ConfigError(NcseError, ValueError):
    """A config value or key that does not fit its dataclass; the message names the dotted path."""


def component_field(registry: Registry, default: Callable[[], Any]) -> Any:
    """A dataclass field holding a registered component's config (``registry.get(name).Config``)."""
    return dataclasses.field(default_factory=default, metadata={"registry": registry})


def component_name(cfg: Any) -> str:
    """The registered name a component config belongs to (its class attribute ``component``)."""
    return type(cfg).component


@functools.cache
def _type_hints(cls: type) -> dict[str, Any]:
    """``typing.get_type_hints`` once per config class: it evaluates every annotation string again on each call."""
    return typing.get_type_hints(cls)


def from_dict(cls: type[C], data: Mapping[str, Any], path: str = "") -> C:
    """Build dataclass ``cls`` from ``data``; unknown keys and ill-typed values raise :class:`ConfigError`."""
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path or cls.__name__}: expected a mapping, got {type(data).__name__}")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    odd = [key for key in data if not isinstance(key, str)]
    if odd:  # YAML turns unquoted null/true/1 keys into non-strings
        raise ConfigError(f"{path or cls.__name__}: key {odd[0]!r} is not a name (quote it in YAML)")
    unknown = sorted(set(data) - set(fields))
    if unknown:
        where = f" in {path}" if path else ""
        raise ConfigError(f"unknown key{'s' if len(unknown) > 1 else ''}{where}: {', '.join(unknown)} "
                          f"(allowed: {', '.join(fields)})")
    kwargs = {}
    for name, value in data.items():
        field = fields[name]
        sub = f"{path}.{name}" if path else name
        if "registry" in field.metadata:
            kwargs[name] = _component_from_dict(field.metadata["registry"], value, sub)
        else:
            kwargs[name] = _coerce(hints[name], value, sub)
    try:
        return cls(**kwargs)
    except (TypeError, ValueError) as err:
        raise ConfigError(f"{path or cls.__name__}: {err}") from None


def _component_from_dict(registry: Registry, value: Any, path: str) -> Any:
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, Mapping) or "name" not in value:
        raise ConfigError(f"{path}: expected a {registry.kind} name or a mapping with a 'name' key")
    options = dict(value)
    name = options.pop("name")
    try:
        component = registry.get(name)
    except KeyError as err:
        raise ConfigError(f"{path}: {err}") from None
    return from_dict(component.Config, options, path)


def _coerce(tp: Any, value: Any, path: str) -> Any:
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if tp is Any:
        return value
    if origin in (Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        errors = []
        for arg in (a for a in args if a is not type(None)):
            try:
                return _coerce(arg, value, path)
            except ConfigError as err:
                errors.append(str(err))
        raise ConfigError(errors[0] if len(errors) == 1 else f"{path}: {value!r} fits none of {tp}")
    if origin is typing.Literal:
        if value not in args:
            raise ConfigError(f"{path}: {value!r} is not one of {', '.join(map(repr, args))}")
        return value
    if dataclasses.is_dataclass(tp):
        return from_dict(tp, value, path)
    if origin is tuple:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        if len(args) == 2 and args[1] is Ellipsis:
            return tuple(_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value))
        if len(args) != len(value):
            raise ConfigError(f"{path}: expected {len(args)} values, got {len(value)}")
        return tuple(_coerce(a, v, f"{path}[{i}]") for i, (a, v) in enumerate(zip(args, value)))
    if origin is list:
        if not isinstance(value, (list, tuple)):
            raise ConfigError(f"{path}: expected a list, got {value!r}")
        return [_coerce(args[0], v, f"{path}[{i}]") for i, v in enumerate(value)] if args else list(value)
    if origin is dict or tp is dict:
        if not isinstance(value, Mapping):
            raise ConfigError(f"{path}: expected a mapping, got {value!r}")
        if len(args) != 2:
            return dict(value)
        return {_coerce(args[0], k, f"{path} key {k!r}"): _coerce(args[1], v, f"{path}.{k}") for k, v in value.items()}
    return _coerce_scalar(tp, value, path)


def _coerce_scalar(tp: Any, value: Any, path: str) -> Any:
    if tp is bool:
        if isinstance(value, bool):
            return value
    elif tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
    elif tp is str:
        if isinstance(value, str):
            return value
    elif isinstance(tp, type) and isinstance(value, tp):
        return value
    name = getattr(tp, "__name__", str(tp))
    raise ConfigError(f"{path}: expected {name}, got {value!r}")


def to_dict(cfg: Any) -> dict[str, Any]:
    """Plain-data form of a config tree (tuples become lists, components gain their ``name``)."""
    out: dict[str, Any] = {}
    if hasattr(type(cfg), "component"):
        out["name"] = component_name(cfg)
    for field in dataclasses.fields(cfg):
        out[field.name] = _plain(getattr(cfg, field.name))
    return out


def _plain(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return to_dict(value)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, Path):
        return str(value)
    return value


def merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Recursive dict merge; ``override`` wins. A component whose ``name`` changes is replaced, not merged."""
    out = dict(base)
    for key, value in override.items():
        old = out.get(key)
        same_component = not (isinstance(old, Mapping) and isinstance(value, Mapping)
                              and "name" in value and old.get("name") != value["name"])
        if isinstance(old, Mapping) and isinstance(value, Mapping) and same_component:
            out[key] = merge(old, value)
        else:
            out[key] = value
    return out


def dotted(overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Turn ``{"train.lr": 1e-4}`` into ``{"train": {"lr": 1e-4}}``; ``None`` values (flag not given) are dropped."""
    out: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        node = out
        *parents, leaf = key.split(".")
        for part in parents:
            node = node.setdefault(part, {})
        node[leaf] = value
    return out


def load_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Read a YAML mapping; a missing file, binary data, bad YAML or a non-mapping raises :class:`ConfigError`."""
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{path}: no such file") from None
    except UnicodeDecodeError as err:
        raise ConfigError(f"{path}: not a YAML text file (byte {err.start} is not UTF-8)") from None
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML ({str(err).splitlines()[0]})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping at the top level")
    return data


def save_yaml(data: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Write ``data`` as YAML atomically (temporary file, then rename)."""
    atomic_write_text(Path(path), yaml.safe_dump(_plain(dict(data)), sort_keys=False))


def flat_config(data: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested config dict as ``{"model.backbone.nf": 16, ...}``."""
    out: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flat_config(value, f"{path}."))
        else:
            out[path] = value
    return out
