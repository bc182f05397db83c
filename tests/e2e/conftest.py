"""End-to-end fixtures: one complete Lodge (PostgreSQL) in processes of its own per session.

Every test in tests/e2e is marked `e2e`, so `-m "not e2e"` skips them all.
A failing test's report ends with the tail of the Lodge log.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import sys
from pathlib import Path

import pytest

E2E_DIR = Path(__file__).resolve().parent
if str(E2E_DIR.parents[1]) not in sys.path:  # `pytest` as well as `python -m pytest`
    sys.path.insert(0, str(E2E_DIR.parents[1]))

from gateway.campus.interface import asyncapi_document  # noqa: E402
from tests.support.accessibility import assert_accessible, check, check_every_visit  # noqa: E402
from tests.support.event_interface import EventCapture, EventChecker  # noqa: E402
from tests.support.oidc import OidcProvider  # noqa: E402
from tests.support.saml_idp import Federation, SamlIdp, key_pair  # noqa: E402
from tests.support.system import LodgeSystem  # noqa: E402

LOG_TAIL_LINES = 120


# tests that change what the session's Lodge holds beyond what the others expect: last
LAST_ON_THE_SESSION_LODGE = ("test_fuzz_api.py",)


def pytest_collection_modifyitems(config, items):
    e2e = [item for item in items if E2E_DIR in Path(item.path).resolve().parents]
    for item in e2e:
        item.add_marker(pytest.mark.e2e)
    last = [item for item in e2e if Path(item.path).name in LAST_ON_THE_SESSION_LODGE]
    if last:
        end = items.index(e2e[-1])
        moved = [item for item in items[: end + 1] if item not in last] + last
        items[:] = moved + items[end + 1 :]


@pytest.fixture(scope="session", autouse=True)
def events_follow_the_interface():
    """Every event each Lodge of the session publishes on lodge.events, checked when it stops
    against the AsyncAPI document's message for its type (tests/support/event_interface.py).
    A break fails the session's last test at teardown, with the events that broke it."""
    capture = EventCapture(EventChecker(asyncapi_document()))
    LodgeSystem.observers.append(capture)
    yield capture
    LodgeSystem.observers.remove(capture)
    broken = capture.report()
    assert not broken, "\n".join(broken)


@pytest.fixture(scope="session")
def oidc_provider():
    """A real OpenID Connect provider (oidc-provider-mock) in a process of its own."""
    with OidcProvider() as provider:
        yield provider


# how the SAML identity providers' attributes become Lodge groups and roles
SAML_ATTRIBUTE_MAPPING = '{"roles": {"library-staff": ["approver"]}, "groups": {"member": []}}'


@pytest.fixture(scope="session")
def saml_idps(tmp_path_factory):
    """Two SAML identity providers (pysaml2) serving HTTP, listed in a federation's signed
    metadata; with Lodge's SP key pair, the settings that join Lodge to the federation."""
    folder = tmp_path_factory.mktemp("saml")
    federation = Federation(folder / "federation")
    idps = (
        SamlIdp(folder / "idps", "one", "University One"),
        SamlIdp(folder / "idps", "two", "College Two"),
    )
    sp_key, sp_cert = key_pair(folder / "sp", "lodge-sp")
    env = {
        **federation.lodge_env(federation.metadata(list(idps))),
        "LODGE_SAML_SP_KEY": str(sp_key),
        "LODGE_SAML_SP_CERT": str(sp_cert),
        "LODGE_SAML_NAME": "the Test Federation",
        "LODGE_SAML_ATTRIBUTE_MAPPING": SAML_ATTRIBUTE_MAPPING,
    }
    with idps[0], idps[1]:
        yield idps, env


