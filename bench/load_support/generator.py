"""The open-loop generator: sends each planned request on its clock, in a process of its own."""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse


def drive(
    url: str,
    secret: str,
    plan: list[tuple[int, float, bytes, str, tuple[tuple[str, str], ...]]],
    start_at: float,
    timeout: float,
) -> list[tuple[int, int, float, float, float, str]]:
    """Send each planned request at `start_at + offset` (wall clock) without waiting for earlier responses.

    Returns (index, HTTP status or 0, ms from connect to full response, ms to connect, ms late, error) per
    request. Each request opens its own connection; the signature is made at send time.
    """
    return asyncio.run(_drive(url, secret, plan, start_at, timeout))


async def _drive(url: str, secret: str, plan: list, start_at: float, timeout: float) -> list:
    from doubles.slack_sender import sign

    parsed = urlparse(url)
    host, port, path = parsed.hostname or "127.0.0.1", parsed.port or 80, parsed.path
    results: list = []

    async def one(index: int, body: bytes, content_type: str, extra: tuple, late_ms: float) -> None:
        writer = None
        started = time.perf_counter()
        connect_ms = 0.0
        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
            connect_ms = (time.perf_counter() - started) * 1000
            stamp = str(int(time.time()))
            head = [
                f"POST {path} HTTP/1.1",
                f"Host: {parsed.netloc}",
                f"Content-Type: {content_type}",
                f"Content-Length: {len(body)}",
                f"X-Slack-Request-Timestamp: {stamp}",
                f"X-Slack-Signature: {sign(secret, stamp, body)}",
                "Connection: close",
                *(f"{name}: {value}" for name, value in extra),
            ]
            writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
            await writer.drain()
            status_line = await asyncio.wait_for(reader.readline(), timeout)
            length = None
            while (line := await asyncio.wait_for(reader.readline(), timeout)) not in (b"\r\n", b""):
                name, _, value = line.decode("latin-1").partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            if length is None:
                await asyncio.wait_for(reader.read(), timeout)
            elif length:
                await asyncio.wait_for(reader.readexactly(length), timeout)
            elapsed = (time.perf_counter() - started) * 1000
            results.append((index, int(status_line.split()[1]), elapsed, connect_ms, late_ms, ""))
        except Exception as error:  # noqa: BLE001 - every failure is a data point
            elapsed = (time.perf_counter() - started) * 1000
            results.append((index, 0, elapsed, connect_ms, late_ms, type(error).__name__))
        finally:
            if writer is not None:
                writer.close()

    tasks = []
    for index, offset, body, content_type, extra in plan:
        due = start_at + offset
        delay = due - time.time()
        if delay > 0:
            await asyncio.sleep(delay)
        late_ms = max(0.0, (time.time() - due) * 1000)
        tasks.append(asyncio.create_task(one(index, body, content_type, extra, late_ms)))
    await asyncio.gather(*tasks)
    return results
