"""A candidate's identity document: the ID types we accept, checking a number (and, for the
18-character resident ID formats, that it agrees with the birth date and gender given),
and keeping the number out of the database in clear: a keyed digest to find duplicates, an
AES-GCM seal to read it back when a document must print it, and a mask to show on screen.

Numbers are normalised before anything else (``normalize``): full-width characters become
ASCII (NFKC: ``１１０１…`` and ``ｘ`` as typed with a Chinese IME), every space goes, letters
are upper-cased. ``check_id`` returns that form; ``id_digest``, ``seal_id`` and ``mask_id``
apply it too, so the same document always gives the same digest.

The two 18-character formats (PRC resident ID, HMT residence permit) are checked with
python-stdnum's ``stdnum.cn.ric`` (length, characters, check digit, birth date, area code);
this module never computes the check digit itself.
"""
from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import os
import re
import unicodedata

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from stdnum import exceptions as stdnum_errors
from stdnum.cn import ric

from bridge import clock
from bridge.errors import Invalid
from bridge.i18n import N_

# --- ID types: the codes are stored in the database, never rename one ---------------------
PRC_ID = "prc_id"  # 居民身份证
PASSPORT = "passport"  # 护照
HK_MACAO_PERMIT = "hk_macao_permit"  # 港澳居民来往内地通行证
TAIWAN_PERMIT = "taiwan_permit"  # 台湾居民来往大陆通行证
HMT_RESIDENCE = "hmt_residence"  # 港澳台居民居住证

ID_TYPES = (PRC_ID, PASSPORT, HK_MACAO_PERMIT, TAIWAN_PERMIT, HMT_RESIDENCE)

# Shown with ``_(label)`` where rendered.
ID_TYPE_LABELS = {
    PRC_ID: N_("PRC Resident Identity Card"),
    PASSPORT: N_("Passport"),
    HK_MACAO_PERMIT: N_("Mainland Travel Permit for Hong Kong and Macao Residents"),
    TAIWAN_PERMIT: N_("Mainland Travel Permit for Taiwan Residents"),
    HMT_RESIDENCE: N_("Residence Permit for Hong Kong, Macao and Taiwan Residents"),
}

# The types whose number is an 18-character resident identity number (GB 11643), which
# encodes the birth date and the gender.
RIC_TYPES = frozenset({PRC_ID, HMT_RESIDENCE})

# The area code of a Hong Kong, Macao and Taiwan residence permit number (港澳台居民居住证
# 申领发放办法, State Council General Office, 2018: "公民身份号码" with these address codes).
HMT_REGIONS = {"810000": "Hong Kong", "820000": "Macao", "830000": "Taiwan"}

MALE = "male"
FEMALE = "female"
GENDERS = (MALE, FEMALE)

# A birth year before this is a mistyped number, not a candidate.
EARLIEST_BIRTH_YEAR = 1900

# Resident ID birth dates are Chinese calendar days: "the future" is after today in China
# (UTC+8 all year, no daylight saving).
_CHINA = datetime.timezone(datetime.timedelta(hours=8))

_RIC_CHARS = re.compile(r"[0-9]{17}[0-9X]")
_PASSPORT_CHARS = re.compile(r"[A-Z0-9]+")
PASSPORT_MIN, PASSPORT_MAX = 5, 17
# 港澳居民来往内地通行证: "H" (Hong Kong) or "M" (Macao), then the holder's 8-digit lifelong
# number; cards issued before the 2012/2013 electronic card add a 2-digit renewal count
# (00, 01, ...), 11 characters in all. Source: Ministry of Public Security, Exit and Entry
# Administration, "港澳居民来往内地通行证号码规则" (published 2010-03-10, reported by
# China News Service the same day); the electronic card prints the 9-character form.
_HK_MACAO = re.compile(r"[HM]([0-9]{8}|[0-9]{10})")
# 台湾居民来往大陆通行证: since 2008-09-25 the number is the holder's 8-digit lifelong number
# ("一人一号、终身不变", China News Service, 2008-09-12); the 2015 electronic card keeps
# it (8 digits; MPS press briefing, Fuzhou, 2015-07-01). Booklets issued 1992-2008 printed
# the lifelong number, a 2-digit issue count and, in brackets, the issuing office's code
# (one letter or digit; Fujian, Jiangsu and Shanghai dropped the bracket from June 2006).
# Those booklets were valid five years, so all have expired; the old form is still
# accepted, as the number a candidate may have on file.
_TAIWAN = re.compile(r"[0-9]{8}|[0-9]{10}(\([A-Z0-9]{1,2}\))?")


def normalize(number: str | None) -> str:
    """``number`` as stored and compared: NFKC (full-width to ASCII), no whitespace, upper case."""
    text = unicodedata.normalize("NFKC", number or "")
    return "".join(text.split()).upper()


