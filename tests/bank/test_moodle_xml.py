"""Moodle XML: a real-looking 4.x export, hostile files, and export → parse round trips."""
import base64
from dataclasses import replace

import pytest

from bridge.bank import moodle_xml
from bridge.bank.model import Blank, Choice, FormatError, Item, Media, Skipped

pytestmark = pytest.mark.req("C9")

PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAIAAAACCAIAAAD91JpzAAAAEElEQVR4nGP4z8AARAwQCgAf7gP9i18U1AAAAABJRU5ErkJggg==")
UNIT = ("Default for 高等数学",)
UNIT1 = ("Default for 高等数学", "Unit 1: Basics")


@pytest.fixture
def report(bank_file):
    return moodle_xml.parse(bank_file("moodle_4x_export.xml"))


def by_name(report, name):
    (item,) = [i for i in report.items if i.name == name]
    return item


@pytest.mark.req("C4")
def test_every_supported_type_is_imported(report):
    assert report.format == "moodle_xml"
    assert [(i.qtype, i.name) for i in report.items] == [
        ("single", "极限 single"),
        ("multiple", "Primes (multiple)"),
        ("truefalse", "Earth is flat"),
        ("fill", "首都"),
        ("fill", "Exact number"),
        ("essay", "Essay: 论述"),
        ("upload", "Operation task: spreadsheet"),
        ("fill", "Cloze: capitals"),
    ]


@pytest.mark.req("C4")
def test_single_choice_with_image_tex_tags_and_feedback(report):
    assert by_name(report, "极限 single") == Item(
        qtype="single", name="极限 single",
        stem_html=r'<p>求极限 \(\lim_{x\to 0} \frac{\sin x}{x}\) 的值。</p>'
                  '<p><img src="@@PLUGINFILE@@/graph.png" alt="graph" width="2" height="2"></p>',
        points=2.0,
        choices=(Choice("<p>1</p>", 1.0, "<p>正确</p>"), Choice("<p>0</p>", 0.0),
                 Choice(r"<p>\(\infty\)</p>", 0.0)),
        shuffle=True, category=UNIT, tags=("极限", "chapter-1"),
        general_feedback_html=r"<p>重要极限：$$\lim_{x\to 0}\frac{\sin x}{x}=1$$</p>",
        media=(Media("graph.png", "image/png", PNG),),
        source="question 1 '极限 single' (line 15)")


@pytest.mark.req("C4")
def test_multiple_choice_partial_and_negative_fractions(report):
    item = by_name(report, "Primes (multiple)")
    assert item.choices == (Choice("2", 0.3333333), Choice("3", 0.3333333),
                            Choice("5", 0.3333334), Choice("9", -1.0, "9 = 3 &times; 3"))
    assert item.shuffle is False and item.category == UNIT and item.tags == ()


@pytest.mark.req("C4")
def test_truefalse_and_auto_format_line_breaks(report):
    item = by_name(report, "Earth is flat")
    assert (item.correct, item.category) == (False, UNIT1)
    assert item.stem_html == "<p>The Earth is flat.<br>Think about it.</p>"


@pytest.mark.req("C4")
def test_shortanswer_becomes_one_blank_plain_text_is_escaped(report):
    item = by_name(report, "首都")
    assert item.blanks == (Blank(("北京", "Beijing"), case_sensitive=True),)
    assert item.stem_html == "<p>中国的首都是哪座城市？ (use &lt;city&gt; names)</p>"
    assert item.points == 1.5


@pytest.mark.req("C4")
def test_exact_numerical_becomes_text_match_and_says_so(report):
    item = by_name(report, "Exact number")
    assert item.blanks == (Blank(("6.0", "6")),)
    assert item.source.endswith("[numerical: graded as exact text]")
    assert item.stem_html == ("<p>How many <strong>sides</strong> has a hexagon?</p>"
                              "<p>Answer with <code>digits</code>.</p>")


