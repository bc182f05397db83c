"""Which letter a status change sends, and how each template renders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from kernel.contracts.exceptions import InvalidInput
from kernel.contracts.people import LOCALES
from services.letters.letters import letter_context, letter_type_for, sample_context
from services.letters.templates import (
    DEFAULTS,
    Parts,
    RenderError,
    render,
    save,
    shipped_default,
)

BASE_URL = "https://lodge.example.org"
WHEN = datetime(2024, 3, 5, 14, 7, 33, tzinfo=UTC)

FAILED_REPORT = {
    "revision": 2,
    "passed": False,
    "checked_at": WHEN,
    "checks": [
        {
            "check": "file_count",
            "passed": False,
            "message": "At most 1 file(s) are allowed; the deposit has 2.",
        },
        {"check": "total_size", "passed": True, "message": "DEPOSIT-CHECK-THAT-PASSED"},
    ],
    "files": [
        {
            "file_id": "f1",
            "filename": "thesis.pdf",
            "passed": False,
            "media_type": "application/octet-stream",
            "checks": [
                {"check": "size", "passed": True, "message": "FILE-CHECK-THAT-PASSED"},
                {
                    "check": "format",
                    "passed": False,
                    "message": (
                        "The file is named .pdf but its content is application/octet-stream."
                    ),
                },
            ],
        },
        {
            "file_id": "f2",
            "filename": "appendix.txt",
            "passed": True,
            "media_type": "text/plain",
            "checks": [{"check": "size", "passed": True, "message": "ALSO-PASSED"}],
        },
        {
            "file_id": "f3",
            "filename": "empty.txt",
            "passed": False,
            "media_type": "application/x-empty",
            "checks": [{"check": "size", "passed": False, "message": "The file is empty."}],
        },
    ],
}


def make_event(**changes) -> dict:
    event = {
        "event_id": "e1",
        "schema_version": "1",
        "occurred_at": WHEN,
        "deposit_id": "dep42",
        "revision": 2,
        "from_status": "in_review",
        "to_status": "submitted",
        "actor": {"id": "u9", "name": "Ann Approver", "email": "ann@example.org", "locale": "en"},
        "reason_code": None,
        "note": None,
        "title": "On Moss",
        "depositor": {
            "id": "u1",
            "name": "Ada Lovelace",
            "email": "ada@example.org",
            "locale": "en",
        },
        "item_id": None,
        "item_identifier": None,
        "report": None,
    }
    event.update(changes)
    return event


def rendered(letter_type, locale="en", **changes):
    """Subject and plain text of a shipped default template."""
    letter = render(
        shipped_default(letter_type, locale), letter_context(make_event(**changes), BASE_URL)
    )
    return letter.subject, letter.text


# --- letter_type_for ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("to_status", "reason_code", "expected"),
    [
        ("submitted", None, "deposit_submitted"),
        ("declined", "out_of_scope", "deposit_declined"),
        ("archived", None, "deposit_archived"),
        ("withdrawn", None, "deposit_withdrawn"),
        ("withdrawn", "draft_expired", "draft_expired"),
        ("returned", "checks_failed", "validation_failed"),
        ("returned", "needs_abstract", "deposit_returned"),
        ("returned", None, "deposit_returned"),
        ("draft", None, None),
        ("in_review", None, None),
        ("approved", None, None),
    ],
)
def test_letter_type_for_each_status(to_status, reason_code, expected):
    event = make_event(to_status=to_status, reason_code=reason_code)
    assert letter_type_for(event) == expected


def test_every_letter_type_has_an_english_template():
    types = {
        letter_type_for(make_event(to_status=s, reason_code=r))
        for s, r in [
            ("submitted", None),
            ("declined", None),
            ("archived", None),
            ("withdrawn", None),
            ("returned", "checks_failed"),
            ("returned", None),
            ("withdrawn", "draft_expired"),
        ]
    }
    on_disk = {p.name.removesuffix(".de.txt") for p in Path(DEFAULTS).glob("*.de.txt")}
    # every letter to depositors and token owners in German
    assert types | {"deposit_created_on_behalf", "draft_expiring", "token_expiring"} == on_disk
    for path in Path(DEFAULTS).glob("*.txt"):  # every default has both parts
        assert path.with_suffix(".html").exists(), path.name


# --- letter_context -----------------------------------------------------------------


def test_letter_context_from_an_event():
    event = make_event(
        to_status="archived",
        item_id="it7",
        item_identifier="ark:/99999/lodge-7",
        item_doi="10.5072/it7",
    )
    context = letter_context(event, BASE_URL)
    assert context["title"] == "On Moss"
    assert context["recipient_name"] == "Ada Lovelace"
    assert context["occurred_at"] == "2024-03-05 14:07 UTC"
    assert context["deposit_url"] == "https://lodge.example.org/deposits/dep42"
    # the persistent address, which resolves to the landing page: a page, never the API
    assert context["item_url"] == "https://lodge.example.org/id/ark:/99999/lodge-7"
    assert context["item_identifier"] == "ark:/99999/lodge-7"
    assert context["item_doi"] == "10.5072/it7"
    assert context["report"] == {"checks": [], "files": []}


def test_letter_context_for_untitled_deposit_without_item():
    context = letter_context(make_event(title=""), BASE_URL)
    assert context["title"] == "(untitled)"
    assert context["item_url"] == ""


def test_an_item_without_its_identifier_yet_is_linked_by_its_landing_page():
    context = letter_context(make_event(item_id="it7"), BASE_URL)
    assert context["item_url"] == "https://lodge.example.org/items/it7"
    odd = make_event(item_id="it7", item_identifier="20.500.1/a b?c#d")
    assert letter_context(odd, BASE_URL)["item_url"] == (
        "https://lodge.example.org/id/20.500.1/a%20b%3Fc%23d"
    )


# --- render: each template ----------------------------------------------------------


def test_render_deposit_submitted():
    subject, body = rendered("deposit_submitted")
    assert subject == 'We received your deposit "On Moss"'
    assert body.startswith("Dear Ada Lovelace,\n")
    assert "was submitted on 2024-03-05 14:07 UTC." in body
    assert "Follow it here: https://lodge.example.org/deposits/dep42" in body
    assert "Subject:" not in body


def test_render_deposit_withdrawn():
    subject, body = rendered("deposit_withdrawn", to_status="withdrawn")
    assert subject == 'Your deposit "On Moss" was withdrawn'
    assert "was withdrawn on 2024-03-05 14:07 UTC." in body
    assert "Details: https://lodge.example.org/deposits/dep42" in body


def test_render_deposit_archived_gives_identifier_and_link():
    subject, body = rendered(
        "deposit_archived",
        to_status="archived",
        item_id="it7",
        item_identifier="ark:/99999/lodge-7",
    )
    assert subject == 'Your deposit "On Moss" is in the repository'
    assert "Identifier: ark:/99999/lodge-7" in body
    assert "Link: https://lodge.example.org/id/ark:/99999/lodge-7" in body
    assert "DOI" not in body  # an item without a DOI: no empty line for one


def test_render_deposit_archived_gives_the_doi_when_the_item_has_one():
    _, body = rendered(
        "deposit_archived",
        to_status="archived",
        item_id="it7",
        item_identifier="ark:/99999/lodge-7",
        item_doi="10.5072/it7",
    )
    assert "DOI: https://doi.org/10.5072/it7" in body


def test_render_deposit_declined_with_reason_and_note():
    subject, body = rendered(
        "deposit_declined",
        to_status="declined",
        reason_code="out_of_scope",
        note="Please try the other repository.",
    )
    assert subject == 'Your deposit "On Moss" was declined'
    assert "Reason: out_of_scope" in body
    assert "Note from the approver:\nPlease try the other repository.\n" in body
    assert "Details: https://lodge.example.org/deposits/dep42" in body


def test_render_deposit_declined_without_reason_or_note():
    _, body = rendered("deposit_declined", to_status="declined")
    assert "Reason: not given" in body
    assert "Note from the approver" not in body


def test_the_reason_reads_as_its_label_where_the_decision_gave_one():
    _, body = rendered(
        "deposit_returned",
        to_status="returned",
        reason_code="needs_abstract",
        reason_label="The abstract is missing",
    )
    assert "Reason: The abstract is missing" in body and "needs_abstract" not in body
    _, body = rendered(
        "deposit_declined",
        "de",
        to_status="declined",
        reason_code="out_of_scope",
        reason_label="Passt nicht zum Repositorium",
    )
    assert "Grund: Passt nicht zum Repositorium" in body


def test_render_deposit_returned_by_an_approver():
    subject, body = rendered(
        "deposit_returned",
        to_status="returned",
        reason_code="needs_abstract",
        note="Add an abstract, please.",
    )
    assert subject == 'Changes requested for your deposit "On Moss"'
    assert "Reason: needs_abstract" in body
    assert "Add an abstract, please." in body
    assert "Edit it and submit it again here: https://lodge.example.org/deposits/dep42" in body


def test_render_validation_failed_lists_each_failing_message():
    subject, body = rendered(
        "validation_failed", to_status="returned", reason_code="checks_failed", report=FAILED_REPORT
    )
    assert subject == 'Your deposit "On Moss" needs attention'
    assert "- At most 1 file(s) are allowed; the deposit has 2." in body
    assert (
        "thesis.pdf:\n- The file is named .pdf but its content is application/octet-stream."
    ) in body
    assert "empty.txt:\n- The file is empty." in body
    assert "Edit it here: https://lodge.example.org/deposits/dep42" in body
    # only what the depositor has to fix
    assert "appendix.txt" not in body
    for passed in ("DEPOSIT-CHECK-THAT-PASSED", "FILE-CHECK-THAT-PASSED", "ALSO-PASSED"):
        assert passed not in body


def test_render_validation_failed_without_a_report_still_renders():
    subject, body = rendered(
        "validation_failed", to_status="returned", reason_code="checks_failed", report=None
    )
    assert subject == 'Your deposit "On Moss" needs attention'
    assert "- " not in body


def test_render_untitled_deposit_and_nameless_recipient():
    subject, body = rendered(
        "deposit_submitted",
        title=None,
        depositor={"id": "u1", "name": "", "email": "a@b", "locale": "en"},
    )
    assert subject == 'We received your deposit "(untitled)"'
    assert body.startswith("Dear depositor,\n")


# --- render: locales, HTML and errors ----------------------------------------------


@pytest.mark.parametrize(
    "letter_type",
    [
        "deposit_submitted",
        "deposit_declined",
        "deposit_archived",
        "deposit_withdrawn",
        "deposit_returned",
        "validation_failed",
        "deposit_created_on_behalf",
    ],
)
def test_every_depositor_letter_has_a_german_version(letter_type):
    subject, text = rendered(
        letter_type,
        "de",
        report=FAILED_REPORT,
        item_id="i1",
        item_identifier="ark:/1",
        reason_code="x",
    )
    assert "„On Moss“" in subject
    assert text.startswith("Guten Tag Ada Lovelace,")


@pytest.mark.parametrize("path", sorted(p.name for p in DEFAULTS.glob("*.txt")))
def test_every_shipped_default_renders_on_the_sample(path):
    letter_type, locale, _ = path.split(".")
    assert locale in LOCALES
    letter = render(shipped_default(letter_type, locale), sample_context(BASE_URL))
    assert letter.subject and letter.text and letter.html.startswith("<p>")


@pytest.mark.parametrize("path", sorted(p.name for p in DEFAULTS.glob("*.txt")))
def test_no_letter_sends_a_person_to_the_api(path):
    """Links in letters are for people: pages, never the JSON API."""
    letter_type, locale, _ = path.split(".")
    letter = render(shipped_default(letter_type, locale), sample_context(BASE_URL))
    for part in (letter.subject, letter.text, letter.html):
        assert "/api/" not in part


def test_the_html_part_escapes_what_the_depositor_wrote_and_the_text_part_does_not():
    parts = shipped_default("deposit_returned", "en")
    letter = render(
        parts,
        letter_context(
            make_event(title="<script>alert(1)</script> & Moss", note="Use <b> & </b>"), BASE_URL
        ),
    )
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; Moss" in letter.html
    assert "<script>" not in letter.html and "Use &lt;b&gt; &amp; &lt;/b&gt;" in letter.html
    assert "Use <b> & </b>" in letter.text


def test_the_sandbox_refuses_unsafe_attribute_access():
    with pytest.raises(RenderError, match="unsafe"):
        render(Parts("x", "", "{{ title.__class__.__mro__ }}"), {"title": "t"})


def test_a_template_error_names_the_part_and_the_line():
    with pytest.raises(RenderError) as syntax:
        render(Parts("Hello", "<p>\n{% if %}\n</p>", "text"), {})
    assert (syntax.value.part, syntax.value.line) == ("html", 2)
    with pytest.raises(RenderError) as undefined:
        render(Parts("Hello", "", "line one\nline two\n{{ no_such_variable }}"), {})
    assert (undefined.value.part, undefined.value.line) == ("text", 3)
    assert "no_such_variable" in undefined.value.message


def test_saving_a_broken_template_is_refused_with_its_line():
    with pytest.raises(InvalidInput) as refused:
        save(
            None,
            "deposit_returned",
            "en",
            Parts("Hi {{ title }}", "<p>ok</p>", "Dear {{ recipient_name }},\n\n{% for x in %}"),
            "manager",
            sample_context(BASE_URL),
        )
    [message] = refused.value.fields["text"]
    assert message.startswith("line 3:")


def test_missing_context_variable_raises_render_error():
    context = letter_context(make_event(), BASE_URL)
    del context["deposit_url"]
    with pytest.raises(RenderError, match="deposit_url"):
        render(shipped_default("deposit_submitted", "en"), context)


def test_title_with_a_line_break_keeps_subject_whole():
    subject, body = rendered("deposit_submitted", title="On Moss:\nA Field Study")
    assert "A Field Study" in subject
    assert body.startswith("Dear Ada Lovelace,")


def test_an_absent_note_prints_nothing_rather_than_none():
    letter = render(
        Parts("x", "<p>{{ note }}</p>", "[{{ note }}]"),
        letter_context(make_event(note=None), BASE_URL),
    )
    assert letter.text == "[]" and letter.html == "<p></p>"
