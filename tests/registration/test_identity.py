"""R1: the ID number on a registration: each ID type's format, the resident ID's check digit,
area code and birth date, agreement with the birth date and gender entered, and the number
kept out of the database in clear (keyed digest, AES-GCM seal, mask).

Resident ID numbers here are made up: a known area code (110101 Beijing Dongcheng, 440305
Shenzhen Nanshan, 659005 Beitun), a chosen date and sequence, and the check digit computed
by python-stdnum, so no real person's number appears."""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac

import pytest
from stdnum.cn import ric

from bridge import clock
from bridge.errors import Invalid
from bridge.services.registration import identity
from bridge.services.registration.identity import (FEMALE, HK_MACAO_PERMIT, HMT_RESIDENCE, MALE, PASSPORT,
                                                   PRC_ID, TAIWAN_PERMIT, check_id, derive_keys, id_digest,
                                                   mask_id, seal_id, unseal_id)

pytestmark = pytest.mark.req("R1")

TODAY = dt.date(2025, 6, 1)


def make_ric(area: str = "110101", birth: str = "19900101", seq: str = "123") -> str:
    """A well-formed resident ID number: stdnum computes the check digit (the last character
    of what it is given is ignored)."""
    body = area + birth + seq
    assert len(body) == 17
    return body + ric.calc_check_digit(body + "0")


def with_check(number: str, digit: str) -> str:
    return number[:-1] + digit


def wrong_check(number: str) -> str:
    """The same number with any other check character."""
    for candidate in "0123456789X":
        if candidate != number[-1]:
            return with_check(number, candidate)
    raise AssertionError("unreachable")


def check(id_type, number, *, birth_date=None, gender=None, today=TODAY):
    return check_id(id_type, number, birth_date=birth_date, gender=gender, today=today)


def refused(id_type, number, *, birth_date=None, gender=None, today=TODAY) -> Invalid:
    with pytest.raises(Invalid) as caught:
        check(id_type, number, birth_date=birth_date, gender=gender, today=today)
    err = caught.value
    text = err.translated()  # every %(name)s placeholder has its value
    assert "%(" not in text
    normalised = identity.normalize(number)
    if len(normalised) >= 8:
        assert normalised not in text  # a refusal never echoes the number
    return err


# --- the ID types ------------------------------------------------------------------------
def test_the_five_id_types_have_stable_codes_and_a_label_each():
    assert identity.ID_TYPES == ("prc_id", "passport", "hk_macao_permit", "taiwan_permit", "hmt_residence")
    assert set(identity.ID_TYPE_LABELS) == set(identity.ID_TYPES)
    assert len(set(identity.ID_TYPE_LABELS.values())) == 5


def test_an_unknown_type_or_an_empty_number_is_refused():
    assert "ID type" in refused("driving_licence", "12345678").message
    assert refused(PRC_ID, "   ").message == "Enter the ID number."
    assert refused(PASSPORT, None).message == "Enter the ID number."


# --- PRC resident ID: accepted -------------------------------------------------------------
def test_a_well_formed_resident_id_is_accepted_and_normalised():
    beijing = make_ric("110101", "19900101", "123")
    shenzhen = make_ric("440305", "20010615", "246")
    assert check(PRC_ID, beijing) == beijing
    assert check(PRC_ID, shenzhen, birth_date=dt.date(2001, 6, 15), gender=FEMALE) == shenzhen
    assert check(PRC_ID, beijing, birth_date=dt.date(1990, 1, 1), gender=MALE) == beijing
    spaced = f" {beijing[:6]} {beijing[6:14]}\t{beijing[14:]} "
    assert check(PRC_ID, spaced) == beijing


def test_a_lower_case_or_full_width_x_check_digit_is_upper_cased():
    number = next(n for n in (make_ric(seq=f"{s:03d}") for s in range(200)) if n.endswith("X"))
    assert check(PRC_ID, number.lower()) == number
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in number.lower())  # as typed with a Chinese IME
    assert check(PRC_ID, full_width) == number