@pytest.mark.req("C4")
def test_essay_and_upload(report):
    essay = by_name(report, "Essay: 论述")
    assert (essay.points, essay.upload_extensions, essay.upload_max_bytes) == (10.0, (), None)
    upload = by_name(report, "Operation task: spreadsheet")
    assert upload.upload_extensions == (".xlsx", ".ods", ".csv", ".xls")
    assert (upload.upload_max_bytes, upload.points) == (2097152, 20.0)


@pytest.mark.req("C4")
def test_cloze_with_text_blanks_becomes_fill(report):
    item = by_name(report, "Cloze: capitals")
    assert item.stem_html == "<p>The capital of France is [[1]], of Germany [[2]] and 2+2 = [[3]].</p>"
    assert item.blanks == (Blank(("Paris",)), Blank(("Berlin",), case_sensitive=True),
                           Blank(("4",)))


def test_unsupported_and_invalid_questions_are_skipped_with_line(report):
    assert report.skipped == (
        Skipped("question 6 'Pi with tolerance' (line 233)",
                "the numerical answer 3.14 has a tolerance of ±0.01; ExamBridge marks numbers "
                "as exact text, so set the tolerance to 0 or make it a fill-in-the-blank "
                "question with the accepted answers"),
        Skipped("question 10 'Cloze with a drop-down' (line 337)",
                "blank 1 is a MULTICHOICE sub-question; only Cloze questions whose blanks are "
                "all SHORTANSWER or NUMERICAL can be imported (as fill-in-the-blank)"),
        Skipped("question 11 'Match capitals' (line 353)",
                "type matching is not supported; ExamBridge imports multichoice, truefalse, "
                "shortanswer, numerical, essay, cloze questions"),
        Skipped("question 12 'Read this first' (line 377)",
                "type description is not supported; ExamBridge imports multichoice, "
                "truefalse, shortanswer, numerical, essay, cloze questions"),
        Skipped("question 13 'Broken: two right answers' (line 394)",
                "a single-choice question needs exactly one fully correct answer (found 2)"),
    )


@pytest.mark.parametrize("qtype", ["gapselect", "ddwtos", "calculated", "ordering", "random",
                                   "randomsamatch", "someplugin"])
def test_other_types_are_not_supported(qtype):
    data = (f'<quiz><question type="{qtype}"><name><text>N</text></name>'
            '<questiontext format="html"><text>x</text></questiontext></question></quiz>')
    report = moodle_xml.parse(data.encode())
    assert report.items == ()
    assert report.skipped[0].reason.startswith(f"type {qtype} is not supported")
    assert report.skipped[0].where == "question 1 'N' (line 1)"


def test_gbk_file_with_encoding_declaration(bank_file, report):
    assert moodle_xml.parse(bank_file("gbk_declared.xml")) == report


def _question(body: str, qtype: str = "multichoice") -> bytes:
    return (f'<quiz>\n<question type="{qtype}"><name><text>Q</text></name>'
            f'<questiontext format="html"><text>Stem</text>{body}</questiontext>'
            '<answer fraction="100"><text>A</text></answer>'
            '<answer fraction="0"><text>B</text></answer></question>\n</quiz>').encode()


def test_media_over_5_mib_skips_only_that_question():
    big = base64.b64encode(b"\x00" * (5 * 1024 * 1024 + 1)).decode()
    report = moodle_xml.parse(_question(f'<file name="big.png" path="/" encoding="base64">{big}</file>'))
    assert report.items == ()
    assert report.skipped == (Skipped("question 1 'Q' (line 2)",
                                      "the embedded file 'big.png' is larger than 5.0 MiB; "
                                      "use a smaller image"),)


def test_bad_base64_and_hostile_media_names_skip_the_question():
    bad = moodle_xml.parse(_question('<file name="a.png" path="/" encoding="base64">@@@@</file>'))
    assert "not valid base64" in bad.skipped[0].reason
    climb = moodle_xml.parse(_question('<file name="x.png" path="/../../" encoding="base64">YQ==</file>'))
    assert "not a plain file name" in climb.skipped[0].reason


