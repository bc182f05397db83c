"""Dead letters are parked in the service's own database, and an admin lists, shows,
replays and drops them over RPC; a replay runs the normal handler, idempotently."""

import base64
import getpass
import json

import pytest
from click.testing import CliRunner
from nameko.amqp.publish import Publisher
from nameko.standalone.events import get_event_exchange
from nameko.standalone.rpc import ClusterRpcClient
from prometheus_client import REGISTRY
from sqlalchemy import select

from kernel.contracts.events import dedupe_key, new_event
from kernel.contracts.exceptions import Conflict, Forbidden, InvalidInput, NotFound
from kernel.platform.db import Database, DeadLetter
from kernel.platform.dead_letters import DeadLetterDesk
from kernel.platform.dependencies import Store
from kernel.platform.messaging import DEAD_LETTER_EXCHANGE, handles_event
from lodge.cli import main
from lodge.topology import declare
from tests.services.conftest import MANAGER
from tests.support.system import poll_until

ADMIN = {**MANAGER, "id": "u-admin", "username": "admin", "name": "Ada Admin", "roles": ["admin"]}
QUEUE = "evt-intake-deposit_withdrawn--letters.on_withdrawn"
applied: list[str] = []


class Letters(DeadLetterDesk):
    """Stands in for the letters service: a handler that fails until its cause is fixed."""

    name = "letters"
    store = Store()
    broken = True

    @handles_event("intake", "deposit_withdrawn")
    def on_withdrawn(self, event):
        if Letters.broken:
            raise RuntimeError("mail server unreachable")
        with self.store.unit_of_work() as uow:
            if uow.first_time(dedupe_key("intake", "deposit_withdrawn", event)):
                applied.append(event["deposit_id"])


@pytest.fixture
def letters(container_factory, broker, migrated):
    declare(broker["AMQP_URI"], [Letters])
    url = migrated("letters")
    applied.clear()
    Letters.broken = True
    container = container_factory(Letters, broker)
    container.start()
    yield Database(url, "letters")
    Letters.broken = True


@pytest.fixture
def rpc(broker):
    with ClusterRpcClient(uri=broker["AMQP_URI"], timeout=10) as client:
        yield client.letters


def withdrawn(deposit_id):
    return new_event(
        "intake", "deposit_withdrawn", deposit_id=deposit_id, revision=1, actor={"id": "u1"}
    )


def publish_event(amqp_uri, payload):
    Publisher(amqp_uri).publish(
        payload, exchange=get_event_exchange("intake"), routing_key="deposit_withdrawn"
    )


def park_directly(amqp_uri, body, headers, content_type="application/json"):
    """What a handler would publish, or a forger."""
    Publisher(amqp_uri).publish(
        body,
        exchange=DEAD_LETTER_EXCHANGE,
        routing_key="letters",
        headers=headers,
        serializer=None,
        content_type=content_type,
        content_encoding="binary",
    )


def parked(rpc, total=1, **filters):
    return poll_until(
        lambda: (page := rpc.list_dead_letters(actor=ADMIN, **filters))["total"] == total and page,
        timeout=20,
        description=f"{total} dead letter(s) parked",
    )


def parked_gauge() -> float | None:
    return REGISTRY.get_sample_value("lodge_dead_letters_parked", {"service": "letters"})


def test_a_failing_message_is_parked_then_replayed_once_the_cause_is_fixed(letters, rpc, broker):
    publish_event(broker["AMQP_URI"], withdrawn("d1"))
    [letter] = parked(rpc)["items"]
    assert letter["reason"] == "RuntimeError: mail server unreachable"
    assert letter["queue"] == QUEUE
    assert letter["attempts"] == 3
    assert letter["state"] == "parked"
    assert '"deposit_id": "d1"' in letter["preview"]
    assert parked_gauge() == 1
    shown = rpc.get_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert shown["payload_encoding"] == "text"
    assert '"deposit_id": "d1"' in shown["payload"]
    assert shown["headers"]["x-lodge-queue"] == QUEUE
    assert shown["content_type"] == "application/json"

    Letters.broken = False
    replayed = rpc.replay_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert replayed["state"] == "replayed" and replayed["replayed_by"] == "admin"
    poll_until(lambda: applied == ["d1"], timeout=15, description="the replay handled")
    # a second replay reaches the handler too, whose idempotency key makes it do nothing
    again = rpc.replay_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert again["replays"] == 2
    publish_event(broker["AMQP_URI"], withdrawn("d2"))  # handled after the second replay
    poll_until(lambda: "d2" in applied, timeout=15, description="the next event handled")
    assert applied == ["d1", "d2"]
    assert rpc.list_dead_letters(actor=ADMIN)["total"] == 0
    assert rpc.list_dead_letters(actor=ADMIN, state="replayed")["total"] == 1
    assert parked_gauge() == 0


