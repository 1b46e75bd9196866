"""RFC 5880 §4.1 codec and the §6.8.6 checks that need no session."""

from __future__ import annotations

import struct

from hypothesis import given
from hypothesis import strategies as st

from bfd.packet import (
    AuthSection,
    ControlPacket,
    Diag,
    DropReason,
    EchoPacket,
    State,
    decode_control,
    decode_echo,
    encode_control,
    encode_echo,
)

# A packet FRR bfdd sent in the lab: Up, no diag, mult 3, 300 ms intervals, echo 50 ms.
FRR_UP = bytes.fromhex("20c0031800000001deadbeef000493e0000493e00000c350")


def packet(**changes: object) -> ControlPacket:
    fields: dict[str, object] = {
        "state": State.DOWN,
        "diag": Diag.NONE,
        "detect_mult": 3,
        "my_discriminator": 7,
        "your_discriminator": 0,
        "desired_min_tx_us": 1_000_000,
        "required_min_rx_us": 300_000,
        "required_min_echo_rx_us": 0,
    }
    fields.update(changes)
    return ControlPacket(**fields)  # type: ignore[arg-type]


def test_decode_known_bytes() -> None:
    assert decode_control(FRR_UP) == ControlPacket(
        state=State.UP,
        diag=Diag.NONE,
        detect_mult=3,
        my_discriminator=1,
        your_discriminator=0xDEADBEEF,
        desired_min_tx_us=300_000,
        required_min_rx_us=300_000,
        required_min_echo_rx_us=50_000,
    )


def test_encode_known_bytes() -> None:
    data = encode_control(packet(state=State.INIT, diag=Diag.CONTROL_DETECTION_TIME_EXPIRED, poll=True))
    assert data.hex() == "21a003180000000700000000000f4240000493e000000000"


def test_reserved_diag_kept_as_int() -> None:
    decoded = decode_control(encode_control(packet(diag=30)))
    assert isinstance(decoded, ControlPacket)
    assert decoded.diag == 30
    assert not isinstance(decoded.diag, Diag)


def test_auth_section_round_trip() -> None:
    p = packet(auth=AuthSection(auth_type=1, data=bytes([5]) + b"secret"))
    data = encode_control(p)
    assert data[3] == 24 + 2 + 7
    assert decode_control(data) == p


def with_byte(data: bytes, index: int, value: int) -> bytes:
    return data[:index] + bytes([value]) + data[index + 1 :]


def test_drop_reasons() -> None:
    good = encode_control(packet())
    assert decode_control(good[:23]) is DropReason.TRUNCATED
    assert decode_control(with_byte(good, 0, 0x40)) is DropReason.BAD_VERSION
    assert decode_control(with_byte(good, 3, 23)) is DropReason.LENGTH_TOO_SMALL
    assert decode_control(with_byte(good, 3, 25)) is DropReason.LENGTH_EXCEEDS_PAYLOAD
    assert decode_control(with_byte(good, 2, 0)) is DropReason.ZERO_DETECT_MULT
    assert decode_control(with_byte(good, 1, 0x41)) is DropReason.MULTIPOINT
    assert decode_control(encode_control(packet(my_discriminator=0))) is DropReason.ZERO_MY_DISCRIMINATOR
    assert decode_control(encode_control(packet(poll=True, final=True))) is DropReason.POLL_AND_FINAL
    # A bit with Length 24: below the 26-byte minimum for authenticated packets.
    assert decode_control(with_byte(good, 1, 0x44)) is DropReason.LENGTH_TOO_SMALL
    authed = encode_control(packet(auth=AuthSection(1, b"\x05abc")))
    assert decode_control(with_byte(authed, 25, 1)) is DropReason.BAD_AUTH_SECTION
    assert decode_control(with_byte(authed, 25, 4)) is DropReason.BAD_AUTH_SECTION


def test_trailing_bytes_beyond_length_ignored() -> None:
    assert decode_control(encode_control(packet()) + b"\0\0") == packet()


def test_echo_round_trip_and_drops() -> None:
    echo = EchoPacket(my_discriminator=9, sequence=2**40, sent_at_us=123)
    data = encode_echo(echo)
    assert len(data) == 24
    assert decode_echo(data) == echo
    assert decode_echo(data[:23]) is DropReason.ECHO_MALFORMED
    assert decode_echo(with_byte(data, 0, 2)) is DropReason.ECHO_MALFORMED
    assert decode_echo(encode_echo(EchoPacket(0, 1, 1))) is DropReason.ECHO_MALFORMED


u32 = st.integers(0, 2**32 - 1)
control_packets = st.builds(
    ControlPacket,
    state=st.sampled_from(State),
    diag=st.sampled_from(Diag),
    detect_mult=st.integers(1, 255),
    my_discriminator=st.integers(1, 2**32 - 1),
    your_discriminator=u32,
    desired_min_tx_us=u32,
    required_min_rx_us=u32,
    required_min_echo_rx_us=u32,
    poll=st.booleans(),
    final=st.just(False),
    control_plane_independent=st.booleans(),
    demand=st.booleans(),
    auth=st.none() | st.builds(AuthSection, auth_type=st.integers(0, 255), data=st.binary(max_size=28)),
)


@given(control_packets)
def test_control_round_trip(p: ControlPacket) -> None:
    assert decode_control(encode_control(p)) == p


@given(st.binary(max_size=80))
def test_random_bytes_never_raise(data: bytes) -> None:
    result = decode_control(data)
    assert isinstance(result, ControlPacket | DropReason)
    if isinstance(result, ControlPacket):
        # Whatever decodes re-encodes to the same bytes up to Length.
        assert encode_control(result) == data[: data[3]]
    echo = decode_echo(data)
    assert isinstance(echo, EchoPacket | DropReason)


@given(st.binary(min_size=24, max_size=24))
def test_mandatory_section_fields(data: bytes) -> None:
    data = with_byte(with_byte(data, 0, (1 << 5) | (data[0] & 0x1F)), 3, 24)
    result = decode_control(data)
    if isinstance(result, ControlPacket):
        fields = struct.unpack("!BBBBIIIII", data)
        assert result.detect_mult == fields[2]
        assert result.my_discriminator == fields[4]
        assert result.required_min_echo_rx_us == fields[8]
