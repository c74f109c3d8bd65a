"""GIFT: every construct of Moodle's GIFT format, skipped questions by line, encodings."""
import codecs

import pytest

from bridge.bank import gift
from bridge.bank.model import Blank, Choice, FormatError, ImportReport, Item, Skipped

pytestmark = pytest.mark.req("C9")
UNIT1 = ("高等数学", "Unit 1")


@pytest.fixture
def report(bank_file):
    return gift.parse(bank_file("all_constructs.gift"))


def by_name(report, name):
    (item,) = [i for i in report.items if i.name == name]
    return item


@pytest.mark.req("C4")
def test_types_and_order(report):
    assert report.format == "gift"
    assert [(i.qtype, i.name) for i in report.items] == [
        ("single", "Capital of France"),
        ("multiple", "Primes"),
        ("truefalse", "Sun"),
        ("truefalse", "Flat"),
        ("fill", "Synonyms"),
        ("single", "Grant is buried in ____ in New York."),
        ("fill", "Pi exact"),
        ("fill", "Multi numeric"),
        ("essay", "Essay"),
        ("fill", "Escapes"),
        ("fill", "TeX"),
    ]
    assert all(i.category == UNIT1 and i.points == 1.0 for i in report.items)


@pytest.mark.req("C4")
def test_single_choice_with_feedback_and_general_feedback(report):
    assert by_name(report, "Capital of France") == Item(
        qtype="single", name="Capital of France",
        stem_html="<p>What is the capital of France?</p>",
        choices=(Choice("Paris", 1.0, "Correct, Paris."),
                 Choice("London", 0.0, "No, that is the UK."), Choice("Berlin", 0.0)),
        category=UNIT1, general_feedback_html="Paris has been the capital since 987.",
        source="question 1 'Capital of France' (line 6)")


@pytest.mark.req("C4")
def test_weighted_answers_make_multiple_choice(report):
    item = by_name(report, "Primes")
    assert item.stem_html == "<p>Which of these are <b>prime</b>?</p>"
    assert item.choices == (Choice("2", 0.5), Choice("3", 0.5), Choice("9", -1.0, "9 = 3 × 3"))


@pytest.mark.req("C4")
def test_true_false_and_plain_format(report):
    assert by_name(report, "Sun").correct is True
    flat = by_name(report, "Flat")
    assert (flat.correct, flat.stem_html) == (False, "<p>The Earth is flat &lt;really&gt;.</p>")


@pytest.mark.req("C4")
def test_short_answer_in_the_middle_marks_the_blank(report):
    item = by_name(report, "Synonyms")
    assert item.stem_html == "<p>Two plus two equals [[1]].</p>"
    assert item.blanks == (Blank(("four", "4")),)  # the 50% answer is dropped


@pytest.mark.req("C4")
def test_missing_word_choice_shows_a_line(report):
    item = by_name(report, "Grant is buried in ____ in New York.")
    assert item.qtype == "single"
    assert item.stem_html == "<p>Grant is buried in ____ in New York.</p>"
    assert item.choices[0] == Choice("Grant's tomb", 1.0)
    assert item.source == "question 6 (line 26)"


@pytest.mark.req("C4")
def test_exact_numbers_become_text_blanks(report):
    assert by_name(report, "Pi exact").blanks == (Blank(("6",)),)
    assert by_name(report, "Multi numeric").blanks == (Blank(("0.5",)),)
    assert by_name(report, "Pi exact").source == (
        "question 7 'Pi exact' (line 28) [numerical: graded as exact text]")


@pytest.mark.req("C4")
def test_essay_markdown(report):
    item = by_name(report, "Essay")
    assert item.stem_html == "<p>Explain <strong>why</strong> the sky is blue.</p>"
    assert (item.choices, item.blanks, item.correct) == ((), (), None)


def test_escapes_and_tex(report):
    assert by_name(report, "Escapes").stem_html == (
        "<p>Write {x} and a: colon, a = sign, a ~ tilde and a # hash.</p>")
    assert by_name(report, "TeX").stem_html == (
        r"<p>Solve \(x^2 \neq 4\) where $$x \in \mathbb{N}$$.</p>")


