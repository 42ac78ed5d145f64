"""The ledger's write-behind: rows leave the request at once, are written in batches, and wait out an outage."""

from __future__ import annotations

import logging
import threading
from pathlib import Path

import pytest
import sqlalchemy
from sqlalchemy.exc import DataError, OperationalError, ProgrammingError

from bot.model.metering import Meter
from bot.storage.ledger import Ledger
from bot.storage.ledger_writer import RowWriter


class Table:
    """Stands in for the database: records each insert's batch; can be held or made to fail."""

    def __init__(self) -> None:
        self.batches: list[list[dict]] = []
        self.failures_left = 0
        self.missing_table_left = 0
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()

    def insert(self, rows: list[dict]) -> None:
        self.entered.set()
        self.hold.wait()
        if any(row.get("refused") for row in rows):
            raise DataError("INSERT INTO requests", {}, ValueError("a value the database cannot store"))
        if any(row.get("unencodable") for row in rows):
            raise UnicodeEncodeError("utf-8", "\ud800", 0, 1, "surrogates not allowed")  # raised while binding
        if self.missing_table_left:
            self.missing_table_left -= 1
            raise ProgrammingError("INSERT INTO requests", {}, LookupError('relation "requests" does not exist'))
        if self.failures_left:
            self.failures_left -= 1
            raise OperationalError("INSERT INTO requests", {}, ConnectionRefusedError("database is down"))
        self.batches.append(list(rows))

    @property
    def rows(self) -> list[int]:
        return [row["n"] for batch in self.batches for row in batch]


def test_rows_put_while_a_write_is_under_way_go_out_together_in_order() -> None:
    table, lost = Table(), []
    writer = RowWriter(table.insert, on_lost=lost.append)
    table.hold.clear()
    writer.put({"n": 0})
    assert table.entered.wait(5)  # the first row is being written on its own
    for n in range(1, 301):
        writer.put({"n": n})
    table.hold.set()
    assert writer.flush(10)
    assert table.rows == list(range(301)) and lost == []
    assert [len(batch) for batch in table.batches] == [1, 300]
    writer.close()


def test_rows_wait_out_a_database_outage_and_are_written_when_it_is_back(caplog: pytest.LogCaptureFixture) -> None:
    table, lost = Table(), []
    table.failures_left = 2
    writer = RowWriter(table.insert, on_lost=lost.append)
    with caplog.at_level(logging.INFO, logger="bot.storage.ledger_writer"):
        for n in range(5):
            writer.put({"n": n})
        assert writer.flush(10)
    assert table.rows == list(range(5)) and lost == []
    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("ledger unavailable (OperationalError);")
    assert messages[-1] == "ledger reachable again; rows that waited are being written"
    writer.close()


def test_a_row_the_database_refuses_is_dropped_alone_and_the_rows_after_it_are_written(
    caplog: pytest.LogCaptureFixture,
) -> None:
    table, lost = Table(), []
    table.hold.clear()
    writer = RowWriter(table.insert, on_lost=lost.append)
    writer.put({"n": 0})
    assert table.entered.wait(5)
    for n in range(1, 5):
        writer.put({"n": n, "refused": n == 2})  # one batch of four, one of them refused
    with caplog.at_level(logging.ERROR, logger="bot.storage.ledger_writer"):
        table.hold.set()
        assert writer.flush(10)
        writer.put({"n": 5})
        assert writer.flush(10)
    assert table.rows == [0, 1, 3, 4, 5] and lost == [1]
    assert [record.getMessage() for record in caplog.records] == [
        "the ledger refused a row (DataError); it is dropped so that the rows after it are written"
    ]
    writer.close()


def test_a_row_the_driver_cannot_encode_is_dropped_alone_and_the_writer_goes_on() -> None:
    table, lost = Table(), []
    writer = RowWriter(table.insert, on_lost=lost.append)
    writer.put({"n": 0, "unencodable": True})
    assert writer.flush(10)
    writer.put({"n": 1})
    assert writer.flush(10)
    assert table.rows == [1] and lost == [1]
    writer.close()


def test_rows_wait_while_the_table_is_missing_and_are_written_once_it_is_migrated() -> None:
    """A release deployed before its migration ran: not the rows' fault, so none is dropped."""
    table, lost = Table(), []
    table.missing_table_left = 2
    writer = RowWriter(table.insert, on_lost=lost.append)
    for n in range(3):
        writer.put({"n": n})
    assert writer.flush(10)
    assert table.rows == [0, 1, 2] and lost == []
    writer.close()


def test_beyond_the_waiting_limit_the_oldest_rows_are_counted_lost() -> None:
    table, lost = Table(), []
    table.hold.clear()
    writer = RowWriter(table.insert, on_lost=lost.append, max_pending=3)
    writer.put({"n": 0})
    assert table.entered.wait(5)
    for n in range(1, 6):
        writer.put({"n": n})
    table.hold.set()
    assert writer.flush(10)
    assert table.rows == [0, 3, 4, 5] and sum(lost) == 2
    writer.close()


def test_rows_that_cannot_be_written_before_the_process_stops_are_counted_lost() -> None:
    table, lost = Table(), []
    table.failures_left = 1_000
    writer = RowWriter(table.insert, on_lost=lost.append)
    for n in range(4):
        writer.put({"n": n})
    writer.close(timeout=0.2)
    assert table.rows == [] and sum(lost) == 4
    writer.put({"n": 4})  # after the stop: counted, not kept
    assert sum(lost) == 5


def test_a_write_behind_ledger_writes_every_row_to_the_database(tmp_path: Path) -> None:
    ledger = Ledger(f"sqlite:///{tmp_path / 'ledger.db'}", write_behind=True)
    ledger.migrate()
    threads = [
        threading.Thread(
            target=lambda i=i: ledger.record(
                Meter(workspace="T1", pattern="chat", trigger="mention", request_id=f"r{i}"), status="ok"
            )
        )
        for i in range(40)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert ledger.flush(10)
    assert sorted(row.request_id for row in ledger.rows()) == sorted(f"r{i}" for i in range(40))
    assert ledger.lost_rows == 0
    ledger.close()


def test_text_postgresql_cannot_store_is_kept_readable_and_holds_up_no_row(postgres_url: str) -> None:
    """A NUL character (a model's output, a document) is refused by PostgreSQL's text type."""
    ledger = Ledger(postgres_url, write_behind=True)
    ledger.migrate()
    broken = Meter(workspace="T1", pattern="chat", trigger="mention", request_id="nul.1")
    broken.response = "a stray \x00 placeholder and a lone \ud800 surrogate"
    ledger.record(broken, status="ok")
    ledger.record(Meter(workspace="T1", pattern="chat", trigger="mention", request_id="nul.2"), status="ok")
    assert ledger.flush(10)
    with ledger.engine.connect() as connection:
        rows = connection.execute(
            sqlalchemy.text("SELECT request_id, response FROM requests WHERE request_id LIKE 'nul.%' ORDER BY id")
        ).all()
    assert [tuple(row) for row in rows] == [
        ("nul.1", "a stray \ufffd placeholder and a lone \ufffd surrogate"),
        ("nul.2", None),
    ]
    assert ledger.lost_rows == 0
    ledger.close()
