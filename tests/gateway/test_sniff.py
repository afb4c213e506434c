"""What we read of uploaded files: image types and a video's length, from the bytes."""

from __future__ import annotations

import struct

from gateway import sniff
from simulator.openai_images import solid_png


def test_a_movies_length_comes_from_its_header_rounded_up_to_the_millisecond():
    assert sniff.video_duration_ms(sniff.movie(3200)) == 3200
    assert sniff.video_duration_ms(sniff.movie(4000, timescale=90_000)) == 4000
    assert sniff.video_duration_ms(sniff.movie(1334, timescale=3)) == 1334  # 4 ticks of 1/3 s: up


def test_a_moov_after_a_large_mdat_and_64_bit_sizes_are_found():
    movie = sniff.movie(5000)
    ftyp, rest = movie[:24], movie[24:]
    moov_size = struct.unpack(">I", rest[:4])[0]
    moov, mdat = rest[:moov_size], rest[moov_size:]
    big_mdat = struct.pack(">I4sQ", 1, b"mdat", 16 + 100_000) + bytes(100_000)
    assert sniff.video_duration_ms(ftyp + big_mdat + moov) == 5000
    assert sniff.video_duration_ms(ftyp + mdat + moov) == 5000


def test_a_version_1_header_is_read():
    body = struct.pack(">B3xQQIQ", 1, 0, 0, 600, 600 * 7) + bytes(80)
    mvhd = struct.pack(">I4s", 8 + len(body), b"mvhd") + body
    moov = struct.pack(">I4s", 8 + len(mvhd), b"moov") + mvhd
    ftyp = struct.pack(">I4s4sI", 16, b"ftyp", b"qt  ", 0)
    assert sniff.video_duration_ms(ftyp + moov) == 7000
    assert sniff.video_type(ftyp + moov) == "video/quicktime"


def test_files_that_do_not_say_how_long_they_are_give_none():
    movie = sniff.movie(3000)
    assert sniff.video_duration_ms(movie[:40]) is None  # cut inside moov
    assert sniff.video_duration_ms(movie[:24]) is None  # no moov at all
    assert sniff.video_duration_ms(sniff.movie(0)) is None  # zero length
    assert sniff.video_duration_ms(sniff.movie(3000, timescale=0)) is None
    lying = bytearray(movie)
    struct.pack_into(">I", lying, 24, 2**31)  # a moov that claims more than the file holds
    assert sniff.video_duration_ms(bytes(lying)) is None
    assert sniff.video_duration_ms(b"RIFF\x00\x00\x00\x00WEBPVP8 ") is None
    assert sniff.video_duration_ms(b"") is None


def test_image_types_come_from_the_bytes_not_the_name():
    assert sniff.image_type(solid_png(8, 8, b"\x00\x00\x00")) == "image/png"
    assert sniff.image_type(b"\xff\xd8\xff\xe0" + bytes(12)) == "image/jpeg"
    assert sniff.image_type(b"RIFF\x00\x00\x00\x00WEBPVP8 ") == "image/webp"
    assert sniff.image_type(b"RIFF\x00\x00\x00\x00WAVEfmt ") is None  # a RIFF, not a WebP
    assert sniff.image_type(sniff.movie(1000)) is None
    assert sniff.video_type(sniff.movie(1000)) == "video/mp4"


def test_the_simulators_videos_say_how_long_they_are():
    from simulator.openai_videos import video_mp4

    assert sniff.video_duration_ms(video_mp4("sora-2", "A cat", "8", "720x1280")) == 8000
