"""read_text: size limit, encodings teachers' files come in, binary refused."""
import codecs

import pytest

from bridge.bank.model import FormatError
from bridge.bank.safety import MediaError, decode_media, media_name, read_text

pytestmark = pytest.mark.req("C9")


def test_utf8_with_and_without_bom():
    assert read_text("题目 é".encode()) == "题目 é"
    assert read_text(codecs.BOM_UTF8 + "题目".encode()) == "题目"


def test_utf16_with_bom_both_byte_orders():
    text = "::T::天空 {=蓝}\r\n"
    assert read_text(codecs.BOM_UTF16_LE + text.encode("utf-16-le")) == text
    assert read_text(codecs.BOM_UTF16_BE + text.encode("utf-16-be")) == text


def test_utf16_fixture(bank_file):
    assert read_text(bank_file("utf16_windows.gift")).startswith("::颜色::天空是什么颜色？")


def test_gbk_chinese_text_is_decoded(bank_file):
    assert read_text(bank_file("gbk_chinese.gift")).startswith("::颜色::天空是什么颜色？")


def test_latin1_text_is_not_mistaken_for_gbk():
    with pytest.raises(FormatError, match="not UTF-8 text .* save it as UTF-8"):
        read_text("Qu'est-ce que l'été ? Ça dépend.".encode("latin-1"))


def test_over_the_limit_names_limit_and_size():
    data = b"x" * (12 * 1024 * 1024)  # generated here, never committed
    with pytest.raises(FormatError) as err:
        read_text(data)
    assert "12.0 MiB" in str(err.value) and "limit of 10.0 MiB" in str(err.value)


def test_custom_limit():
    with pytest.raises(FormatError, match="100 bytes, more than the limit of 10 bytes"):
        read_text(b"a" * 100, max_bytes=10)
    assert read_text(b"a" * 10, max_bytes=10) == "a" * 10


def test_png_renamed_is_refused_as_an_image(bank_file):
    with pytest.raises(FormatError, match="the file is a PNG image, not a question file"):
        read_text(bank_file("not_xml.xml"))


def test_nul_bytes_are_binary():
    with pytest.raises(FormatError, match="binary data"):
        read_text(b"<quiz>\x00\x01</quiz>")


def test_control_characters_are_binary():
    with pytest.raises(FormatError, match="control characters"):
        read_text(b"abc\x1b[0mdef")


def test_utf32_is_refused():
    with pytest.raises(FormatError, match="UTF-32"):
        read_text(codecs.BOM_UTF32_LE + "x".encode("utf-32-le"))


def test_bad_utf16_after_bom():
    with pytest.raises(FormatError, match="UTF-16"):
        read_text(codecs.BOM_UTF16_LE + b"\x00\xd8a")  # lone surrogate


def test_media_base64_is_strict():
    assert decode_media("a.png", "YWJj\nZA==") == b"abcd"
    with pytest.raises(MediaError, match="not valid base64"):
        decode_media("a.png", "YWJj*ZA==")
    with pytest.raises(MediaError, match="larger than"):
        decode_media("big.png", "QUFB" * 1000, max_bytes=100)


@pytest.mark.parametrize("name", ["../x.png", "/etc/passwd", "a/../../b", "", "a//b"])
def test_media_names_stay_inside(name):
    with pytest.raises(MediaError):
        media_name(name)


@pytest.mark.req("C9")
@pytest.mark.parametrize("data, mime", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "image/png"),
    (b"\xff\xd8\xff\xdb", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"RIFF\x00\x00\x00\x00WEBPVP8L", "image/webp"),
    (b"<svg xmlns='http://www.w3.org/2000/svg'/>", None),
    (b"<html><script>alert(1)</script>", None),
    (b"\xef\xbb\xbf<svg/>", None),
    (b"RIFF\x00\x00\x00\x00WAVEfmt ", None),
    (b"GIF8", None),
    (b"", None),
])
def test_images_are_told_by_their_bytes(data, mime):
    from bridge.bank.safety import sniff_image

    assert sniff_image(data) == mime
