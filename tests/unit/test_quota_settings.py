"""The limits on unfinished work are site settings: sensible defaults, nonsense refused at start."""

import pytest

from kernel.platform.config import DAY, quota_settings


def test_defaults_are_sensible(monkeypatch):
    for name in ("DRAFTS", "STAGED_BYTES", "UPLOADS"):
        monkeypatch.delenv(f"LODGE_QUOTA_{name}", raising=False)
    for name in ("EXPIRY_SECONDS", "WARNING_SECONDS", "EXPIRY_INTERVAL"):
        monkeypatch.delenv(f"LODGE_DRAFT_{name}", raising=False)
    quotas = quota_settings()
    assert (quotas.drafts, quotas.staged_bytes, quotas.uploads) == (20, 10 * 1024**3, 10)
    assert (quotas.draft_expiry_seconds, quotas.draft_warning_seconds) == (180 * DAY, 14 * DAY)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("LODGE_QUOTA_DRAFTS", "0"),
        ("LODGE_QUOTA_UPLOADS", "-3"),
        ("LODGE_QUOTA_STAGED_BYTES", "lots"),
        ("LODGE_QUOTA_DRAFTS", "1e9"),
        ("LODGE_DRAFT_WARNING_SECONDS", str(180 * DAY)),  # a warning no earlier than the removal
        ("LODGE_DRAFT_WARNING_SECONDS", "-1"),
    ],
)
def test_nonsense_settings_stop_the_start(monkeypatch, name, value):
    monkeypatch.setenv(name, value)
    with pytest.raises(ValueError):
        quota_settings()