def test_media_in_a_subfolder_keeps_its_path():
    png = base64.b64encode(PNG).decode()
    report = moodle_xml.parse(_question(f'<file name="x.png" path="/img/" encoding="base64">{png}</file>'))
    assert report.items[0].media == (Media("img/x.png", "image/png", PNG),)


SVG = b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(document.cookie)"><script>alert(1)</script></svg>'
HTML = b"<!doctype html><script>fetch('http://127.0.0.1:8765/')</script>"


@pytest.mark.parametrize("name, data", [
    ("fig.svg", SVG),
    ("fig.html", HTML),
    ("fig.png", HTML),                  # the name says image; the bytes say otherwise
    ("fig.png", b"\x89PNG"),            # a PNG's first bytes only
    ("fig.pdf", b"%PDF-1.7\n"),
    ("fig.xml", b"<?xml version='1.0'?><x/>"),
])
def test_only_raster_images_are_imported_the_question_is_skipped_with_the_reason(name, data):
    """Issue 13: a bank's fig.html or fig.svg was stored and served inline on the bridge's origin."""
    encoded = base64.b64encode(data).decode()
    report = moodle_xml.parse(_question(f'<file name="{name}" path="/" encoding="base64">{encoded}</file>'))
    assert report.items == ()
    (skipped,) = report.skipped
    assert skipped.where == "question 1 'Q' (line 2)"
    assert f"the embedded file {name!r} is not a PNG, JPEG, GIF or WebP image" in skipped.reason


@pytest.mark.parametrize("name, data, mime", [
    ("a.png", PNG, "image/png"),
    ("a.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF", "image/jpeg"),
    ("a.gif", b"GIF89a\x01\x00\x01\x00", "image/gif"),
    ("a.webp", b"RIFF\x1a\x00\x00\x00WEBPVP8 ", "image/webp"),
    ("picture", PNG, "image/png"),        # no extension: the bytes decide
    ("a.gif", PNG, "image/png"),          # a misnamed image is stored with its real type
])
def test_raster_images_are_imported_with_the_type_their_bytes_show(name, data, mime):
    encoded = base64.b64encode(data).decode()
    report = moodle_xml.parse(_question(f'<file name="{name}" path="/" encoding="base64">{encoded}</file>'))
    assert report.skipped == ()
    assert report.items[0].media == (Media(name, mime, data),)


@pytest.mark.parametrize("name, message", [
    ("xxe.xml", "declares a DOCTYPE or entities"),
    ("billion_laughs.xml", "declares a DOCTYPE or entities"),
    ("parameter_entity.xml", "declares a DOCTYPE or entities"),
])
def test_hostile_dtds_are_refused_without_expansion(bank_file, name, message):
    with pytest.raises(FormatError, match=message) as err:
        moodle_xml.parse(bank_file(name))
    assert "root:" not in str(err.value) and "lollol" not in str(err.value)


def test_truncated_xml_names_line_and_column(bank_file):
    with pytest.raises(FormatError, match=r"not well-formed XML: unclosed token at line 54, "
                                          r"column 7\."):
        moodle_xml.parse(bank_file("truncated.xml"))


def test_undefined_entity_is_a_parse_error():
    with pytest.raises(FormatError, match="undefined entity at line 1"):
        moodle_xml.parse(b"<quiz><question type='essay'>&secret;</question></quiz>")


def test_html_root_is_refused(bank_file):
    with pytest.raises(FormatError, match="top element is <html>, but a Moodle XML question "
                                          "file starts with <quiz>"):
        moodle_xml.parse(bank_file("html_root.xml"))


def test_png_renamed_to_xml_is_refused(bank_file):
    with pytest.raises(FormatError, match="PNG image"):
        moodle_xml.parse(bank_file("not_xml.xml"))


def test_oversized_file_is_refused_before_parsing():
    data = b"<quiz>" + b" " * (12 * 1024 * 1024) + b"</quiz>"
    with pytest.raises(FormatError, match="more than the limit of 10.0 MiB"):
        moodle_xml.parse(data)