def check_id(id_type: str, number: str, *, birth_date: datetime.date | None,
             gender: str | None, today: datetime.date | None = None) -> str:
    """The normalised ``number`` if it is a well-formed number of ``id_type``; else ``Invalid``
    saying what to fix. For the resident ID formats, ``birth_date`` and ``gender`` (``"male"``,
    ``"female"``), when given, must be the ones the number encodes. ``today`` (the date in
    China by default) is for tests."""
    if id_type not in ID_TYPES:
        raise Invalid(N_("Choose an ID type from the list."))
    value = normalize(number)
    if not value:
        raise Invalid(N_("Enter the ID number."))
    if id_type in RIC_TYPES:
        return _check_ric(id_type, value, birth_date=birth_date, gender=gender,
                          today=today or clock.now().astimezone(_CHINA).date())
    if id_type == PASSPORT:
        return _check_passport(value)
    if id_type == HK_MACAO_PERMIT:
        return _check_hk_macao(value)
    return _check_taiwan(value)


def _check_ric(id_type: str, value: str, *, birth_date, gender, today: datetime.date) -> str:
    area_known = True
    try:
        ric.validate(value)
    except stdnum_errors.InvalidLength:
        raise Invalid(N_("The ID number must have 18 characters; the one entered has %(count)s."),
                      params={"count": len(value)}) from None
    except stdnum_errors.InvalidFormat:  # a non-digit among the first 17
        raise Invalid(N_("The ID number must be 17 digits followed by a digit or the letter X.")) from None
    except stdnum_errors.InvalidChecksum:
        if not _RIC_CHARS.fullmatch(value):  # stdnum reads any other last character as a wrong check digit
            raise Invalid(N_("The ID number must be 17 digits followed by a digit or the letter X.")) from None
        raise Invalid(N_("The last character of the ID number (its check digit) does not match the "
                         "other 17: compare every digit with the card.")) from None
    except (stdnum_errors.InvalidComponent, KeyError):
        # InvalidComponent: an impossible birth date or an unknown area code. KeyError: an
        # unknown county in a known province (119999, 440399): python-stdnum 2.2's
        # get_birth_place reads info['county'] that its area list then lacks.
        _encoded_birth_date(value)  # raises if it is the date
        area_known = False
    encoded = _encoded_birth_date(value)
    if encoded.year < EARLIEST_BIRTH_YEAR:
        raise Invalid(N_("Digits 7 to 14 of the ID number give a birth year before %(year)s: compare "
                         "them with the card."), params={"year": EARLIEST_BIRTH_YEAR})
    if encoded > today:
        raise Invalid(N_("Digits 7 to 14 of the ID number give a date of birth in the future (%(date)s): "
                         "compare them with the card."), params={"date": encoded.isoformat()})

    area = value[:6]
    if id_type == HMT_RESIDENCE:
        # stdnum's area list has no 830000 and dates 810000/820000 from 1997/1999 (the
        # handovers), so it refuses most permits: the permit's own rule decides here.
        if area not in HMT_REGIONS:
            raise Invalid(N_("A Hong Kong, Macao and Taiwan residence permit number starts with 810000 "
                             "(Hong Kong), 820000 (Macao) or 830000 (Taiwan): check the number, or "
                             "choose the ID type of the document you hold."))
    elif area in HMT_REGIONS:
        raise Invalid(N_("An ID number starting with %(area)s is on a residence permit for Hong Kong, "
                         "Macao and Taiwan residents: choose that ID type."), params={"area": area})
    elif not area_known:
        raise Invalid(N_("The first 6 digits of the ID number (%(area)s) are not an area code in use "
                         "for someone born in %(year)s: compare them with the card."),
                      params={"area": area, "year": encoded.year})

    if birth_date is not None:
        if isinstance(birth_date, datetime.datetime):
            birth_date = birth_date.date()
        if birth_date != encoded:
            raise Invalid(N_("The date of birth entered (%(given)s) differs from the one in the ID number "
                             "(%(encoded)s): correct whichever is wrong."),
                          params={"given": birth_date.isoformat(), "encoded": encoded.isoformat()})
    if gender is not None:
        if gender not in GENDERS:
            raise Invalid(N_("Choose the gender: male or female."))
        encoded_male = int(value[16]) % 2 == 1  # the 17th digit: odd for men, even for women
        if encoded_male and gender == FEMALE:
            raise Invalid(N_("The ID number is a man's (its 17th digit is odd) but the gender chosen is "
                             "female: correct whichever is wrong."))
        if not encoded_male and gender == MALE:
            raise Invalid(N_("The ID number is a woman's (its 17th digit is even) but the gender chosen is "
                             "male: correct whichever is wrong."))
    return value


def _encoded_birth_date(value: str) -> datetime.date:
    try:
        return ric.get_birth_date(value)
    except stdnum_errors.InvalidComponent:
        raise Invalid(N_("Digits 7 to 14 of the ID number (the date of birth, YYYYMMDD) are not a real "
                         "date: compare them with the card.")) from None


