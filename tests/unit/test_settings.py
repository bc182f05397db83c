"""Every LODGE_ variable is declared once in the settings module, read and checked there at
start, and listed in the README's tables row for row."""

from __future__ import annotations

import logging
import re
from pathlib import Path

import pytest

from kernel.platform import config
from kernel.platform.config import (
    DATABASE_OWNERS,
    SettingsError,
    declarations,
    declarations_by_group,
    declared_names,
    load_settings,
)

REPO = Path(__file__).resolve().parents[2]
README_ROW = re.compile(r"^\| `(LODGE_[A-Z0-9_<>]+)` \| (.*) \| (.*) \|$")
# the README heading each group's rows sit under ("" is Settings' own fields)
GROUP_HEADINGS = {
    "Data and databases": "",
    "Broker": "broker",
    "Storage and uploads": "storage",
    "Limits": "quotas",
    "Letters": "mail",
    "The site": "site",
    "Sign-in and tokens": "sign_in",
    "Signing in": "sign_in",
    "SAML sign-in": "saml",
    "Identifiers": "identifiers",
    "DOIs (DataCite)": "datacite",
    "Client addresses": "network",
    "Timers": "timers",
    "Processes": "processes",
    "OAI-PMH": "oai",
    "Validation": "validation",
    "Preservation export": "preservation",
    "Usage statistics": "usage",
    "Files by reference (campus systems)": "fetching",
}


def readme_rows() -> dict[str, tuple[str, str]]:
    rows: dict[str, tuple[str, str]] = {}
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("| `LODGE_"):
            found = README_ROW.match(line)
            assert found, f"a README row names one variable, its default and meaning: {line}"
            name, shown, description = found.groups()
            assert name not in rows, f"{name} has two rows in the README"
            rows[name] = (shown, description)
    return rows


def test_the_readme_lists_every_setting_as_declared_row_for_row():
    rows = readme_rows()
    declared = {d.variable: d for d in declarations()}
    assert sorted(set(declared) - set(rows)) == [], "settings without a README row"
    assert sorted(set(rows) - set(declared)) == [], "README rows for no setting"
    for name, (shown, description) in rows.items():
        expected = f"| `{name}` | {declared[name].shown} | {declared[name].description} |"
        assert (shown, description) == (declared[name].shown, declared[name].description), (
            f"the README's row for {name} differs from its declaration; it should read\n{expected}"
        )


def test_the_readme_lists_each_group_under_its_own_heading():
    group_of = {d.variable: name for name, found in declarations_by_group().items() for d in found}
    assert set(GROUP_HEADINGS.values()) == set(group_of.values()), "a group without a heading"
    heading, fenced, misplaced, headings_used = None, False, [], set()
    for line in (REPO / "README.md").read_text().splitlines():
        if line.startswith("```"):
            fenced = not fenced
        elif line.startswith("#") and not fenced:
            heading = line.lstrip("#").strip()
        elif line.startswith("| `LODGE_"):
            name = line.split("`")[1]
            headings_used.add(heading)
            if GROUP_HEADINGS.get(heading) != group_of.get(name):
                misplaced.append(f"{name} (group {group_of.get(name)!r}) is under {heading!r}")
    assert misplaced == []
    assert headings_used == set(GROUP_HEADINGS), "a heading that lists no settings"


def test_only_the_settings_module_reads_lodge_variables():
    reads = re.compile(r"(environ|getenv|envvar)\W[^\n]*LODGE_")
    found = []
    for folder in ("gateway", "kernel", "services", "lodge", "bench", "scripts"):
        for path in (REPO / folder).rglob("*.py"):
            if path != Path(config.__file__) and reads.search(path.read_text()):
                found.append(str(path.relative_to(REPO)))
    assert found == []


def test_defaults_follow_from_the_data_folder(tmp_path):
    settings = load_settings({"LODGE_DATA_DIR": str(tmp_path)})
    assert settings.storage.root == tmp_path / "storage"
    assert settings.storage.upload_dir == tmp_path / "storage" / "uploads"
    assert settings.mail.folder == tmp_path / "mail"
    assert settings.database_url("letters") == f"sqlite:///{tmp_path / 'letters.db'}"
    assert settings.broker_uri("intake") == settings.broker.amqp_uri
    assert settings.mail.smtp_port == 25 and settings.on_embedded_defaults