ROUND_TRIP = (
    Item("single", "S & <s>", "<p>Pick ]]> one</p>", points=2.5,
         choices=(Choice("<b>A</b>", 1.0, "fb ]]>"), Choice("B", 0.0), Choice("C", -0.3333333)),
         shuffle=False, category=("Unit 1", "a/b"), tags=("t1", "标签"),
         general_feedback_html="<p>gf</p>"),
    Item("multiple", "M", "<p>Pick</p>",
         choices=(Choice("A", 0.5), Choice("B", 0.5), Choice("C", -1.0, "no")),
         category=("Unit 1", "a/b")),
    Item("truefalse", "T", "<p>True?</p>", correct=True, category=("Unit 2",)),
    Item("truefalse", "F", "<p>False?</p>", correct=False, points=0.5),
    Item("fill", "one blank", "<p>Capital of France?</p>",
         blanks=(Blank(("Paris", "paris & co"), case_sensitive=True, ignore_spaces=False),)),
    Item("fill", "cloze", "<p>[[1]] is in {braces} with [[2]].</p>",
         blanks=(Blank(("x",), True), Blank(("a}b", "c#d", "e~f", "g/h", 'i"j', "k\\l")))),
    Item("fill", "marked single", "<p>2 + 2 = [[1]]</p>", blanks=(Blank(("4",)),)),
    Item("essay", "E", "<p>Discuss \\(x^2\\).</p>", points=10.0, tags=("essay",)),
    Item("upload", "U", '<p><img src="@@PLUGINFILE@@/pic/a.png"> Upload</p>', points=5.0,
         upload_extensions=(".pdf", ".docx"), upload_max_bytes=1048576,
         media=(Media("pic/a.png", "image/png", PNG), Media("b.jpg", "image/jpeg", b"\xff\xd8\xff\xe0"))),
    Item("upload", "U any", "<p>Any file</p>"),
)


@pytest.mark.req("C4")
def test_export_then_parse_is_lossless():
    report = moodle_xml.parse(moodle_xml.export(ROUND_TRIP))
    assert report.skipped == ()
    assert [replace(i, source="") for i in report.items] == list(ROUND_TRIP)


@pytest.mark.req("C4")
def test_imported_bank_round_trips(report):
    again = moodle_xml.parse(moodle_xml.export(report.items))
    strip = lambda items: [replace(i, source="") for i in items]  # noqa: E731
    assert strip(again.items) == strip(report.items)


def test_export_writes_what_moodle_expects():
    xml = moodle_xml.export([ROUND_TRIP[0], ROUND_TRIP[5], ROUND_TRIP[8]]).decode()
    assert xml.startswith('<?xml version="1.0" encoding="UTF-8"?>\n<quiz>')
    assert "<text>$course$/top/Unit 1/a//b</text>" in xml
    assert "<![CDATA[<p>Pick ]]]]><![CDATA[> one</p>]]>" in xml
    assert '<question type="cloze">' in xml
    assert r"{1:SHORTANSWER:=x}" not in xml and r"{1:SHORTANSWER_C:=x}" in xml
    assert r"=a\}b~=c\#d~=e\~f~=g\/h~=i\"j~=k\\l" in xml
    assert '<file name="a.png" path="/pic/" encoding="base64">' in xml
    assert "<filetypeslist>.pdf,.docx</filetypeslist>" in xml
    assert "<tags><tag><text>t1</text></tag><tag><text>标签</text></tag></tags>" in xml


@pytest.mark.parametrize("chunk", ["{1:SA:", "&lt;", "[[1]]"])
def test_hostile_repetition_in_question_text_stays_fast(chunk):
    import time
    text = chunk * (8 * 1024 * 1024 // len(chunk))
    data = f'<quiz><question type="cloze"><questiontext format="html"><text>{text}</text>' \
           "</questiontext></question></quiz>"
    started = time.monotonic()
    report = moodle_xml.parse(data.encode())
    assert time.monotonic() - started < 20
    assert len(report.skipped) == 1