def test_a_birth_date_given_as_a_datetime_is_compared_by_day():
    number = make_ric(birth="19900101")
    assert check(PRC_ID, number, birth_date=dt.datetime(1990, 1, 1, 8, 30)) == number


# --- PRC resident ID: refused, each with its own message -------------------------------------
def test_a_number_of_the_wrong_length_says_how_many_characters_it_has():
    number = make_ric()
    err = refused(PRC_ID, number[:-1])
    assert "18 characters" in err.message and err.params == {"count": 17}
    assert refused(PRC_ID, number + "1").params == {"count": 19}


def test_a_letter_among_the_first_17_digits_is_a_format_error():
    number = make_ric()
    err = refused(PRC_ID, number[:5] + "A" + number[6:])
    assert "17 digits followed by a digit or the letter X" in err.message


def test_a_last_character_other_than_a_digit_or_x_is_a_format_error_not_a_check_digit_one():
    err = refused(PRC_ID, with_check(make_ric(), "Y"))
    assert "17 digits followed by a digit or the letter X" in err.message
    assert "check digit" not in err.message


def test_a_wrong_check_digit_is_refused():
    number = make_ric("440305", "19900101", "123")
    for bad in {wrong_check(number), with_check(number, "X" if number[-1] != "X" else "0")}:
        assert "check digit" in refused(PRC_ID, bad).message
    typo = number[:8] + str((int(number[8]) + 1) % 10) + number[9:]  # one birth digit mistyped
    assert "check digit" in refused(PRC_ID, typo).message


def test_an_unknown_area_code_is_refused_with_the_code():
    err = refused(PRC_ID, make_ric("999999", "19900101"))
    assert "area code" in err.message
    assert err.params == {"area": "999999", "year": 1990}


@pytest.mark.parametrize("area", ["119999", "440399", "100000", "000000"])
def test_an_unknown_county_in_a_known_province_is_refused_not_a_crash(area):
    # python-stdnum 2.2 raises a bare KeyError for the first two
    err = refused(PRC_ID, make_ric(area, "19900101"))
    assert "area code" in err.message and err.params["area"] == area


def test_an_area_code_not_yet_created_in_the_birth_year_is_refused():
    # 659005 (Beitun) exists from 2011 in stdnum's area list
    assert check(PRC_ID, make_ric("659005", "20150101")) == make_ric("659005", "20150101")
    err = refused(PRC_ID, make_ric("659005", "19900101"))
    assert "area code" in err.message and err.params == {"area": "659005", "year": 1990}


@pytest.mark.parametrize("birth", ["19900230", "19901301", "19900100", "00000101"])
def test_an_impossible_birth_date_is_refused(birth):
    err = refused(PRC_ID, make_ric("110101", birth))
    assert "not a real date" in err.message


def test_a_birth_year_before_1900_is_refused():
    err = refused(PRC_ID, make_ric("110101", "18991231"))
    assert "before %(year)s" in err.message and err.params == {"year": 1900}
    assert check(PRC_ID, make_ric("110101", "19000101")) == make_ric("110101", "19000101")


def test_a_birth_date_in_the_future_is_refused_and_today_is_not():
    assert check(PRC_ID, make_ric(birth="20250601"), today=TODAY) == make_ric(birth="20250601")
    err = refused(PRC_ID, make_ric(birth="20250602"), today=TODAY)
    assert "in the future" in err.message and err.params == {"date": "2025-06-02"}


def test_the_future_is_judged_by_the_service_clock_by_default():
    far = make_ric(birth="29990101")
    with pytest.raises(Invalid, match="in the future"):
        check_id(PRC_ID, far, birth_date=None, gender=None)
    next_year = clock.now().astimezone(dt.timezone(dt.timedelta(hours=8))).year + 1
    soon = make_ric(birth=f"{next_year}0101")
    with pytest.raises(Invalid, match="in the future"):
        check_id(PRC_ID, soon, birth_date=None, gender=None)
    previous = clock.offset()
    clock.set_offset(previous + 2 * 366 * 86400)  # two years on, that birth date has passed
    try:
        assert check_id(PRC_ID, soon, birth_date=None, gender=None) == soon
    finally:
        clock.set_offset(previous)


