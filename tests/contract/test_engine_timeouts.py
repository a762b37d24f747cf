"""A database server that accepts the connection and never answers: the caller hears so within seconds."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from store import Store
from store.errors import DatabaseError


@contextlib.asynccontextmanager
async def silent_server() -> AsyncIterator[int]:
    """A loopback TCP server that accepts and then says nothing (a frozen database)."""
    held: list[asyncio.StreamWriter] = []

    async def accept(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(accept, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        for writer in held:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_a_server_that_never_answers_fails_within_the_callback_budget() -> None:
    async with silent_server() as port:
        store = Store(f"mysql+aiomysql://root@127.0.0.1:{port}/smartflow")
        # Without the bound the ping would hang; the outer timeout only keeps a regression from hanging CI.
        async with asyncio.timeout(30):
            with pytest.raises(DatabaseError, match="did not answer within 2 s"):
                await store.ping()
        await store.dispose()