def test_a_dropped_letter_keeps_who_dropped_it_and_cannot_be_replayed(letters, rpc, broker):
    publish_event(broker["AMQP_URI"], withdrawn("d3"))
    [letter] = parked(rpc)["items"]
    dropped = rpc.drop_dead_letter(actor=ADMIN, letter_id=letter["id"], note="a test deposit")
    assert dropped["state"] == "dropped"
    assert (dropped["dropped_by"], dropped["drop_note"]) == ("admin", "a test deposit")
    with pytest.raises(Conflict):
        rpc.replay_dead_letter(actor=ADMIN, letter_id=letter["id"])
    with pytest.raises(Conflict):
        rpc.drop_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert rpc.count_dead_letters(actor=ADMIN) == {"parked": 0, "replayed": 0, "dropped": 1}
    assert applied == []


def test_an_undecodable_message_is_parked_and_shown_as_base64(letters, rpc, broker):
    body = b"\xff\xfe\x00 not text"
    Publisher(broker["AMQP_URI"]).publish(
        body,
        exchange=get_event_exchange("intake"),
        routing_key="deposit_withdrawn",
        serializer=None,
        content_type="application/x-lodge-unknown",
        content_encoding="binary",
    )
    [letter] = parked(rpc)["items"]
    assert "cannot be decoded as application/x-lodge-unknown" in letter["reason"]
    shown = rpc.get_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert shown["payload_encoding"] == "base64"
    assert base64.b64decode(shown["payload"]) == body
    with letters.reading() as session:
        assert session.scalar(select(DeadLetter.body)) == body  # kept byte for byte


def test_filters_by_reason_age_and_queue(letters, rpc, broker):
    park_directly(
        broker["AMQP_URI"],
        b"{}",
        {"x-lodge-error": "Disk 100% full_now", "x-lodge-failed-at": "2020-01-01T00:00:00+00:00"},
    )
    park_directly(broker["AMQP_URI"], b"{}", {"x-lodge-error": "timeout", "x-lodge-queue": QUEUE})
    parked(rpc, total=2)
    full = rpc.list_dead_letters(actor=ADMIN, reason="100% FULL")
    assert [i["reason"] for i in full["items"]] == ["Disk 100% full_now"]
    assert rpc.list_dead_letters(actor=ADMIN, reason="0%")["total"] == 1  # % is literal
    assert rpc.list_dead_letters(actor=ADMIN, reason="_")["total"] == 1  # so is _
    old = rpc.list_dead_letters(actor=ADMIN, failed_before="2021-01-01T00:00:00+00:00")
    assert [i["reason"] for i in old["items"]] == ["Disk 100% full_now"]
    new = rpc.list_dead_letters(actor=ADMIN, failed_after="2021-01-01T00:00:00+00:00")
    assert [i["reason"] for i in new["items"]] == ["timeout"]
    assert rpc.list_dead_letters(actor=ADMIN, queue=QUEUE)["total"] == 1
    page = rpc.list_dead_letters(actor=ADMIN, per_page=1, page=2)
    assert page["total"] == 2 and [i["reason"] for i in page["items"]] == ["Disk 100% full_now"]


HOSTILE_HEADERS = {
    "x-lodge-error": "bad\x00news\x1b[31m" + "é" * 10000,
    "x-lodge-queue": ["not", "text"],
    "x-lodge-attempts": "many",
    "x-lodge-failed-at": "0001-01-01T00:00:00+23:59",  # before the first UTC time there is
    "x-lodge-host": 42,
    "nameko.call_id_stack": {"forged": True},
    "deep": {"a": {"b": {"c": {"d": {"e": {"f": "too deep"}}}}}},
    "many": list(range(5000)),
    "\x07bell": "\x00",
    "numbers": [2**62, -0.5, True],
}


def test_hostile_headers_are_stored_cleaned_and_capped(letters, rpc, broker):
    park_directly(broker["AMQP_URI"], b"\x00" * 10, HOSTILE_HEADERS, content_type="\x01weird")
    [letter] = parked(rpc)["items"]
    assert letter["reason"].startswith("badnews[31mééé")
    assert len(letter["reason"]) == 4000
    assert letter["queue"] == "" and letter["host"] == "" and letter["attempts"] == 0
    shown = rpc.get_dead_letter(actor=ADMIN, letter_id=letter["id"])
    headers = shown["headers"]
    assert headers["deep"] == {"a": {"b": {"c": "(nested too deep)"}}}
    assert len(headers["many"]) == 100
    assert headers["bell"] == ""
    assert headers["numbers"] == [2**62, -0.5, True]
    assert shown["failed_at"] >= shown["parked_at"][:10]  # the header's time was unusable
    assert shown["content_type"] == "weird"
    # a letter from no queue of the service's cannot be replayed into one
    with pytest.raises(Conflict):
        rpc.replay_dead_letter(actor=ADMIN, letter_id=letter["id"])
    # the consumer carries on
    publish_event(broker["AMQP_URI"], withdrawn("d9"))
    parked(rpc, total=2)


