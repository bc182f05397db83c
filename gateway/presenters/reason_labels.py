"""Labels of the reason codes Lodge itself records, shown beside the managers' tables."""

from flask_babel import gettext as _


def system_reason_labels() -> dict[str, str]:
    """Reason codes Lodge itself records, besides the managers' reason tables."""
    return {
        "checks_failed": _("The automatic checks found problems with the files"),
        "automatic": _("Approved automatically"),
        "staff_mediated": _("Deposited by library staff"),
        "system_mediated": _("Deposited by a campus system"),
        "metadata_edited_by_approver": _("The approver corrected the description"),
    }