def test_families_and_derived_defaults_read_each_member():
    settings = load_settings(
        {
            "LODGE_INTAKE_DATABASE_URL": "postgresql://lodge@db/intake",
            "LODGE_AMQP_URI_LETTERS": "amqp://letters:pw@mq:5672/lodge",
            "LODGE_SMTP_TLS": "true",
            "LODGE_BASE_URL": "https://lodge.example.edu/",
        }
    )
    assert settings.database_url("intake") == "postgresql://lodge@db/intake"
    assert settings.broker_uri("letters") == "amqp://letters:pw@mq:5672/lodge"
    assert settings.mail.smtp_port == 465 and settings.site.base_url == "https://lodge.example.edu"
    assert not settings.on_embedded_defaults
    assert settings in {settings}  # hashable: storage_for caches a storage per settings
    assert {f"LODGE_{owner.upper()}_DATABASE_URL" for owner in DATABASE_OWNERS} <= declared_names()


@pytest.mark.parametrize(
    ("name", "value", "wanted"),
    [
        ("LODGE_MAX_WORKERS", "ten", "whole number"),
        ("LODGE_RPC_TIMEOUT", "30s", "number"),
        ("LODGE_COOKIE_SECURE", "maybe", "true or false"),
        ("LODGE_STORAGE_BACKEND", "ftp", "one of local, s3"),
        ("LODGE_LOG_LEVEL", "chatty", "one of debug"),
        ("LODGE_AMQP_URI", "http://127.0.0.1:5672/", "amqp://"),
        ("LODGE_BASE_URL", "lodge.example.edu", "https://"),
        ("LODGE_GATEWAY_DATABASE_URL", "mysql://db/gateway", "postgresql://"),
        ("LODGE_AMQP_URI_GATEWAY", "127.0.0.1", "amqp://"),
        ("LODGE_SHUTDOWN_GRACE_SECONDS", "0", "above 0"),
        ("LODGE_SHUTDOWN_GRACE_SECONDS", "-30", "above 0"),
        ("LODGE_SHUTDOWN_GRACE_SECONDS", "4.5", "whole number"),
        ("LODGE_SHUTDOWN_GRACE_SECONDS", "45\x00", "whole number"),
        ("LODGE_SHUTDOWN_GRACE_SECONDS", "9" * 5000, "whole number"),
    ],
)
def test_a_bad_value_stops_the_start_naming_the_variable(name, value, wanted):
    with pytest.raises(SettingsError) as raised:
        load_settings({name: value})
    assert str(raised.value).startswith(f"{name}={value!r} ") and wanted in str(raised.value)


def test_an_unknown_lodge_variable_is_warned_about_and_tooling_ones_are_not(caplog):
    with caplog.at_level(logging.WARNING, logger=config.__name__):
        settings = load_settings(
            {
                "LODGE_MAX_WORKER": "3",
                "LODGE_AMQP_URI_MAILER": "amqp://x/",
                "LODGE_TEST_START_TIMEOUT": "90",
                "LODGE_PYTHON": "python3",
            }
        )
    assert settings.processes.max_workers == 10
    warned = sorted(
        name
        for name in (
            "LODGE_MAX_WORKER",
            "LODGE_AMQP_URI_MAILER",
            "LODGE_TEST_START_TIMEOUT",
            "LODGE_PYTHON",
        )
        if any(name in record.getMessage() for record in caplog.records)
    )
    assert warned == ["LODGE_AMQP_URI_MAILER", "LODGE_MAX_WORKER"]


def test_an_empty_variable_means_the_default():
    settings = load_settings({"LODGE_MAX_WORKERS": "", "LODGE_SMTP_HOST": ""})
    assert settings.processes.max_workers == 10 and settings.mail.smtp_host is None


def test_the_kubernetes_config_map_holds_values_the_settings_take():
    lines = (REPO / "deploy" / "k8s" / "base" / "config.env").read_text().splitlines()
    values = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert set(values) <= declared_names()
    settings = load_settings(values)
    assert (
        settings.storage.backend == "s3"
        and settings.mail.smtp_starttls
        and settings.mail.smtp_port == 587
    )


def test_a_command_stops_with_the_variable_named_not_a_traceback(lodge_env):
    from click.testing import CliRunner

    from lodge.cli import main

    lodge_env.setenv("LODGE_HANDLER_MAX_ATTEMPTS", "five")
    result = CliRunner().invoke(main, ["seed"])
    assert result.exit_code == 1
    assert "LODGE_HANDLER_MAX_ATTEMPTS='five' must be a whole number" in result.output
