"""Components looked up by name: one small Registry class, one instance per kind of component."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from ncse_cli.errors import NcseError

T = TypeVar("T")


class UnknownComponentError(NcseError, KeyError):
    """Raised for a name that is not registered; its message lists what exists."""

    def __str__(self) -> str:  # KeyError would print the message quoted
        return str(self.args[0])


class Registry(Generic[T]):
    """A name -> object table for one kind of component (backbone, encoder, SDE, sampler, ...).

    Registered objects (classes or functions) carry their registry ``name`` as an attribute, set by
    :meth:`register`; one with a ``Config`` dataclass gets ``Config.component = name`` so that configs can be
    written back as ``{"name": ..., **fields}``.
    """

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        """Class or function decorator that registers its target under ``name``."""

        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = obj
            obj.name = name  # type: ignore[attr-defined]
            if hasattr(obj, "Config"):  # lets a config know which component it belongs to
                owner = obj.Config.__dict__.get("component")
                if owner is not None:
                    raise ValueError(f"{self.kind} {name!r}: its Config class already belongs to {owner!r}")
                obj.Config.component = name  # type: ignore[attr-defined]
            return obj

        return decorator

    def get(self, name: str) -> T:
        """The component registered under ``name``; unknown names raise with the list of known ones."""
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(self.names()) or "none"
            raise UnknownComponentError(f"unknown {self.kind} {name!r}; registered: {known}") from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        return sorted(self._items)

    def __contains__(self, name: object) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())
