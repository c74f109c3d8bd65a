"""The question bank's teacher pages over HTTP (C9): list and filter, import with a report,
hostile files refused with nothing stored, export, the editor for every type with
server-side validation, the candidate preview, archive."""
from __future__ import annotations

import re

import pytest

from bridge.models.bank import Question

GIFT = """$CATEGORY: $course$/top/Unit 1

::Capital::What is the capital of France? {=Paris ~London ~Berlin}

::Sky::The sky is blue. {T}

::Broken::Pick one {~a ~b}

::Essay::Discuss the <b>causes</b>. {}
""".encode()


@pytest.mark.req("C9")
def test_import_reports_and_lists_then_exports_and_reimports(teach):
    page = teach.get(teach.bank)
    assert page.status_code == 200 and "The bank is empty" in page.text
    posted = teach.post(teach.bank + "/import", data={"format": ""}, files={"file": ("unit1.gift", GIFT)})
    assert posted.status_code == 303                                          # the report is a page of its own
    resp = teach.get(posted.headers["Location"])
    assert resp.status_code == 200
    assert "Import report" in resp.text and "3 new items" in resp.text and "1 item could not be used" in resp.text
    assert "Broken" in resp.text and "line" in resp.text                      # where, and why
    bank = teach.get(teach.bank)
    assert "Capital" in bank.text and "Unit 1" in bank.text and "unit1.gift" in bank.text
    assert teach.count(Question, course_id=teach.course_id) == 3
    # filter by type and by category
    assert "Sky" in teach.get(teach.bank + "?type=truefalse").text
    assert "Capital" not in teach.get(teach.bank + "?type=truefalse").text
    assert "No items match this filter." in teach.get(teach.bank + "?type=upload").text
    cat = re.search(r'<option value="(\d+)"\s*>Unit 1</option>', bank.text).group(1)
    assert "Essay" in teach.get(teach.bank + f"?category={cat}").text
    assert teach.get(teach.bank + "?category=abc&type=nonsense").status_code == 200
    # export, then the export imports back whole
    out = teach.get(teach.bank + "/export")
    assert out.status_code == 200 and "bank-EXAM101.xml" in out.headers["Content-Disposition"]
    assert out.headers["Content-Disposition"].startswith("attachment")
    again = teach.post(teach.bank + "/import", data={"format": "moodle-xml", "duplicates": "skip"},
                       files={"file": ("bank.xml", out.content)})
    again = teach.get(again.headers["Location"])
    assert "0 new items" in again.text and "3 items already in the bank, skipped" in again.text
    assert teach.count(Question, course_id=teach.course_id) == 3             # read back, not duplicated


