"""Exports in chunks: pieces within the byte budget that never split a character, reassembling to
the exact text; later chunks from the text chunk 0 made; a bounded cache."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ohmpi.store.export_chunks import ChunkOutOfRange, ExportChunks, split_utf8


@settings(max_examples=300, deadline=None)
@given(text=st.text(max_size=400), size=st.integers(4, 64))
def test_pieces_fit_never_split_a_character_and_reassemble(text, size):
    data = text.encode("utf-8")
    pieces = split_utf8(data, size)
    assert "".join(pieces) == text
    assert all(len(p.encode("utf-8")) <= size for p in pieces)
    assert all(pieces) or pieces == [""]  # no empty piece, except the one of an empty text


def test_a_size_below_one_character_is_refused():
    with pytest.raises(ValueError, match="size must be >= 4"):
        split_utf8(b"abc", 3)


def export(text, notes=(), calls=None):
    def make():
        if calls is not None:
            calls.append(text)
        return {"text": text, "notes": list(notes), "measurements": 7, "filename": "S1.csv"}

    return make


def test_later_chunks_come_from_the_text_chunk_0_made():
    cache = ExportChunks(chunk_bytes=8)
    calls = []
    first = cache.chunk("k", 0, export("é" * 10, ["a note"], calls))  # 20 bytes: 3 chunks of ≤ 8
    assert first["chunks"] == 3 and first["bytes"] == 20 and first["notes"] == ["a note"]
    assert first["sha256"] == hashlib.sha256(("é" * 10).encode()).hexdigest()
    # meanwhile the data changed: the chunks after the first still come from the first text
    rest = [cache.chunk("k", i, export("changed", calls=calls)) for i in (1, 2)]
    assert "".join([first["text"], *(r["text"] for r in rest)]) == "é" * 10 and calls == ["é" * 10]
    assert {r["sha256"] for r in rest} == {first["sha256"]}
    # chunk 0 again makes it anew
    assert cache.chunk("k", 0, export("changed", calls=calls))["text"] == "changed" and len(calls) == 2


def test_an_evicted_export_is_made_again_and_a_chunk_past_the_end_says_how_many():
    cache = ExportChunks(max_bytes=10, chunk_bytes=8)
    cache.chunk("a", 0, export("x" * 9))
    cache.chunk("b", 0, export("y" * 9))  # over 10 bytes together: "a" goes
    assert len(cache) == 1 and cache.cached_bytes() == 9
    calls = []
    assert cache.chunk("a", 1, export("x" * 9, calls=calls))["text"] == "x" and calls == ["x" * 9]
    with pytest.raises(ChunkOutOfRange, match=r"chunk must be in 0\.\.1, got 2") as info:
        cache.chunk("a", 2, export("x" * 9))
    assert info.value.chunks == 2
    with pytest.raises(ValueError, match="chunk must be >= 0"):
        cache.chunk("a", -1, export("x"))


def test_one_export_larger_than_the_cache_is_still_kept():
    cache = ExportChunks(max_bytes=4, chunk_bytes=4)
    assert cache.chunk("big", 0, export("z" * 12))["chunks"] == 3
    assert cache.chunk("big", 2, export("other"))["text"] == "zzzz"  # from the cached text


def test_an_empty_export_is_one_empty_chunk():
    part = ExportChunks().chunk("e", 0, export(""))
    assert part["chunks"] == 1 and part["text"] == "" and part["bytes"] == 0
