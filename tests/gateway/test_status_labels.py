"""Deposit statuses as the pages name them, in the reader's language."""

from flask import render_template_string

from kernel.contracts.deposits import Status


def test_every_status_has_a_label_in_each_language_and_an_unknown_one_shows_as_it_is(
    gateway_app,
):
    badge = '{% from "_status.html" import badge %}{{ badge(status) }}'
    with gateway_app.test_request_context(headers={"Accept-Language": "de"}):
        assert render_template_string(badge, status="submitted") == (
            '<span class="badge submitted">Wird geprüft</span>'
        )
        german = {
            s.value: render_template_string("{{ status_label(s) }}", s=s.value) for s in Status
        }
    with gateway_app.test_request_context(headers={"Accept-Language": "en"}):
        english = {
            s.value: render_template_string("{{ status_label(s) }}", s=s.value) for s in Status
        }
        assert english["archived"] == "In the repository"
        assert render_template_string("{{ status_label('paused') }}") == "paused"
    for status, label in english.items():
        assert label != status.replace("_", " ")  # labelled, not the code
        assert german[status] != label  # and translated