@pytest.mark.req("C9")
@pytest.mark.parametrize("name,body,fmt,message", [
    ("xxe.xml", None, "", "DOCTYPE"),
    ("billion_laughs.xml", None, "", "DOCTYPE"),
    ("truncated.xml", None, "", ""),
    ("photo.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 64, "gift", "PNG image"),
    ("notes.bin", b"hello", "", "Say which format"),
])
def test_a_refused_file_shows_its_message_and_stores_nothing(teach, name, body, fmt, message):
    from pathlib import Path

    data = body if body is not None else (Path(__file__).parent.parent / "bank" / "files" / name).read_bytes()
    resp = teach.post(teach.bank + "/import", data={"format": fmt}, files={"file": (name, data)})
    assert resp.status_code == 422
    assert 'class="field-error"' in resp.text and message in resp.text
    assert teach.count(Question, course_id=teach.course_id) == 0


@pytest.mark.req("C9")
def test_nothing_importable_says_so_and_a_missing_file_is_a_clear_422(teach):
    resp = teach.post(teach.bank + "/import", data={}, files={"file": ("bad.gift", b"::Broken::Pick {~a ~b}\n")})
    resp = teach.get(resp.headers["Location"])
    assert resp.status_code == 200 and "Nothing was imported" in resp.text
    assert teach.post(teach.bank + "/import", data={"format": "gift"}).status_code == 422


VALID = {
    "single": {"choice_text_0": "3", "choice_fraction_0": "0", "choice_text_1": "4", "choice_fraction_1": "100",
               "choice_text_2": "5", "shuffle": "1"},
    "multiple": {"choice_text_0": "2", "choice_fraction_0": "50", "choice_text_1": "3", "choice_fraction_1": "50",
                 "choice_text_2": "4", "choice_fraction_2": "-100"},
    "truefalse": {"correct": "false"},
    "fill": {"blank_answers_0": "Paris\nparis ", "blank_spaces_0": "1", "blank_answers_1": "北京\nBeijing",
             "blank_case_1": "1"},
    "essay": {},
    "upload": {"upload_extensions": "pdf, .DOCX", "upload_max_mb": "2"},
}
INVALID = {
    "single": ({"choice_text_0": "a", "choice_fraction_0": "100", "choice_text_1": "b", "choice_fraction_1": "100"},
               "exactly one fully correct answer"),
    "multiple": ({"choice_text_0": "a", "choice_fraction_0": "50", "choice_text_1": "b", "choice_fraction_1": "x"},
                 "percentage from -100 to 100"),
    "truefalse": ({}, "true or false"),
    "fill": ({"blank_answers_0": "  \n "}, "at least one blank"),
    "essay": ({"points": "abc"}, "points as a number"),
    "upload": ({"upload_max_mb": "-1"}, "largest file size"),
}


@pytest.mark.req("C9")
@pytest.mark.parametrize("qtype", list(VALID))
def test_create_validate_preview_and_edit_an_item_of_each_type(teach, qtype):
    form = teach.get(teach.bank + f"/new?type={qtype}")
    assert form.status_code == 200 and 'name="stem_html"' in form.text and "<label" in form.text
    base = {"qtype": qtype, "name": f"My {qtype}", "points": "2", "stem_html": "<p>Capital [[1]] and [[2]]?</p>"
            if qtype == "fill" else "<p>What <b>is</b> it?</p>", "new_category": "Written"}
    bad, message = INVALID[qtype]
    refused = teach.post(teach.bank + "/new", data={**base, **bad})
    assert refused.status_code == 422 and message in refused.text
    assert "What &lt;b&gt;is&lt;/b&gt; it?" in refused.text or "[[1]]" in refused.text   # the text is kept
    assert teach.count(Question, course_id=teach.course_id) == 0
    saved = teach.post(teach.bank + "/new", data={**base, **VALID[qtype]})
    assert saved.status_code == 302, saved.text
    preview = teach.get(saved.headers["Location"])
    assert preview.status_code == 200 and f"My {qtype}" in preview.text
    assert '<iframe class="preview" sandbox' in preview.text and "srcdoc=" in preview.text
    assert "<b>is</b>" not in preview.text.split("srcdoc=")[0]             # item HTML only inside the sandbox
    qid = int(re.search(r"/bank/(\d+)/preview", saved.headers["Location"]).group(1))
    edit = teach.get(teach.bank + f"/{qid}/edit")
    assert edit.status_code == 200 and f'value="My {qtype}"' in edit.text
    changed = teach.post(teach.bank + f"/{qid}/edit", data={**base, **VALID[qtype], "name": "Renamed", "points": "3"})
    assert changed.status_code == 302

    def check(s):
        q = s.get(Question, qid)
        assert (q.name, q.points, q.version, q.qtype) == ("Renamed", 3.0, 2, qtype)
        assert q.category.name == "Written"
        return q

    teach.db(check)
    if qtype == "upload":
        teach.db(lambda s: _assert(s.get(Question, qid).upload_extensions == [".pdf", ".docx"]))
    if qtype == "fill":
        teach.db(lambda s: _assert(s.get(Question, qid).blanks[1]["accepted"] == ["北京", "Beijing"]))


def _assert(value):
    assert value


@pytest.mark.req("C9")
def test_editor_refuses_bad_input_without_a_500(teach):
    ids = teach.questions()
    for data in ({"qtype": "bogus", "stem_html": "x", "points": "1"},
                 {"qtype": "essay", "stem_html": "x", "points": "nan"},
                 {"qtype": "essay", "stem_html": "", "points": "1"},
                 {"qtype": "essay", "stem_html": "x", "points": "1", "category_id": "abc"},
                 {"qtype": "single", "stem_html": "x", "points": "1", "choice_text_0": "a", "choice_fraction_0": "150",
                  "choice_text_1": "b", "choice_fraction_1": "100"},
                 {}):
        assert teach.post(teach.bank + "/new", data=data).status_code == 422, data
    assert teach.post(teach.bank + "/new", data={"qtype": "essay", "stem_html": "x", "points": "1",
                                                 "category_id": "99999"}).status_code == 404
    assert teach.get(teach.bank + "/99999/edit").status_code == 404
    assert teach.get(teach.bank + "/99999/preview").status_code == 404
    assert teach.post(teach.bank + "/99999/archive").status_code == 404
    assert teach.get(teach.bank + f"/{ids['single']}/edit?type=nonsense").status_code == 200


@pytest.mark.req("C9")
def test_archive_asks_first_then_hides_the_item(teach):
    ids = teach.questions()
    confirm = teach.get(teach.bank + f"/{ids['essay']}/archive")
    assert confirm.status_code == 200 and "Archive the item" in confirm.text and 'method="post"' in confirm.text
    assert teach.count(Question, id=ids["essay"], archived=True) == 0          # a GET changes nothing
    assert teach.post(teach.bank + f"/{ids['essay']}/archive").status_code == 302
    assert teach.count(Question, id=ids["essay"], archived=True) == 1
    assert teach.get(teach.bank + f"/{ids['essay']}/preview").status_code == 404
    assert teach.get(teach.bank + "?type=essay").text.count("Discuss.") == 0


@pytest.mark.req("C9")
def test_preview_renders_each_factory_type_and_zh_cn_pages_render(teach, lti_env):
    ids = teach.questions()
    for qtype, qid in ids.items():
        assert teach.get(teach.bank + f"/{qid}/preview").status_code == 200, qtype
    zh = lti_env.browser()
    resp = lti_env.launch(role="Instructor", sub="3", locale="zh-CN", http=zh)
    page = lti_env.get(teach.bank, http=zh)
    assert resp.status_code == 303 and page.status_code == 200 and '<html lang="zh-CN">' in page.text