def test_skipped_questions_name_their_line(report):
    assert report.skipped == (
        Skipped("question 8 'Pi range' (line 30)",
                "the numerical answer 3.15 has a tolerance of ±0.15; ExamBridge marks numbers "
                "as exact text, so set the tolerance to 0 or make it a fill-in-the-blank "
                "question with the accepted answers"),
        Skipped("question 13 'Match' (line 43)",
                "type matching is not supported; ExamBridge imports choice, true/false, "
                "short-answer, numerical and essay questions"),
        Skipped("question 14 'Description only' (line 48)",
                "there is no answer part in {…}, so this is a description; descriptions are "
                "not supported"),
        Skipped("question 15 'Brace in TeX' (line 52)",
                "the question has more than one answer part {…}; GIFT allows one (write \\{ "
                "and \\} for braces that are part of the text)"),
        Skipped("question 16 'Unclosed' (line 54)",
                "the answer part opened with { is not closed with }; write \\{ and \\} for "
                "braces that are part of the text"),
    )


def test_windows_line_endings_and_bom_give_the_same_result(bank_file, report):
    crlf = codecs.BOM_UTF8 + bank_file("all_constructs.gift").replace(b"\n", b"\r\n")
    assert gift.parse(crlf) == report


def test_utf16_and_gbk_files(bank_file):
    expected = (
        Item("single", "颜色", "<p>天空是什么颜色？</p>",
             choices=(Choice("蓝色", 1.0), Choice("红色", 0.0), Choice("绿色", 0.0)),
             source="question 1 '颜色' (line 1)"),
        Item("truefalse", "真假", "<p>地球是圆的。</p>", correct=True,
             source="question 2 '真假' (line 3)"),
    )
    assert gift.parse(bank_file("utf16_windows.gift")).items == expected
    assert gift.parse(bank_file("gbk_chinese.gift")).items == expected


def test_category_paths_and_comment_lines():
    data = b"""$CATEGORY: top/Unit 2//3/Part A
// comment between
Q1 {T}

$CATEGORY: $system$/top

// a comment inside a question does not split it
Q2
// here
more {F}
"""
    items = gift.parse(data).items
    assert [(i.category, i.stem_html) for i in items] == [
        (("Unit 2/3", "Part A"), "<p>Q1</p>"),
        ((), "<p>Q2<br>more</p>"),
    ]


def test_single_choice_with_two_right_answers_is_skipped():
    report = gift.parse(b"::Two::Pick {=a =b ~c}")
    assert report.skipped == (Skipped("question 1 'Two' (line 1)",
                                      "a single-choice question needs exactly one fully correct "
                                      "answer (found 2)"),)


def test_multiple_choice_weights_must_add_up():
    report = gift.parse(b"Pick {~%50%a ~%20%b ~c}")
    assert report.skipped[0].reason == ("the positive grades of a multiple-choice question must "
                                        "add up to 100% (they add up to 70%)")


def test_line_break_escape_and_html_format():
    (item,) = gift.parse(b"[html]<p>One\\ntwo</p>{=x}").items
    assert item.stem_html == "<p>One\ntwo</p>"
    (item,) = gift.parse(b"One\\ntwo {=x}").items
    assert item.stem_html == "<p>One<br>two</p>"


def test_binary_file_is_refused(bank_file):
    with pytest.raises(FormatError, match="PNG image"):
        gift.parse(bank_file("not_xml.xml"))


def test_empty_file_has_nothing():
    assert gift.parse(b"// only a comment\n\n") == ImportReport((), (), "gift")


def test_bare_answer_and_escaped_backslash():
    (item,) = gift.parse(b"Path is C:\\\\temp {four}").items
    assert (item.stem_html, item.blanks) == ("<p>Path is C:\\temp</p>", (Blank(("four",)),))


def test_unclosed_tex_keeps_later_line_breaks_literal():
    (item,) = gift.parse(b"\\(a\\nb \\n c {=x}").items
    assert item.stem_html == "<p>\\(a\\nb \\n c</p>"


@pytest.mark.parametrize("chunk", [b"\\(", b"{1:SA:", b"<", b"**", b"::"])
def test_hostile_repetition_stays_fast(chunk):
    import time
    data = chunk * (8 * 1024 * 1024 // len(chunk))
    started = time.monotonic()
    gift.parse(data + b" {=x}")
    assert time.monotonic() - started < 20