def test_a_birth_date_that_differs_from_the_number_is_refused():
    number = make_ric(birth="19900101")
    err = refused(PRC_ID, number, birth_date=dt.date(1990, 1, 2))
    assert "date of birth entered" in err.message
    assert err.params == {"given": "1990-01-02", "encoded": "1990-01-01"}


def test_a_gender_that_differs_from_the_17th_digit_is_refused_both_ways():
    man = make_ric(seq="123")  # 17th digit 3: odd
    woman = make_ric(seq="124")  # 4: even
    assert check(PRC_ID, man, gender=MALE) == man
    assert check(PRC_ID, woman, gender=FEMALE) == woman
    as_woman = refused(PRC_ID, man, gender=FEMALE)
    as_man = refused(PRC_ID, woman, gender=MALE)
    assert "a man's" in as_woman.message and "a woman's" in as_man.message
    assert as_woman.message != as_man.message


def test_a_gender_other_than_male_or_female_is_refused():
    assert "male or female" in refused(PRC_ID, make_ric(), gender="M").message


def test_a_birth_mismatch_is_reported_before_a_gender_mismatch():
    err = refused(PRC_ID, make_ric(seq="123"), birth_date=dt.date(1991, 1, 1), gender=FEMALE)
    assert "date of birth entered" in err.message


def test_a_residence_permit_number_under_the_resident_id_type_names_the_right_type():
    for area in ("810000", "820000", "830000"):
        err = refused(PRC_ID, make_ric(area, "20000101"))
        assert "choose that ID type" in err.message and err.params == {"area": area}


def test_each_resident_id_refusal_has_its_own_message():
    number = make_ric()
    messages = {
        refused(PRC_ID, number[:-1]).message,  # length
        refused(PRC_ID, "A" + number[1:]).message,  # characters
        refused(PRC_ID, wrong_check(number)).message,  # check digit
        refused(PRC_ID, make_ric("999999")).message,  # area
        refused(PRC_ID, make_ric(birth="19900230")).message,  # impossible date
        refused(PRC_ID, make_ric(birth="18991231")).message,  # too early
        refused(PRC_ID, make_ric(birth="20300101")).message,  # future
        refused(PRC_ID, number, birth_date=dt.date(1990, 1, 2)).message,
        refused(PRC_ID, number, gender=FEMALE).message,
        refused(PRC_ID, make_ric(seq="124"), gender=MALE).message,
        refused(PRC_ID, make_ric("810000", "20000101")).message,
    }
    assert len(messages) == 11


# --- HMT residence permit ---------------------------------------------------------------------
@pytest.mark.parametrize("area", ["810000", "820000", "830000"])
def test_a_residence_permit_number_is_accepted_for_any_birth_year(area):
    # stdnum alone refuses 830000 and dates 810000/820000 from the handovers: a Hong Kong
    # resident born in 1985 holds such a permit all the same
    number = make_ric(area, "19850315", "124")
    assert check(HMT_RESIDENCE, number, birth_date=dt.date(1985, 3, 15), gender=FEMALE) == number


@pytest.mark.parametrize("area", ["110101", "440305", "840000", "810001", "710000"])
def test_a_residence_permit_number_must_start_with_810000_820000_or_830000(area):
    err = refused(HMT_RESIDENCE, make_ric(area, "19900101"))
    assert "starts with 810000" in err.message


def test_a_residence_permit_number_gets_the_resident_id_checks():
    number = make_ric("810000", "19900101", "123")
    assert "check digit" in refused(HMT_RESIDENCE, wrong_check(number)).message
    assert "18 characters" in refused(HMT_RESIDENCE, number[:-2]).message
    assert "not a real date" in refused(HMT_RESIDENCE, make_ric("820000", "19900231")).message
    assert "in the future" in refused(HMT_RESIDENCE, make_ric("830000", "20300101")).message
    assert "date of birth entered" in refused(HMT_RESIDENCE, number, birth_date=dt.date(1990, 1, 2)).message
    assert "a man's" in refused(HMT_RESIDENCE, number, gender=FEMALE).message


