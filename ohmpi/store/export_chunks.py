"""A survey export served in chunks: the text split on UTF-8 character boundaries into pieces
small enough for one bus reply, cached so the chunks after the first come from the very text
the first one was cut from (one `sha256` for the whole file, whatever is stored meanwhile)."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from collections.abc import Callable, Hashable

CHUNK_BYTES = 512 * 1024  # export text per reply: far below the bus's 1 MiB message limit
CACHE_BYTES = 32 << 20


class ChunkOutOfRange(ValueError):
    """A chunk index past the last chunk of the export (`chunks` says how many there are)."""

    def __init__(self, chunk: int, chunks: int):
        super().__init__(f"chunk must be in 0..{chunks - 1}, got {chunk}")
        self.chunk, self.chunks = chunk, chunks


def split_utf8(data: bytes, size: int = CHUNK_BYTES) -> list[str]:
    """`data` (UTF-8) as pieces of at most `size` bytes, never splitting a character; [""] when empty."""
    if size < 4:
        raise ValueError(f"size must be >= 4 bytes (one UTF-8 character), got {size}")
    pieces, start = [], 0
    while start < len(data):
        end = min(start + size, len(data))
        while end < len(data) and (data[end] & 0xC0) == 0x80:  # a continuation byte: back to its start
            end -= 1
        pieces.append(data[start:end].decode("utf-8"))
        start = end
    return pieces or [""]


class ExportChunks:
    """Exports cut into chunks, the most recent kept up to `max_bytes` of text (at least one)."""

    def __init__(self, max_bytes: int = CACHE_BYTES, chunk_bytes: int = CHUNK_BYTES):
        self.max_bytes = max_bytes
        self.chunk_bytes = chunk_bytes
        self._entries: OrderedDict = OrderedDict()

    def __len__(self) -> int:
        return len(self._entries)

    def cached_bytes(self) -> int:
        return sum(e["bytes"] for e in self._entries.values())

    def chunk(self, key: Hashable, chunk: int, make: Callable[[], dict]) -> dict:
        """Chunk `chunk` of the export `key`: {chunk, chunks, text, sha256, bytes, measurements,
        notes, filename}. Chunk 0 always makes the text anew with `make()` (a dict with text,
        notes, measurements, filename, as ``Store.export_info`` returns); a later chunk comes
        from the cached text, or a new one when it was evicted. ChunkOutOfRange past the end."""
        if chunk < 0:
            raise ValueError(f"chunk must be >= 0, got {chunk}")
        entry = self._entries.get(key) if chunk > 0 else None
        if entry is None:
            entry = self._make(key, make)
        chunks = len(entry["pieces"])
        if chunk >= chunks:
            raise ChunkOutOfRange(chunk, chunks)
        return {
            "filename": entry["filename"],
            "chunk": chunk,
            "chunks": chunks,
            "text": entry["pieces"][chunk],
            "sha256": entry["sha256"],
            "bytes": entry["bytes"],
            "measurements": entry["measurements"],
            "notes": entry["notes"],
        }

    def _make(self, key: Hashable, make: Callable[[], dict]) -> dict:
        info = make()
        data = info["text"].encode("utf-8")
        entry = {
            "pieces": split_utf8(data, self.chunk_bytes),
            "notes": info["notes"],
            "filename": info["filename"],
            "measurements": info["measurements"],
            "sha256": hashlib.sha256(data).hexdigest(),
            "bytes": len(data),
        }
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and self.cached_bytes() > self.max_bytes:
            self._entries.popitem(last=False)
        return entry
