"""Who may have an item's files."""

from datetime import date, timedelta

from gateway.files.access import files_visible
from kernel.contracts.actors import Actor

SIGNED_IN = Actor(id="u1", name="Sam Student", roles=("patron",))


def item(access, embargo_until=None):
    return {"access": access, "embargo_until": embargo_until}


def test_open_files_are_for_everyone():
    assert files_visible(item("open"), None)


def test_campus_files_need_a_signed_in_user():
    assert not files_visible(item("campus"), None)
    assert files_visible(item("campus"), SIGNED_IN)


def test_embargoed_files_open_on_the_date():
    tomorrow, today = date.today() + timedelta(days=1), date.today()
    assert not files_visible(item("embargo", tomorrow.isoformat()), SIGNED_IN)
    assert files_visible(item("embargo", today.isoformat()), None)


def test_an_unknown_policy_shows_nothing():
    assert not files_visible(item("secret"), SIGNED_IN)


def test_campus_files_are_open_to_the_campus_networks(monkeypatch):
    from kernel.platform.config import get_settings

    monkeypatch.setenv("LODGE_CAMPUS_NETWORKS", "10.0.0.0/8, 2001:db8::/32")
    get_settings.cache_clear()
    try:
        assert files_visible(item("campus"), None, "10.20.30.40")
        assert files_visible(item("campus"), None, "2001:db8::1")
        assert not files_visible(item("campus"), None, "192.0.2.1")
        assert not files_visible(item("campus"), None, None)
        assert not files_visible(item("campus"), None, "not an address")
    finally:
        get_settings.cache_clear()


def test_forwarded_addresses_are_believed_only_from_trusted_proxies(monkeypatch):
    from gateway.http.proxies import client_address
    from kernel.platform.config import get_settings

    monkeypatch.setenv("LODGE_TRUSTED_PROXIES", "127.0.0.1/32,172.16.0.0/12")
    get_settings.cache_clear()
    try:
        # from an untrusted peer the header is ignored
        assert client_address("192.0.2.9", "10.1.1.1") == "192.0.2.9"
        # through our proxies: the nearest hop they did not add; a spoofed first hop is ignored
        assert client_address("127.0.0.1", "10.1.1.1, 198.51.100.7, 172.16.0.5") == "198.51.100.7"
        assert client_address("127.0.0.1", None) == "127.0.0.1"
    finally:
        get_settings.cache_clear()


def test_a_withdrawn_item_shows_no_files():
    assert not files_visible({**item("open"), "withdrawn_at": "2026-11-29T10:00:00+00:00"}, None)


def test_the_scheme_a_client_used_is_believed_only_from_trusted_proxies(monkeypatch):
    from gateway.http.proxies import client_scheme
    from kernel.platform.config import get_settings

    monkeypatch.setenv("LODGE_TRUSTED_PROXIES", "10.0.0.0/8")
    get_settings.cache_clear()
    try:
        assert client_scheme("10.0.0.1", "https", "http") == "https"
        assert client_scheme("10.0.0.1", "javascript", "http") == "http"
        assert client_scheme("192.0.2.9", "https", "http") == "http"
        assert client_scheme("10.0.0.1", None, "http") == "http"
    finally:
        get_settings.cache_clear()


def test_the_environ_itself_carries_the_client_so_the_access_log_shows_it(monkeypatch):
    """gunicorn logs `%(h)s` from the very environ dict the app was given, after the app."""
    from gateway.http.proxies import ClientAddress
    from kernel.platform.config import get_settings

    monkeypatch.setenv("LODGE_TRUSTED_PROXIES", "10.0.0.0/8")
    get_settings.cache_clear()
    try:
        seen = {}
        app = ClientAddress(lambda environ, start: seen.update(environ) or [b""])
        environ = {
            "REMOTE_ADDR": "10.0.0.1",
            "wsgi.url_scheme": "http",
            "HTTP_X_FORWARDED_FOR": "198.51.100.7, 10.0.0.9",
            "HTTP_X_FORWARDED_PROTO": "https",
        }
        app(environ, None)
        assert environ["REMOTE_ADDR"] == seen["REMOTE_ADDR"] == "198.51.100.7"
        assert environ["wsgi.url_scheme"] == "https"
    finally:
        get_settings.cache_clear()