# --- passport ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("E12345678", "E12345678"),
    ("g1234567", "G1234567"),
    (" ab 12 3 ", "AB123"),
    ("12345", "12345"),
    ("A" * 16 + "1", "A" * 16 + "1"),
])
def test_a_passport_number_of_5_to_17_letters_and_digits_is_accepted(raw, expected):
    assert check(PASSPORT, raw) == expected


def test_a_passport_number_is_refused_for_length_characters_or_no_digit():
    short = refused(PASSPORT, "E123")
    assert "5 to 17" in short.translated() and short.params["count"] == 4
    assert refused(PASSPORT, "E" + "1" * 17).params["count"] == 18
    assert "letters A-Z and digits" in refused(PASSPORT, "E-1234567").message
    assert "letters A-Z and digits" in refused(PASSPORT, "É1234567").message
    assert "at least one digit" in refused(PASSPORT, "ABCDEFGH").message


def test_birth_date_and_gender_are_not_cross_checked_for_other_types():
    assert check(PASSPORT, "E12345678", birth_date=dt.date(1990, 1, 1), gender=FEMALE) == "E12345678"
    assert check(HK_MACAO_PERMIT, "H12345678", birth_date=dt.date(2099, 1, 1), gender=MALE) == "H12345678"
    assert check(TAIWAN_PERMIT, "12345678", birth_date=dt.date(1850, 1, 1), gender=FEMALE) == "12345678"


# --- Hong Kong and Macao permit -------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("H12345678", "H12345678"),
    ("M87654321", "M87654321"),
    ("h 1234 5678", "H12345678"),
    ("H1234567801", "H1234567801"),  # older card: 8-digit number + renewal count
    ("Ｍ１２３４５６７８００", "M1234567800"),
])
def test_a_hong_kong_or_macao_permit_number_is_accepted(raw, expected):
    assert check(HK_MACAO_PERMIT, raw) == expected


def test_a_hong_kong_or_macao_permit_number_must_start_with_h_or_m():
    for bad in ("A12345678", "12345678", "C1234567801"):
        assert "starts with H" in refused(HK_MACAO_PERMIT, bad).message


@pytest.mark.parametrize("bad", ["H1234567", "H123456789", "H12345678901", "H12345678A", "M1234-5678", "H"])
def test_a_hong_kong_or_macao_permit_number_needs_8_or_10_digits(bad):
    assert "8 digits (10 on older cards)" in refused(HK_MACAO_PERMIT, bad).message


# --- Taiwan permit ---------------------------------------------------------------------------------
@pytest.mark.parametrize("raw, expected", [
    ("12345678", "12345678"),
    ("1234 5678", "12345678"),
    ("1234567801", "1234567801"),  # old booklet: + issue count
    ("1234567801(b)", "1234567801(B)"),  # + issuing office in brackets
    ("1234567801（B）", "1234567801(B)"),  # full-width brackets
])
def test_a_taiwan_permit_number_is_accepted(raw, expected):
    assert check(TAIWAN_PERMIT, raw) == expected


@pytest.mark.parametrize("bad", ["1234567", "123456789", "12345678901", "A1234567", "T12345678",
                                 "12345678(B)", "1234567801()", "1234567801(ABC)", "12345678AB"])
def test_a_taiwan_permit_number_is_refused_unless_8_digits_or_the_old_booklet_form(bad):
    assert "is 8 digits" in refused(TAIWAN_PERMIT, bad).message


# --- keys, digest, seal ---------------------------------------------------------------------------
def test_derive_keys_gives_two_distinct_stable_32_byte_keys():
    digest_key, seal_key = derive_keys("master secret")
    assert len(digest_key) == len(seal_key) == 32
    assert digest_key != seal_key
    assert derive_keys(b"master secret") == (digest_key, seal_key)
    other = derive_keys("another secret")
    assert other[0] != digest_key and other[1] != seal_key
    assert b"master secret" not in digest_key + seal_key
    with pytest.raises(ValueError):
        derive_keys("")


