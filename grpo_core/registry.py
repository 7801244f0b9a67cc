"""A small name -> entry registry, the pattern of verl's ``register_policy_loss``.

Every family of variants in grpo_core (policy objectives, aggregations, advantage estimators, KL
estimators, whole algorithms) is one :class:`Registry`: an entry carries its function *and* its
metadata (formula, paper, trainer names), so the app reads names and formulas from one place and
adding a variant is one entry plus its tests.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Generic, TypeVar

E = TypeVar("E")


class Registry(Generic[E]):
    """An ordered mapping of names to entries; :meth:`get` raises ``ValueError`` listing the names."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, E] = {}

    def add(self, name: str, entry: E) -> E:
        if name in self._entries:
            raise ValueError(f"{self.kind} {name!r} is registered twice")
        self._entries[name] = entry
        return entry

    def get(self, name: str, *, argument: str | None = None) -> E:
        if not isinstance(name, str) or name not in self._entries:
            raise ValueError(f"{argument or self.kind} must be one of {', '.join(map(repr, self._entries))}; "
                             f"got {name!r}")
        return self._entries[name]

    def names(self) -> tuple[str, ...]:
        return tuple(self._entries)

    def items(self):
        return self._entries.items()

    def values(self):
        return self._entries.values()

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def __getitem__(self, name: str) -> E:
        return self.get(name)
