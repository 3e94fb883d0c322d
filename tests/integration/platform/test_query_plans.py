"""The send path's lookups search an index on SQLite, whatever the table's size: written
as a row-value IN, `(a, b) IN ((?, ?), ...)`, each one scanned the whole table, and the
sends of a busy conversation slowed as it grew."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.engine import Connection, make_url

from messenger.contact import store as contact_store
from messenger.messaging import store as messaging_store
from messenger.platform.db import create_engine, dispose_engine, run_transaction
from messenger.platform.migrations import upgrade

pytestmark = pytest.mark.backend_neutral


async def query_plans(tmp_path: Path, service: str, work: Callable[[Connection], Any]) -> str:
    """SQLite's plans for the statements `work` runs, against the service's schema."""
    url = make_url(f"sqlite+aiosqlite:///{tmp_path / service}.db")
    await upgrade(service, url)
    engine = create_engine(url)
    ran: list[tuple[str, Any]] = []

    def explained(conn: Connection) -> str:
        def record(*args: Any) -> None:
            ran.append((args[2], args[3]))

        event.listen(conn, "before_cursor_execute", record)
        work(conn)
        event.remove(conn, "before_cursor_execute", record)
        plans: list[str] = []
        for sql, params in ran:
            rows = conn.exec_driver_sql(f"EXPLAIN QUERY PLAN {sql}", params).all()
            plans.extend(str(row[-1]) for row in rows)
        return "\n".join(plans)

    try:
        return await run_transaction(engine, explained, write=False)
    finally:
        await dispose_engine(engine)


async def test_finding_retries_searches_the_client_key_index(tmp_path: Path) -> None:
    keys = [("c1", "u1", "k1"), ("c2", "u2", "k2")]
    plan = await query_plans(
        tmp_path, "messaging", lambda conn: messaging_store.find_by_client_ids(conn, keys)
    )
    assert "SEARCH messages USING INDEX" in plan, plan
    assert "SCAN messages" not in plan, plan


async def test_asking_friendships_searches_the_primary_key(tmp_path: Path) -> None:
    pairs = {("a", "c"), ("b", "d")}
    plan = await query_plans(
        tmp_path, "contact", lambda conn: contact_store.accepted_among(conn, pairs)
    )
    assert "SEARCH friendships USING" in plan, plan
    assert "SCAN friendships" not in plan, plan
