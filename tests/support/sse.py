"""A real EventSource client of the gateway's /api/events (http or https), for the SSE tests."""

from __future__ import annotations

import http.client
import json
import time
from urllib.parse import urlsplit


class SSEClient:
    """A minimal EventSource over http.client: parses `id`, `event`, `data`, `retry` and comments."""

    def __init__(
        self,
        base_url: str,
        last_event_id: str | None = None,
        timeout: float = 30.0,
        *,
        token: str | None = None,
        ticket: str | None = None,
        source: str | None = None,
        context=None,
    ):
        url = urlsplit(base_url)
        source_address = (source, 0) if source else None
        if url.scheme == "https":
            self.conn = http.client.HTTPSConnection(
                url.hostname, url.port, timeout=timeout, context=context, source_address=source_address
            )
        else:
            self.conn = http.client.HTTPConnection(
                url.hostname, url.port, timeout=timeout, source_address=source_address
            )
        headers = {"Accept": "text/event-stream"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        self.conn.request("GET", "/api/events" + (f"?ticket={ticket}" if ticket else ""), headers=headers)
        self.resp = self.conn.getresponse()
        self.comments: list[str] = []
        self.retry: int | None = None

    def next(self) -> dict | None:
        """The next event as {"id", "event", "data"}; None when the stream ends."""
        event: dict = {"id": None, "event": "message", "data": []}
        while True:
            raw = self.resp.readline()
            if not raw:
                return None
            line = raw.decode("utf-8").rstrip("\r\n")
            if line == "":
                if event["data"]:
                    event["data"] = json.loads("\n".join(event["data"]))
                    return event
                continue
            if line.startswith(":"):
                self.comments.append(line[1:].strip())
                continue
            name, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if name == "data":
                event["data"].append(value)
            elif name == "id":
                event["id"] = value
            elif name == "event":
                event["event"] = value
            elif name == "retry":
                self.retry = int(value)

    def until(self, predicate, timeout: float = 30.0, what: str = "event") -> list[dict]:
        """Read events until `predicate(event)`; return all read (the last one matched)."""
        seen = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ev = self.next()
            assert ev is not None, f"stream ended waiting for {what}"
            seen.append(ev)
            if predicate(ev):
                return seen
        raise AssertionError(f"timed out waiting for {what}; got {[e['event'] for e in seen][-20:]}")

    def close(self) -> None:
        self.conn.close()
