"""A router of small handlers with filters (aiogram-style): the first route whose filters all pass handles."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)

C = TypeVar("C")
R = TypeVar("R")

Filter = Callable[[C], bool]
Handler = Callable[[C], Awaitable[R]]


@dataclass(frozen=True)
class Route(Generic[C, R]):
    name: str
    filters: tuple[Callable[[C], bool], ...]
    handler: Callable[[C], Awaitable[R]]

    def matches(self, ctx: C) -> bool:
        return all(f(ctx) for f in self.filters)


class Router(Generic[C, R]):
    """Routes in registration order; included routers are tried after this router's own routes."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._routes: list[Route[C, R]] = []
        self._children: list[Router[C, R]] = []

    def route(self, *filters: Callable[[C], bool]) -> Callable[[Handler[C, R]], Handler[C, R]]:
        """Register the decorated handler for contexts that pass every filter."""

        def register(handler: Handler[C, R]) -> Handler[C, R]:
            name = getattr(handler, "__name__", repr(handler))
            self._routes.append(Route(f"{self.name}.{name}", tuple(filters), handler))
            return handler

        return register

    def include(self, child: Router[C, R]) -> Router[C, R]:
        self._children.append(child)
        return child

    def match(self, ctx: C) -> Route[C, R] | None:
        for route in self._routes:
            if route.matches(ctx):
                return route
        for child in self._children:
            found = child.match(ctx)
            if found is not None:
                return found
        return None

    @property
    def routes(self) -> list[Route[C, R]]:
        out = list(self._routes)
        for child in self._children:
            out += child.routes
        return out

    async def dispatch(self, ctx: C, default: Handler[C, R]) -> R:
        """Run the first matching handler, else `default`."""
        route = self.match(ctx)
        if route is None:
            return await default(ctx)
        log.debug("route %s", route.name)
        return await route.handler(ctx)


def is_instance(*types: type[Any]) -> Callable[[Any], bool]:
    """A filter on the context's `command` attribute (a parsed command object)."""

    def check(ctx: Any) -> bool:
        return isinstance(getattr(ctx, "command", None), types)

    return check
