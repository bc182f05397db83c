"""A broker setting may list every node of a RabbitMQ cluster, in kombu's failover form."""

from __future__ import annotations

import logging

import pytest
from kombu import Connection

from kernel.platform.config import SettingsError, broker_nodes, each_node_once, load_settings
from kernel.platform.messaging import HiddenBrokerPasswords
from lodge.broker_users import management_url, vhost_of

NODES = "amqp://lodge:pw@mq-0:5672/lodge;amqp://lodge:pw@mq-1:5672/lodge;amqp://lodge:pw@mq-2:5672/lodge"


def test_every_node_is_kept_in_order_and_kombu_fails_over_along_them():
    settings = load_settings({"LODGE_AMQP_URI": NODES.replace(";", " ; ") + ";"})
    assert settings.broker.amqp_uri == NODES
    assert broker_nodes(settings.broker_uri("intake")) == tuple(NODES.split(";"))
    connection = Connection(settings.broker.amqp_uri)
    hosts = [connection.hostname]
    for _ in range(3):
        connection.maybe_switch_next()  # what kombu does after a failed attempt
        hosts.append(connection.hostname)
    assert hosts == ["mq-0", "mq-1", "mq-2", "mq-0"]


def test_each_node_is_tried_once_and_a_lone_node_twice():
    assert each_node_once(NODES) == 2  # kombu's max_retries: three attempts
    assert each_node_once("amqp://guest:guest@127.0.0.1:5672/") == 1


def test_broker_users_read_the_account_and_vhost_of_the_first_node():
    assert vhost_of(NODES) == "lodge"
    assert management_url(NODES) == "http://mq-0:15672/api"


@pytest.mark.parametrize(
    ("value", "wanted"),
    [
        (";", "amqp://"),
        ("amqp://lodge:pw@mq-0/lodge;http://lodge:pw@mq-1/lodge", "amqp://"),
        ("amqp://lodge:pw@mq-0/lodge;mq-1", "amqp://"),
        # one node under another account or virtual host is not the same broker
        ("amqp://lodge:pw@mq-0/lodge;amqp://admin:pw@mq-1/lodge", "same user"),
        ("amqp://lodge:pw@mq-0/lodge;amqp://lodge:other@mq-1/lodge", "same user"),
        ("amqp://lodge:pw@mq-0/lodge;amqp://lodge:pw@mq-1/other", "virtual host"),
        ("amqp://lodge:pw@mq-0/lodge;amqp://lodge:pw@mq-1/lodge\x00", "control characters"),
        ("amqp://lodge:pw@mq-0/lo\x1bdge", "control characters"),
    ],
)
def test_a_node_list_that_is_not_one_broker_stops_the_start(value, wanted):
    for name in ("LODGE_AMQP_URI", "LODGE_AMQP_URI_INTAKE"):
        with pytest.raises(SettingsError) as raised:
            load_settings({name: value})
        assert str(raised.value).startswith(f"{name}={value!r} ") and wanted in str(raised.value)


def test_a_long_node_list_is_read_whole():
    many = ";".join(f"amqp://lodge:pw@mq-{n}:5672/lodge" for n in range(2000))
    assert len(broker_nodes(load_settings({"LODGE_AMQP_URI": many}).broker.amqp_uri)) == 2000


def test_no_node_password_reaches_the_log():
    record = logging.LogRecord(
        "nameko.amqp.consume",
        logging.WARNING,
        __file__,
        1,
        "Error connecting to %s (%s)",
        (NODES.replace("pw@mq-0", "********@mq-0"), "refused"),
        None,
    )
    assert HiddenBrokerPasswords().filter(record)
    assert "pw@" not in record.getMessage() and record.getMessage().count("********@") == 3
    assert "lodge:********@mq-2:5672/lodge (refused)" in record.getMessage()
