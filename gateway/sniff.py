"""What a file is, from its first bytes, never from the name or content type a client gave.

Images: PNG, JPEG, WebP. Videos: ISO base media files (MP4, MOV, M4V, 3GP: one box
structure), and how long one lasts, from its movie header (`moov` → `mvhd`).

A tool that works on a video the client sends (Enhance Video) is priced per second of it,
so the length must come from the file itself, not from what the client says. The reader walks
the top-level boxes only (`ftyp`, `mdat`, `moov`, ...; a `moov` after a large `mdat` is found
by skipping it), never reads past the data, and answers None for anything it cannot vouch for.
"""

from __future__ import annotations

import struct

MAX_BOXES = 64  # a real file has a handful at the top level


def image_type(data: bytes) -> str | None:
    """image/png, image/jpeg or image/webp, or None for anything else."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return None


def is_video(data: bytes) -> bool:
    """An ISO base media file: it opens with an `ftyp` box."""
    return len(data) >= 12 and data[4:8] == b"ftyp"


def video_type(data: bytes) -> str | None:
    """video/quicktime for a MOV (major brand `qt  `), video/mp4 for the other ISO files."""
    if not is_video(data):
        return None
    return "video/quicktime" if data[8:12] == b"qt  " else "video/mp4"


def _boxes(data: bytes, start: int, end: int):
    """(type, payload start, payload end) of each box in data[start:end]."""
    offset, seen = start, 0
    while offset + 8 <= end and seen < MAX_BOXES:
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:  # a 64-bit size follows the type
            if offset + 16 > end:
                return
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:  # the box runs to the end of the file
            size = end - offset
        if size < header or offset + size > end:
            return
        yield kind, offset + header, offset + size
        offset += size
        seen += 1


def video_duration_ms(data: bytes) -> int | None:
    """The movie's length in milliseconds (rounded up), or None when the file does not say."""
    if not is_video(data):
        return None
    for kind, start, end in _boxes(data, 0, len(data)):
        if kind != b"moov":
            continue
        for inner, body, body_end in _boxes(data, start, end):
            if inner != b"mvhd" or body_end - body < 4:
                continue
            version = data[body]
            if version == 1 and body_end - body >= 32:
                timescale, duration = struct.unpack_from(">IQ", data, body + 20)
            elif version == 0 and body_end - body >= 20:
                timescale, duration = struct.unpack_from(">II", data, body + 12)
            else:
                return None
            unknown = duration in (0xFFFFFFFF, 0xFFFFFFFFFFFFFFFF)
            if timescale == 0 or duration == 0 or unknown:
                return None
            return -(-duration * 1000 // timescale)
        return None
    return None


def movie(duration_ms: int, *, timescale: int = 1000, payload: bytes = b"") -> bytes:
    """A minimal file of that length (`ftyp`, `moov` with `mvhd`, `mdat`): what tests and the
    simulator send as an input video. Not playable: it has no tracks."""
    ftyp = struct.pack(">I4s4sI", 24, b"ftyp", b"isom", 0x200) + b"isommp41"
    duration = duration_ms * timescale // 1000
    mvhd_body = struct.pack(">B3xIIII", 0, 0, 0, timescale, duration) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(mvhd_body), b"mvhd") + mvhd_body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    mdat = struct.pack(">I4s", 8 + len(payload), b"mdat") + payload
    return ftyp + moov + mdat