def test_only_admins_see_or_touch_dead_letters(letters, rpc):
    for actor in (MANAGER, {**ADMIN, "roles": ["staff"]}):
        with pytest.raises(Forbidden):
            rpc.list_dead_letters(actor=actor)
        with pytest.raises(Forbidden):
            rpc.replay_dead_letter(actor=actor, letter_id=1)
        with pytest.raises(Forbidden):
            rpc.drop_dead_letter(actor=actor, letter_id=1)
    with pytest.raises(NotFound):
        rpc.get_dead_letter(actor=ADMIN, letter_id=12345)
    for bad in ({"letter_id": "1; drop"}, {"letter_id": 0}, {"letter_id": [1]}):
        with pytest.raises(InvalidInput):
            rpc.get_dead_letter(actor=ADMIN, **bad)
    for bad in ({"reason": "x" * 301}, {"state": "gone"}, {"failed_before": "soon"}):
        with pytest.raises(InvalidInput):
            rpc.list_dead_letters(actor=ADMIN, **bad)
    with pytest.raises(InvalidInput):
        rpc.drop_dead_letter(actor=ADMIN, letter_id=1, note="\u202eevil")


def lodge(*args, exit_code=0):
    result = CliRunner().invoke(main, ["dead-letters", *args])
    assert result.exit_code == exit_code, (result.output, result.exception)
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.stdout  # log lines go to stderr


def test_the_command_line_lists_shows_replays_and_drops(letters, rpc, broker):
    publish_event(broker["AMQP_URI"], withdrawn("d4"))
    publish_event(broker["AMQP_URI"], withdrawn("d5"))
    parked(rpc, total=2)
    [first, second] = json.loads(lodge("list", "--service", "letters", "--json"))
    assert {first["reason"], second["reason"]} == {"RuntimeError: mail server unreachable"}
    listed = lodge("list", "--service", "letters", "--reason", "MAIL server", "--newer-than", "1h")
    assert f"letters/{first['id']}\tparked\t" in listed and QUEUE in listed
    assert lodge("list", "--service", "letters", "--older-than", "1h", "--json") == "[]\n"
    shown = lodge("show", f"letters/{first['id']}")
    assert "reason: RuntimeError: mail server unreachable" in shown
    assert '"deposit_id": "d' in shown
    assert json.loads(lodge("show", f"letters/{first['id']}", "--raw"))["revision"] == 1

    assert lodge("drop", f"letters/{first['id']}", "--note", "duplicate") == (
        f"dropped letters/{first['id']}\n"
    )
    Letters.broken = False
    assert lodge("replay", "--service", "letters", "--yes") == f"replayed letters/{second['id']}\n"
    poll_until(lambda: len(applied) == 1, timeout=15, description="the replay handled")
    dropped = json.loads(lodge("list", "--service", "letters", "--state", "dropped", "--json"))
    assert [(d["dropped_by"], d["drop_note"]) for d in dropped] == [
        (f"cli:{getpass.getuser()}", "duplicate")
    ]


@pytest.mark.parametrize(
    "args, problem",
    [
        (["show", "letters"], "is not a dead letter's name"),
        (["show", "nowhere/1"], "is not a dead letter's name"),
        (["show", "letters/0"], "is not a dead letter's name"),
        (["show", "letters/1\x00"], "is not a dead letter's name"),
        (["show", "letters/" + "9" * 5000], "is not a dead letter's name"),
        (["show", "letters/999"], "There is no such dead letter"),
        (["list", "--service", "letters", "--older-than", "5y"], "is not an age"),
        (["list", "--service", "letters", "--older-than", "9" * 500 + "d"], "is not an age"),
        (["list", "--service", "letters", "--newer-than", "999999w"], "longer ago than"),
        (["list", "--service", "letters", "--reason", "x" * 301], "Longer than maximum"),
        (["list", "--service", "letters", "--reason", "\u202e"], "reason"),
        (["list", "--service", "nowhere"], "Invalid value for '--service'"),
        (["replay", "--service", "letters"], "add --yes"),
        (["drop", "letters/1", "--reason", "x"], "not both"),
        (["drop", "letters/1", "--note", "n" * 3000], "Longer than maximum"),
    ],
)
def test_the_command_line_refuses_bad_input_with_a_message(letters, args, problem):
    result = CliRunner().invoke(main, ["dead-letters", *args])
    assert result.exit_code in (1, 2), result.output
    assert isinstance(result.exception, SystemExit)  # a message, never a traceback
    assert problem in result.output


def test_a_long_payload_is_shown_from_its_start_cut_between_characters(letters, rpc, broker):
    body = b"a" + "é".encode() * 200_000  # the 256 KiB cut falls inside an é
    park_directly(broker["AMQP_URI"], body, {"x-lodge-error": "too long to show"})
    [letter] = parked(rpc)["items"]
    assert letter["size"] == len(body) and letter["preview"] == "a" + "é" * 199
    shown = rpc.get_dead_letter(actor=ADMIN, letter_id=letter["id"])
    assert shown["payload_encoding"] == "text" and shown["payload_truncated"] is True
    assert shown["payload"] == "a" + "é" * (256 * 1024 // 2 - 1)