def _check_passport(value: str) -> str:
    if not _PASSPORT_CHARS.fullmatch(value):
        raise Invalid(N_("A passport number has only letters A-Z and digits 0-9."))
    if not PASSPORT_MIN <= len(value) <= PASSPORT_MAX:
        raise Invalid(N_("A passport number has %(min)s to %(max)s letters and digits; the one entered "
                         "has %(count)s."), params={"min": PASSPORT_MIN, "max": PASSPORT_MAX, "count": len(value)})
    if not any(ch.isdigit() for ch in value):
        raise Invalid(N_("A passport number has at least one digit."))
    return value


def _check_hk_macao(value: str) -> str:
    if value[0] not in "HM":
        raise Invalid(N_("A Mainland Travel Permit for Hong Kong and Macao Residents number starts with H "
                         "(Hong Kong) or M (Macao)."))
    if not _HK_MACAO.fullmatch(value):
        raise Invalid(N_("After the H or M, a Mainland Travel Permit for Hong Kong and Macao Residents number "
                         "has 8 digits (10 on older cards) and nothing else."))
    return value


def _check_taiwan(value: str) -> str:
    if not _TAIWAN.fullmatch(value):
        raise Invalid(N_("A Mainland Travel Permit for Taiwan Residents number is 8 digits (on older "
                         "booklets, 10 digits, perhaps followed by a letter or digit in brackets)."))
    return value


# --- keeping the number out of the database in clear ----------------------------------------
KEY_BYTES = 32
NONCE_BYTES = 12
_DIGEST_INFO = b"exambridge/registration/id-digest/v1"
_SEAL_INFO = b"exambridge/registration/id-seal/v1"
_SEAL_PREFIX = "v1."
_SEAL_AAD = b"exambridge/registration/id-number"


def derive_keys(secret: bytes | str) -> tuple[bytes, bytes]:
    """``(digest_key, seal_key)``: two independent 32-byte keys from one master secret
    (HKDF-SHA256, one ``info`` label each), so the digest key can never open a seal."""
    master = secret.encode("utf-8") if isinstance(secret, str) else bytes(secret)
    if not master:
        raise ValueError("the ID-number master secret is empty")

    def expand(info: bytes) -> bytes:
        return HKDF(algorithm=hashes.SHA256(), length=KEY_BYTES, salt=None, info=info).derive(master)

    return expand(_DIGEST_INFO), expand(_SEAL_INFO)


def id_digest(number: str, key: bytes) -> str:
    """HMAC-SHA256 (hex) of the normalised number: equal for the same document, useless
    without the key (an ID number space is small enough to enumerate)."""
    if not key:
        raise ValueError("id_digest needs a key (see derive_keys)")
    return hmac.new(key, normalize(number).encode("utf-8"), hashlib.sha256).hexdigest()


def _aead(key: bytes) -> AESGCM:
    if len(key) != KEY_BYTES:
        raise ValueError(f"the seal key must be {KEY_BYTES} bytes (see derive_keys), not {len(key)}")
    return AESGCM(key)


def seal_id(number: str, key: bytes) -> str:
    """The normalised number encrypted (AES-256-GCM, random 12-byte nonce) as ASCII text:
    ``v1.`` then base64url of nonce + ciphertext + tag, without padding."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = _aead(key).encrypt(nonce, normalize(number).encode("utf-8"), _SEAL_AAD)
    return _SEAL_PREFIX + base64.urlsafe_b64encode(nonce + sealed).rstrip(b"=").decode("ascii")


def unseal_id(sealed: str, key: bytes) -> str:
    """The number ``seal_id`` sealed with ``key``; ``Invalid`` if the text was altered, cut or
    sealed with another key."""
    aead = _aead(key)
    unreadable = Invalid(N_("The stored ID number cannot be read: it was altered or sealed with another key."))
    if not isinstance(sealed, str) or not sealed.startswith(_SEAL_PREFIX):
        raise unreadable
    body = sealed[len(_SEAL_PREFIX):]
    try:
        raw = base64.b64decode(body + "=" * (-len(body) % 4), altchars=b"-_", validate=True)
    except (binascii.Error, ValueError):
        raise unreadable from None
    if len(raw) < NONCE_BYTES + 16:  # a nonce and a GCM tag at least
        raise unreadable
    try:
        plain = aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], _SEAL_AAD)
    except InvalidTag:
        raise unreadable from None
    return plain.decode("utf-8")


def mask_id(number: str) -> str:
    """The normalised number with the middle hidden: the first 3 and last 4 characters shown
    (``110***********123X``), fewer for short numbers so at most half is ever shown."""
    value = normalize(number)
    shown = min(7, len(value) // 2)
    tail = min(4, (shown + 1) // 2)
    head = min(3, shown - tail)
    return value[:head] + "*" * (len(value) - head - tail) + (value[-tail:] if tail else "")