def test_the_digest_is_a_keyed_hmac_of_the_normalised_number():
    key, _ = derive_keys("k1")
    number = next(n for n in (make_ric(seq=f"{s:03d}") for s in range(200)) if n.endswith("X"))
    digest = id_digest(number, key)
    assert digest == hmac.new(key, number.encode(), hashlib.sha256).hexdigest()
    assert len(digest) == 64 and int(digest, 16) >= 0
    assert id_digest(" " + number.lower(), key) == digest  # the same document, typed differently
    assert id_digest(number, key) == digest  # stable
    assert id_digest(number, derive_keys("k2")[0]) != digest  # key-dependent
    assert id_digest(make_ric(seq="124"), key) != digest
    assert number not in digest
    assert hashlib.sha256(number.encode()).hexdigest() != digest  # not a bare hash
    with pytest.raises(ValueError):
        id_digest(number, b"")


def test_a_sealed_number_round_trips_and_hides_the_number():
    _, key = derive_keys("master secret")
    number = make_ric()
    sealed = seal_id(number, key)
    assert unseal_id(sealed, key) == number
    assert number not in sealed and number[:6] not in sealed
    assert sealed.startswith("v1.")
    assert set(sealed[3:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    again = seal_id(number, key)
    assert again != sealed  # a fresh nonce each time
    assert unseal_id(again, key) == number
    assert unseal_id(seal_id(" h1234 5678", key), key) == "H12345678"  # sealed normalised


def _flip(sealed: str, index: int) -> str:
    body = sealed[3:]
    raw = bytearray(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    raw[index] ^= 0x01
    return "v1." + base64.urlsafe_b64encode(bytes(raw)).rstrip(b"=").decode()


def test_a_tampered_sealed_value_is_refused_with_a_clear_message():
    _, key = derive_keys("master secret")
    sealed = seal_id(make_ric(), key)
    raw_length = len(base64.urlsafe_b64decode(sealed[3:] + "=" * (-len(sealed[3:]) % 4)))
    for index in (0, 11, 12, raw_length - 1):  # nonce, ciphertext, tag
        with pytest.raises(Invalid) as caught:
            unseal_id(_flip(sealed, index), key)
        assert "cannot be read" in caught.value.message
    for broken in (sealed[:-4], sealed + "AA", "v2." + sealed[3:], sealed[3:], "v1.", "v1.!!!!", "", "v1.AAAA"):
        with pytest.raises(Invalid, match="cannot be read"):
            unseal_id(broken, key)


def test_a_value_sealed_with_another_key_is_refused():
    digest_key, key = derive_keys("master secret")
    sealed = seal_id(make_ric(), key)
    with pytest.raises(Invalid, match="sealed with another key"):
        unseal_id(sealed, derive_keys("another secret")[1])
    with pytest.raises(Invalid, match="sealed with another key"):
        unseal_id(sealed, digest_key)  # the digest key is not the seal key


def test_a_seal_key_of_the_wrong_size_is_a_programming_error():
    with pytest.raises(ValueError, match="32 bytes"):
        seal_id("E12345678", b"short")
    with pytest.raises(ValueError, match="32 bytes"):
        unseal_id("v1.AAAA", b"short")


# --- masking ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("number, masked", [
    ("110101199001011237", "110***********1237"),
    ("H1234567801", "H1******801"),
    ("H12345678", "H1*****78"),
    ("12345678", "12****78"),
    ("E1234", "E***4"),
    ("AB", "*B"),
    ("A", "*"),
    ("", ""),
    (" h1234 5678", "H1*****78"),
])
def test_mask_keeps_the_first_3_and_last_4_or_fewer(number, masked):
    assert mask_id(number) == masked


def test_mask_never_shows_more_than_half_and_keeps_the_length():
    for length in range(0, 40):
        number = "".join(str(i % 10) for i in range(length))
        masked = mask_id(number)
        assert len(masked) == length
        shown = sum(1 for c in masked if c != "*")
        assert shown <= length // 2
        assert shown == min(7, length // 2)
        if length >= 14:
            assert masked == number[:3] + "*" * (length - 7) + number[-4:]
