"""The answer pack format (K5): round trip, golden files, and a clear refusal for every
changed byte, cut, foreign key or unknown version."""
from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from kiosk_agent.answer_pack import (ForeignKey, Malformed, NotAPack, PackError, SignatureInvalid, Truncated,
                                     UnsupportedVersion, build_pack, generate_bridge_key, generate_device_key,
                                     open_pack, peek_manifest, public_key_b64)
from kiosk_agent.answer_pack.model import MAGIC
from tests.contracts.packs import generate as golden

pytestmark = pytest.mark.req("K5")

GOLDEN = Path(golden.__file__).resolve().parent


def _events(attempt_id=41):
    return golden._chain(attempt_id, [
        {"writer": "w1", "seq": 1, "question_id": 7, "response": {"text": "秘密的答案 secret-answer", "format": "plain"},
         "client_time": 100.0, "epoch": 1, "at": 101.0},
        {"writer": "w1", "seq": 2, "question_id": 8, "response": {"choice": "a"}, "client_time": 102.0, "epoch": 1,
         "at": None},
    ])


def _manifest(**over):
    return {"exam_id": 3, "session_id": 5, "attempt_id": 41, "created": 1000.0, "seat": 4, "kiosk_id": 9, **over}


@pytest.fixture
def keys():
    return generate_bridge_key(), generate_device_key()


@pytest.fixture
def pack(keys):
    bridge, device = keys
    return build_pack(manifest=_manifest(), events=_events(), device_private_key=device,
                      bridge_public_key=bridge.public_key())


def regions(data: bytes) -> dict[str, int]:
    """Name → an offset inside that region of a version-1 pack."""
    (mlen,) = struct.unpack(">I", data[10:14])
    eph = 14 + mlen
    ct_len_at = eph + 44
    (ct_len,) = struct.unpack(">I", data[ct_len_at:ct_len_at + 4])
    return {"magic": 1, "version": 9, "manifest_len": 12, "manifest": 14 + mlen // 2, "eph_pub": eph + 5,
            "nonce": eph + 35, "ct_len": ct_len_at + 2, "ciphertext": ct_len_at + 4 + ct_len // 2,
            "tag": ct_len_at + 4 + ct_len - 3, "signature": len(data) - 10}


def test_round_trip(keys, pack):
    bridge, device = keys
    manifest, events = open_pack(pack, bridge)
    assert events == _events()
    assert manifest["writers"] == ["w1"] and manifest["event_count"] == 2
    assert manifest["heads"] == {"w1": {"seq": 2, "head": _events()[1]["hash"]}}
    assert manifest["device_key"] == public_key_b64(device)
    assert (manifest["seat"], manifest["kiosk_id"], manifest["attempt_id"]) == (4, 9, 41)
    assert peek_manifest(pack) == manifest


def test_the_kiosk_cannot_read_its_pack(keys, pack):
    """Only the manifest is in clear; the answers are sealed to the bridge's key."""
    assert b"secret-answer" not in pack and "秘密".encode() not in pack
    bridge, device = keys
    with pytest.raises(ForeignKey):  # the device key opens nothing
        open_pack(pack, {"whatever": generate_bridge_key()})


@pytest.mark.parametrize("name", ["v1-basic", "v1-empty"])
def test_golden_packs_are_rebuilt_byte_for_byte(name):
    assert golden.build(name) == (GOLDEN / f"{name}.epack").read_bytes()


@pytest.mark.parametrize("name", ["v1-basic", "v1-empty"])
def test_golden_packs_open_to_their_expected_content(name):
    keys = {k: bytes.fromhex(v) for k, v in json.loads((GOLDEN / "keys.json").read_text()).items()}
    manifest, events = open_pack((GOLDEN / f"{name}.epack").read_bytes(), keys["bridge_private"])
    expected = json.loads((GOLDEN / f"{name}.expected.json").read_text(encoding="utf-8"))
    assert manifest == expected["manifest"] and events == expected["events"]
    with pytest.raises(ForeignKey, match="another|not to this"):
        open_pack((GOLDEN / f"{name}.epack").read_bytes(), keys["other_bridge_private"])


@pytest.mark.parametrize("region, error", [
    ("magic", NotAPack), ("version", UnsupportedVersion), ("manifest_len", PackError), ("manifest", SignatureInvalid),
    ("eph_pub", SignatureInvalid), ("nonce", SignatureInvalid), ("ct_len", PackError),
    ("ciphertext", SignatureInvalid), ("tag", SignatureInvalid), ("signature", SignatureInvalid),
])
def test_a_flipped_byte_in_any_region_is_refused(keys, pack, region, error):
    bridge, _device = keys
    data = bytearray(pack)
    data[regions(pack)[region]] ^= 0x01
    with pytest.raises(error) as caught:
        open_pack(bytes(data), bridge)
    assert str(caught.value)  # a message saying what is wrong


