"""A deposit's status in the reader's language.

In Python rather than a template macro: a macro builds its table of every status's label
(eight translations) each time it is called, and a list page calls it for every row and
every option of its status filter.
"""

from __future__ import annotations

from flask_babel import gettext as _

LABELS = {
    "draft": lambda: _("Draft"),
    "submitted": lambda: _("Being checked"),
    "in_review": lambda: _("In review"),
    "approved": lambda: _("Approved"),
    "archived": lambda: _("In the repository"),
    "returned": lambda: _("Returned for changes"),
    "declined": lambda: _("Declined"),
    "withdrawn": lambda: _("Withdrawn"),
}


def status_label(status: str) -> str:
    """The label of `status`; a status without one, as it is."""
    label = LABELS.get(status)
    return label() if label else status


def register(app) -> None:
    app.add_template_global(status_label, "status_label")
