"""Where the services serve their metrics: LODGE_METRICS_BIND and its per-service family,
checked at start, and never without the token."""

from __future__ import annotations

import pytest

from kernel.platform.config import SettingsError, load_settings

TOKEN = {"LODGE_METRICS_TOKEN": "m" * 40}


def test_a_service_takes_its_own_address_over_the_shared_one():
    settings = load_settings(
        {
            **TOKEN,
            "LODGE_METRICS_BIND": "0.0.0.0:9100",
            "LODGE_METRICS_BIND_INTAKE": "127.0.0.1:9101",
            "LODGE_METRICS_BIND_LETTERS": "[::1]:9102",
        }
    )
    assert settings.metrics_bind("intake") == "127.0.0.1:9101"
    assert settings.metrics_bind("letters") == "[::1]:9102"
    assert settings.metrics_bind("approval") == "0.0.0.0:9100"
    assert load_settings({}).metrics_bind("intake") is None


@pytest.mark.parametrize(
    "value",
    [
        "9100",
        ":9100",
        "0.0.0.0",
        "0.0.0.0:",
        "0.0.0.0:0",
        "0.0.0.0:65536",
        "0.0.0.0:-1",
        "0.0.0.0:9100x",
        "0.0.0.0:\uff19\uff11\uff10\uff10",  # digits, but not ASCII ones
        "[]:9100",
        "0.0.0.0:91\x0000",
        "x" * 10_000,
    ],
)
def test_an_address_that_is_not_host_and_port_stops_the_start(value):
    for name in ("LODGE_METRICS_BIND", "LODGE_METRICS_BIND_VALIDATION"):
        with pytest.raises(SettingsError) as raised:
            load_settings({**TOKEN, name: value})
        assert str(raised.value).startswith(f"{name}=") and "host:port" in str(raised.value)


@pytest.mark.parametrize("name", ["LODGE_METRICS_BIND", "LODGE_METRICS_BIND_INVENTORY"])
def test_metrics_are_never_served_without_the_token(name):
    with pytest.raises(SettingsError, match="needs LODGE_METRICS_TOKEN"):
        load_settings({name: "127.0.0.1:9100"})