def test_every_single_bit_flip_is_refused(keys, pack):
    bridge, _device = keys
    for offset in range(len(pack)):
        data = bytearray(pack)
        data[offset] ^= 0x80
        with pytest.raises(PackError):
            open_pack(bytes(data), bridge)


def test_every_truncation_is_refused_as_truncated(keys, pack):
    bridge, _device = keys
    for cut in range(1, len(pack)):
        with pytest.raises(PackError) as caught:
            open_pack(pack[:cut], bridge)
        if cut > len(MAGIC):
            assert isinstance(caught.value, Truncated), (cut, caught.value)
            assert "truncated" in str(caught.value)


def test_bytes_after_the_signature_are_refused(keys, pack):
    with pytest.raises(NotAPack, match="after the signature"):
        open_pack(pack + b"\0", keys[0])


@pytest.mark.parametrize("data", [b"", b"PK\x03\x04 a zip file", b"{\"events\": []}", bytes(300)])
def test_other_files_are_not_packs(keys, data):
    with pytest.raises(NotAPack, match="not an answer pack"):
        open_pack(data, keys[0])


def test_an_unknown_version_is_refused_with_the_version_named(keys, pack):
    data = pack[:8] + struct.pack(">H", 2) + pack[10:]
    with pytest.raises(UnsupportedVersion, match="version 2 is not supported"):
        open_pack(data, keys[0])


def test_a_pack_for_another_bridge_key_is_refused(keys, pack):
    with pytest.raises(ForeignKey, match="sealed to pack key"):
        open_pack(pack, generate_bridge_key())


def test_a_manifest_edited_and_resigned_with_the_old_device_key_name_fails(keys, pack):
    """Swapping the device key in the manifest (to a key the forger holds) breaks the
    signature of the original device; re-signing makes a pack of ANOTHER device, which the
    bridge checks against the registered kiosk (tests/delivery/test_pack_import.py)."""
    bridge, _device = keys
    forged = pack.replace(b'"seat":4', b'"seat":5')
    with pytest.raises(SignatureInvalid):
        open_pack(forged, bridge)


def test_build_refuses_a_broken_chain(keys):
    bridge, device = keys
    events = _events()
    events[1]["response"] = {"choice": "b"}  # content no longer matches its hash
    with pytest.raises(Malformed, match="chain"):
        build_pack(manifest=_manifest(), events=events, device_private_key=device,
                   bridge_public_key=bridge.public_key())


def test_build_needs_the_attempt_fields(keys):
    bridge, device = keys
    with pytest.raises(PackError, match="needs session_id"):
        build_pack(manifest={"exam_id": 1, "attempt_id": 2, "created": 1.0}, events=[], device_private_key=device,
                   bridge_public_key=bridge.public_key())


def _signed(keys, mutate):
    """A correctly signed and sealed pack whose manifest ``mutate`` changed after building
    (what a faulty agent could produce): the content checks, not the signature, catch it."""
    from kiosk_agent.answer_pack import codec

    bridge, device = keys
    manifest, events = open_pack(build_pack(manifest=_manifest(acked={"w1": {"seq": 1, "head": "h"}}),
                                            events=_events(), device_private_key=device,
                                            bridge_public_key=bridge.public_key()), bridge)
    mutate(manifest, events)
    return codec._seal(manifest, events, device, bridge.public_key(), None, None)


@pytest.mark.parametrize("mutate, fragment", [
    (lambda m, e: m.update(writers=[]), "do not match its manifest"),
    (lambda m, e: m.update(event_count=5), "do not match its manifest"),
    (lambda m, e: m["heads"]["w1"].update(seq=9), "do not match its manifest"),
    (lambda m, e: m.update(acked={"w1": {"seq": "1"}}), "manifest is invalid (acked)"),
    (lambda m, e: m.update(kiosk_id="12"), "manifest is invalid (kiosk_id)"),
    (lambda m, e: m.update(attempt_id=None), "manifest is invalid (attempt_id)"),
    (lambda m, e: e[1].update(response={"choice": "z"}), "hash does not match"),
    (lambda m, e: e[1].update(extra=1), "wrong shape"),
])
def test_signed_packs_with_bad_content_are_malformed(keys, mutate, fragment):
    with pytest.raises(Malformed) as caught:
        open_pack(_signed(keys, mutate), keys[0])
    assert fragment in str(caught.value)
