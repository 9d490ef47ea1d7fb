"""The small pure rules of the domain: password policy, uid links, the HLS ladder, stream names."""

from __future__ import annotations

import base64
import dataclasses
import re

import pytest

from tests.fakes import fake_media_playlist
from videoflix.domain.accounts.model import decode_uid, encode_uid, hash_token
from videoflix.domain.accounts.passwords import (
    COMMON_PASSWORDS,
    ENTIRELY_NUMERIC,
    MAX_PASSWORD_LENGTH,
    MIN_PASSWORD_LENGTH,
    TOO_COMMON,
    TOO_LONG,
    TOO_SHORT,
    TOO_SIMILAR,
    password_problems,
)
from videoflix.domain.media.model import (
    MediaError,
    MediaLimits,
    ProbeResult,
    check_limits,
    check_rendition,
    plan_ladder,
    playlist_duration,
)
from videoflix.domain.media.service import transcode_timeout
from videoflix.domain.media.streaming import is_stream_file

# ------------------------------------------------------------------------------------------ passwords (S5, S28)


@pytest.mark.parametrize(
    "password",
    [
        "Tr0ub4dor&3",
        "x" * 3 + "correct horse",
        "Ünïcødé-passwörd",
        "a" * MIN_PASSWORD_LENGTH + "!",
        "Q" + "w9!" * 21 + "z",  # 65 characters (S5: at least 64 accepted)
        "k7#" * (MAX_PASSWORD_LENGTH // 3) + "k",  # right at the maximum
    ],
)
def test_s5_acceptable_passwords_pass_the_policy(password: str) -> None:
    assert len(password) <= MAX_PASSWORD_LENGTH
    assert password_problems(password, "someone@example.com") == []


def test_s5_minimum_length_is_counted_as_typed() -> None:
    assert password_problems("k7#Vq2!", None) == [TOO_SHORT]  # 7 characters
    assert TOO_SHORT == "This password is too short. It must contain at least 8 characters."
    assert password_problems("k7#Vq2!x", None) == []  # 8 characters
    assert password_problems(" k7#Vq2 ", None) == []  # spaces count, nothing is trimmed


def test_s5_password_longer_than_the_maximum_is_refused() -> None:
    assert password_problems("k" * (MAX_PASSWORD_LENGTH + 1)) == [TOO_LONG]


def test_s28_the_common_password_list_is_djangos_20000() -> None:
    assert len(COMMON_PASSWORDS) == 19_729  # Django's 20,000 lines hold 19,729 different passwords
    assert {"123456", "password", "qwerty", "aaaaaaaa", "iloveyou"} <= COMMON_PASSWORDS


@pytest.mark.parametrize(
    "password", ["aaaaaaaa", "password", "PassWord123", "qwerty123", "1q2w3e4r", "iloveyou", "Sunshine1", " dragon "]
)
def test_s28_common_passwords_are_refused_in_any_case(password: str) -> None:
    assert TOO_COMMON in password_problems(password)
    assert TOO_COMMON == "This password is too common."


def test_s28_all_digit_passwords_are_refused() -> None:
    assert password_problems("73920461185") == [ENTIRELY_NUMERIC]
    assert password_problems("12345678") == [TOO_COMMON, ENTIRELY_NUMERIC]  # every rule it breaks


@pytest.mark.parametrize(
    "password",
    ["jane.doe@example.com", "JANE.DOE", "jane.doe", "JaneDoe@Example", "example.com!", "doe.jane1", "Jane.Doe.2"],
)
def test_s28_passwords_too_similar_to_the_email_or_a_part_of_it_are_refused(password: str) -> None:
    assert TOO_SIMILAR in password_problems(password, "jane.doe@example.com")


@pytest.mark.parametrize("password", ["correct-Horse-battery-9", "Doe-Family-Vacation-Pics", "j4n3!travels"])
def test_s28_passwords_that_share_a_little_with_the_email_pass(password: str) -> None:
    assert password_problems(password, "jane.doe@example.com") == []


def test_s28_similarity_is_skipped_for_a_password_ten_times_longer_than_a_part() -> None:
    """As Django: such a pair can never reach the maximum similarity, so the comparison is not run."""
    assert password_problems("com-" + "x7!" * 20, "jane.doe@example.com") == []


# ------------------------------------------------------------------------------------------ uid in links


@pytest.mark.parametrize(("user_id", "uidb64"), [(1, "MQ"), (12, "MTI"), (123, "MTIz"), (1000, "MTAwMA")])
def test_uid_is_encoded_like_djangos_urlsafe_base64_of_the_decimal_id(user_id: int, uidb64: str) -> None:
    assert encode_uid(user_id) == uidb64
    assert encode_uid(user_id) == base64.urlsafe_b64encode(str(user_id).encode()).decode().rstrip("=")
    assert "=" not in encode_uid(user_id)


@pytest.mark.parametrize("user_id", [1, 7, 42, 999, 123456, 2**53])
def test_uid_round_trips(user_id: int) -> None:
    assert decode_uid(encode_uid(user_id)) == user_id


@pytest.mark.parametrize(
    "uidb64",
    [
        "",
        "!!!!",
        "M",  # not valid base64
        base64.urlsafe_b64encode(b"abc").decode(),  # not a number
        base64.urlsafe_b64encode(b"-1").decode().rstrip("="),  # negative
        base64.urlsafe_b64encode(b"1.5").decode().rstrip("="),
        base64.urlsafe_b64encode("\uff11\uff12".encode()).decode().rstrip("="),  # full-width digits: not ASCII
        base64.urlsafe_b64encode(b"\xff\xfe").decode().rstrip("="),
        base64.urlsafe_b64encode(b"9" * 19).decode().rstrip("="),  # absurdly large
        "MTI" * 20,  # too long to be an id
    ],
)
def test_malformed_uids_decode_to_none(uidb64: str) -> None:
    assert decode_uid(uidb64) is None


def test_token_hash_is_hex_sha256_and_differs_per_token() -> None:
    assert len(hash_token("a")) == 64
    assert hash_token("a") != hash_token("b")
    assert hash_token("a") == hash_token("a")


# ------------------------------------------------------------------------------------------ HLS ladder


def _probe(width: int, height: int, duration: float = 60.0) -> ProbeResult:
    return ProbeResult(duration=duration, width=width, height=height, fps=25.0, has_audio=True, size_bytes=1)


def _sizes(width: int, height: int) -> list[tuple[str, int, int]]:
    return [(r.name, r.width, r.height) for r in plan_ladder(_probe(width, height))]


def test_ladder_of_a_1080p_source_has_all_three_rungs() -> None:
    assert _sizes(1920, 1080) == [("480p", 854, 480), ("720p", 1280, 720), ("1080p", 1920, 1080)]


def test_ladder_of_a_720p_source_stops_at_720p() -> None:
    assert _sizes(1280, 720) == [("480p", 854, 480), ("720p", 1280, 720)]


def test_ladder_of_a_4k_source_is_capped_at_1080p() -> None:
    assert _sizes(3840, 2160) == [("480p", 854, 480), ("720p", 1280, 720), ("1080p", 1920, 1080)]


def test_ladder_never_upscales_between_rungs() -> None:
    # 600p: 480p fits, 720p would be an upscale
    assert _sizes(1066, 600) == [("480p", 852, 480)]


def test_portrait_video_stays_portrait() -> None:
    assert _sizes(1080, 1920) == [("480p", 480, 854), ("720p", 720, 1280), ("1080p", 1080, 1920)]


@pytest.mark.parametrize(("width", "height"), [(640, 360), (426, 240), (360, 640), (320, 200)])
def test_source_below_480p_gets_one_480p_rung_at_its_own_size(width: int, height: int) -> None:
    assert _sizes(width, height) == [("480p", width, height)]


@pytest.mark.parametrize(
    ("width", "height"),
    [(1920, 1080), (1280, 720), (1080, 1920), (1440, 1080), (1000, 700), (720, 576), (1918, 1078), (2560, 1080)],
)
def test_every_rung_has_even_dimensions_keeps_the_shape_and_is_no_larger_than_the_source(
    width: int, height: int
) -> None:
    for rung in plan_ladder(_probe(width, height)):
        assert rung.width % 2 == 0 and rung.height % 2 == 0
        assert rung.width <= width and rung.height <= height
        assert (rung.height > rung.width) == (height > width)
        assert abs(rung.width / rung.height - width / height) < 0.01


def test_odd_source_dimensions_give_even_rungs() -> None:
    (rung,) = plan_ladder(_probe(639, 359))
    assert rung.width % 2 == 0 and rung.height % 2 == 0


def test_rungs_get_increasing_bitrates() -> None:
    rates = [r.video_kbps for r in plan_ladder(_probe(1920, 1080))]
    assert rates == sorted(rates) and len(set(rates)) == 3


# ------------------------------------------------------------------------------------------ rendition check


def test_complete_playlist_of_the_right_length_passes() -> None:
    text = fake_media_playlist(61.5)
    assert playlist_duration(text) == pytest.approx(61.5)
    check_rendition("720p", text, 61.5)


def test_rendition_within_tolerance_passes() -> None:
    check_rendition("480p", fake_media_playlist(9.2), 10.0)  # within 1 s
    check_rendition("480p", fake_media_playlist(115.0), 120.0)  # within 5 %


def test_missing_rendition_is_reported() -> None:
    with pytest.raises(MediaError, match="480p is missing"):
        check_rendition("480p", None, 10.0)


def test_playlist_without_endlist_is_incomplete() -> None:
    with pytest.raises(MediaError, match="720p is incomplete"):
        check_rendition("720p", fake_media_playlist(10.0, ended=False), 10.0)


def test_truncated_rendition_names_both_durations() -> None:
    with pytest.raises(MediaError) as caught:
        check_rendition("1080p", fake_media_playlist(30.0), 60.0)
    assert "30.00s" in caught.value.reason and "60.00s" in caught.value.reason


def test_empty_finished_playlist_is_refused() -> None:
    with pytest.raises(MediaError):
        check_rendition("480p", "#EXTM3U\n#EXT-X-ENDLIST\n", 0.0)


def test_transcode_timeout_grows_with_the_duration() -> None:
    assert transcode_timeout(None) == 600
    assert transcode_timeout(0) == 600
    assert transcode_timeout(10.01) == 600 + 201
    assert transcode_timeout(3600) > transcode_timeout(60)


def test_s23_transcode_timeout_is_capped() -> None:
    assert transcode_timeout(3600, limit=7200) == 7200
    assert transcode_timeout(60, limit=7200) == 600 + 1200
    assert transcode_timeout(3600) == MediaLimits().max_transcode_seconds < 600 + 20 * 3600


def _source(**changes: float) -> ProbeResult:
    values: dict[str, float] = dict(duration=60.0, width=1920, height=1080, fps=30.0, size_bytes=5_000_000)
    values.update(changes)
    return ProbeResult(has_audio=True, container="mov", **values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("source", "limits", "reason"),
    [
        (_source(duration=7200.0, size_bytes=10**9), MediaLimits(max_duration_seconds=3600), "2:00:00, longer"),
        (_source(width=7680, height=4320), MediaLimits(), "33177600 pixels (7680x4320)"),
        (_source(fps=240.0), MediaLimits(), "240.00 fps, more than the maximum of 120 fps"),
        (_source(duration=3600.0, size_bytes=7_000), MediaLimits(), "claims 1:00:00 of video in 7000 bytes"),
    ],
    ids=["duration", "pixels", "frame-rate", "bytes-per-second"],
)
def test_s23_a_source_over_a_limit_is_refused_naming_it(source: ProbeResult, limits: MediaLimits, reason: str) -> None:
    with pytest.raises(MediaError, match=re.escape(reason)):
        check_limits(source, limits)


def test_s23_the_stored_picture_counts_even_when_its_pixel_aspect_shrinks_the_displayed_one() -> None:
    squeezed = dataclasses.replace(_source(width=640, height=360), coded_pixels=16384 * 16384)
    with pytest.raises(MediaError, match="pixels per frame"):
        check_limits(squeezed, MediaLimits())


def test_s23_ordinary_sources_pass_every_limit() -> None:
    check_limits(_source(), MediaLimits())
    check_limits(_source(width=3840, height=2160, fps=59.94), MediaLimits())
    check_limits(_source(duration=0.5, size_bytes=20_000), MediaLimits())


# ------------------------------------------------------------------------------------------ stream names (S19)


@pytest.mark.parametrize(
    ("resolution", "name"),
    [(None, "index.m3u8"), ("480p", "index.m3u8"), ("720p", "000.ts"), ("1080p", "123456.ts"), ("480p", "7.ts")],
)
def test_s19_playlists_and_segments_are_stream_files(resolution: str | None, name: str) -> None:
    assert is_stream_file(resolution, name)


@pytest.mark.parametrize(
    ("resolution", "name"),
    [
        (None, "000.ts"),  # no segments at the top level
        (None, "../index.m3u8"),
        ("360p", "index.m3u8"),  # not a whitelisted resolution
        ("../480p", "index.m3u8"),
        ("480p/..", "index.m3u8"),
        ("", "index.m3u8"),
        ("480P", "index.m3u8"),
        ("480p", ".."),
        ("480p", "../index.m3u8"),
        ("480p", "..%2f000.ts"),
        ("480p", "%2e%2e"),
        ("480p", "000.ts/../../secret"),
        ("480p", "/etc/passwd"),
        ("480p", "000.ts\x00.jpg"),
        ("480p", "000.ts\n"),
        ("480p", "000.TS"),
        ("480p", "1234567.ts"),  # more than six digits
        ("480p", "-1.ts"),
        ("480p", ".ts"),
        ("480p", "000.ts.bak"),
        ("480p", "index.m3u8.tmp"),
        ("480p", "thumbnail.jpg"),
        ("480p", "source"),
        ("480p", "\u0660\u0660\u0660.ts"),  # Arabic-Indic digits
    ],
)
def test_s19_anything_else_is_not_a_stream_file(resolution: str | None, name: str) -> None:
    assert not is_stream_file(resolution, name)
