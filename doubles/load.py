"""A light load generator: many simultaneous signed Slack requests from one asyncio thread.

Each request's bytes are built and signed before the clock starts, and connections are opened beforehand (Slack
keeps connections to an app alive), so the measured time is the bot's: from the last byte sent to the full
response read. One thread and no HTTP client library keeps the generator's own overhead out of the figures.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlparse

from doubles.slack_sender import sign


def http_request(url: str, body: bytes, content_type: str, secret: str) -> bytes:
    parsed = urlparse(url)
    timestamp = str(int(time.time()))
    headers = [
        f"POST {parsed.path} HTTP/1.1",
        f"Host: {parsed.netloc}",
        f"Content-Type: {content_type}",
        f"Content-Length: {len(body)}",
        f"X-Slack-Request-Timestamp: {timestamp}",
        f"X-Slack-Signature: {sign(secret, timestamp, body)}",
        "Connection: keep-alive",
    ]
    return ("\r\n".join(headers) + "\r\n\r\n").encode() + body


async def _exchange(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes) -> tuple[int, float]:
    started = time.perf_counter()
    writer.write(request)
    await writer.drain()
    status_line = await reader.readline()
    length = 0
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.decode().partition(":")
        if name.lower() == "content-length":
            length = int(value)
    if length:
        await reader.readexactly(length)
    elapsed = (time.perf_counter() - started) * 1000
    writer.close()
    return int(status_line.split()[1]), elapsed


async def _burst(url: str, requests: list[bytes]) -> list[tuple[int, float]]:
    parsed = urlparse(url)
    host, port = parsed.hostname or "127.0.0.1", parsed.port or 80
    connections = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in requests))
    return await asyncio.gather(*(_exchange(r, w, req) for (r, w), req in zip(connections, requests)))


def burst(url: str, requests: list[bytes]) -> list[tuple[int, float]]:
    """Send all requests at once; return (HTTP status, milliseconds to the full response) for each."""
    return asyncio.run(_burst(url, requests))