@pytest.fixture(scope="session")
def lodge_system(request, oidc_provider, datacite_server, saml_idps):
    keep = True if request.config.getoption("--keep-artifacts", default=False) else None
    # a loaded machine may need longer to start six processes: LODGE_TEST_START_TIMEOUT
    system = LodgeSystem(
        "postgresql",
        label="e2e",
        keep_artifacts=keep,
        extra_env={
            **oidc_provider.lodge_env(),
            **saml_idps[1],
            # every item gets a DOI, registered at the local DataCite (tests/support/datacite.py)
            **datacite_server.env(),
            # campus access through our own proxy (the tests' 127.0.0.1) from 10.x addresses
            # and the TLS proxy of test_proxies_and_request_limits.py (127.0.0.2)
            "LODGE_TRUSTED_PROXIES": "127.0.0.1/32,127.0.0.2/32",
            "LODGE_CAMPUS_NETWORKS": "10.0.0.0/8",
            "LODGE_EMBARGO_INTERVAL": "1",
            "LODGE_BAG_EXPORT_INTERVAL": "1",  # a bag staff ask for is made at once
        },
    )
    system.start()
    SESSION_LODGE.append(system)
    for idp in saml_idps[0]:  # the IdPs read Lodge's metadata as a federation would
        idp.sp_metadata_url = f"{system.base_url}/saml/metadata"
    yield system
    system.stop()
    if system.leftovers:
        print(f"\nLodge processes that outlived `lodge run`: {system.leftovers}")
    if system.artifact_path:
        print(f"\nLodge log kept at {system.artifact_path}")


SESSION_LODGE: list[LodgeSystem] = []


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """The session's Lodge stops after the last end-to-end test, so that what it still has
    to do (the fuzz test's deposits, say) does not take the cores from the tests after."""
    if SESSION_LODGE and (nextitem is None or E2E_DIR not in Path(nextitem.path).resolve().parents):
        SESSION_LODGE[0].stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if not report.failed or "lodge_system" not in getattr(item, "fixturenames", ()):
        return
    system = getattr(item, "funcargs", {}).get("lodge_system")
    if isinstance(system, LodgeSystem):
        report.sections.append(
            (f"Lodge log (last {LOG_TAIL_LINES} lines)", system.log_tail(LOG_TAIL_LINES))
        )


BROWSER_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright (no browser download)."""
    from playwright.sync_api import sync_playwright

    playwright = sync_playwright().start()
    chromium = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=BROWSER_ARGS)
    yield chromium
    chromium.close()
    # Not playwright.stop(): under eventlet's monkey patch it waits forever for its
    # driver process, so the driver is ended here instead.
    _end_children("run-driver")


def _end_children(marker: str) -> None:
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            status = (entry / "status").read_text()
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        parent = next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:"))
        if int(parent) == os.getpid() and marker in cmdline:
            os.kill(int(entry.name), signal.SIGTERM)


@pytest.fixture
def page(browser, lodge_system):
    with watched_page(browser, lodge_system.base_url) as fresh:
        yield fresh


@contextlib.contextmanager
def watched_page(browser, base_url: str, width: int = 1280, height: int = 900):
    """A fresh browser context; script errors, server errors (5xx) and what axe-core finds
    serious or critical on any page it goes to fail the test. 4xx answers are the app's
    deliberate replies (a form with errors is a 422), and the tests check those themselves."""
    context = browser.new_context(
        base_url=base_url, locale="en-GB", viewport={"width": width, "height": height}
    )
    page = context.new_page()
    problems = []
    # a test that breaks connections on purpose lists the errors it expects
    page.expected_console_errors = []
    page.on(
        "console",
        lambda message: (
            message.type == "error"
            and not re.search(r"status of 4\d\d", message.text)
            and not any(re.search(p, message.text) for p in page.expected_console_errors)
            and problems.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: problems.append(str(error)))
    check_every_visit(page, problems)
    yield page
    check(page, problems)  # the page as the test left it
    context.close()
    assert problems == [], "the browser reported errors:\n" + "\n".join(problems)


def screenshot(page, name: str, checked: bool = False) -> Path:
    """Keep a screenshot as a test artifact (test-artifacts/screenshots/NAME.png), after
    checking the page as it stands with axe-core (unless the test has `checked` it)."""
    if not checked:
        assert_accessible(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path
