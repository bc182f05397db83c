"""Campus systems' requests over the broker, end to end: a registered system publishes
CloudEvents on lodge.inbox as its own RabbitMQ user, with pika, and hears its replies on
its own queue; RabbitMQ itself refuses what its account may not do."""

import hashlib
import json
import os
import signal
import uuid

import pika
import pytest
import requests
from pika.exceptions import ChannelClosedByBroker

from tests.support.campus import (
    PDF,
    THESIS,
    CampusSystem,
    event,
    inbox_dead_letters,
    inline_file,
    url_file,
)
from tests.support.file_server import FileServer
from tests.support.system import (
    RABBIT_AUTH,
    close_broker_connections,
    expect,
    pg_admin,
    poll_until,
)


@pytest.fixture(scope="module")
def file_server():
    """The thesis workflow's own file server (plain HTTP on loopback, which its allow-list
    names outright)."""
    with FileServer() as server:
        yield server


@pytest.fixture(scope="module")
def thesis_system(lodge_system, file_server):
    """The thesis workflow: mediated deposits of theses, drafts of open works. Its account
    holds no role: intake takes the system's registration instead."""
    system = CampusSystem(
        lodge_system,
        "thesisflow",
        {"thesis": "mediated", "open-works": "draft"},
        allowed_hosts=[file_server.host],
    )
    system.register().start()
    yield system
    system.stop()


@pytest.fixture(scope="module")
def identity_system(lodge_system):
    """The campus identity system: it sends person events, and deposits with no profile."""
    system = CampusSystem(lodge_system, "idm", {}, sends_people=True)
    system.register().start()
    yield system
    system.stop()


PERSON_LEFT = "org.lodge.campus.person.left.v1"


def test_a_person_who_left_is_deactivated_and_their_token_stops(
    lodge_system, identity_system, thesis_system
):
    username = f"leaver-{uuid.uuid4().hex[:12]}"
    identity_system.add_account(username)
    patron = lodge_system.client(username)
    expect(patron.get("/api/v1/deposits"), 200)
    # only the identity system may say who left
    refused = thesis_system.request(
        event({"person": {"username": username}}, type_=PERSON_LEFT), topic="person"
    )
    assert refused["error"]["code"] == "forbidden"
    assert refused["error"]["fields"] == {"type": ["this system does not send people"]}
    expect(patron.get("/api/v1/deposits"), 200)

    left = event({"person": {"username": username}}, type_=PERSON_LEFT)
    data = identity_system.request(left, topic="person")
    assert data["error"] is None, data
    assert data["outcome"]["outcome"] == "deactivated"
    assert patron.get("/api/v1/deposits").status_code == 401
    again = identity_system.request(left, topic="person")
    assert again["duplicate"] is True and again["outcome"] == data["outcome"]


def thesis_request(title: str, **data) -> dict:
    return event(
        {
            "depositor": {"username": "student"},
            "profile_id": "thesis",
            "metadata": {**THESIS, "title": title},
            "accept_terms": True,
            "files": [
                inline_file("thesis.pdf", PDF),
                inline_file("data.csv", b"tide,height\n1,2\n"),
            ],
            "submit": True,
            **data,
        }
    )


def deposits_titled(lodge_system, title: str) -> list[dict]:
    admin = lodge_system.client("admin")
    found = expect(admin.get("/api/v1/staff/deposits", params={"q": title}), 200)["items"]
    return [deposit for deposit in found if deposit["title"] == title]


def test_a_deposit_request_is_archived_and_answered_once(lodge_system, thesis_system, file_server):
    """Two files by URL from the system's own server, one inline."""
    key = uuid.uuid4().hex
    title = f"Tides {key}"
    appendix = f"Appendix of {title}".encode()
    file_server.serve(f"/{key}/thesis.pdf", PDF)
    file_server.serve(f"/{key}/appendix.txt", appendix)
    request = thesis_request(
        title,
        files=[
            url_file("thesis.pdf", PDF, file_server.url(f"/{key}/thesis.pdf")),
            url_file("appendix.txt", appendix, file_server.url(f"/{key}/appendix.txt")),
            inline_file("data.csv", b"tide,height\n1,2\n"),
        ],
    )
    thesis_system.publish(request, correlation_id="thesis-42")
    reply_properties, reply = thesis_system.reply_to("thesis-42")
    assert reply["type"] == "org.lodge.campus.request.accepted.v1"
    assert reply["correlationid"] == "thesis-42" and reply["lodgerequestid"] == request["id"]
    assert reply_properties.content_type == "application/cloudevents+json"
    data = reply["data"]
    assert data["request"] == {
        "source": request["source"],
        "id": request["id"],
        "type": request["type"],
    }
    assert data["duplicate"] is False and data["error"] is None
    staff = lodge_system.client("staff")
    archived = lodge_system.wait_for_status(staff, data["deposit_id"], "archived", timeout=90)
    assert archived["depositor"]["email"] == "student@example.edu"
    assert sorted((f["filename"], f["sha256"]) for f in archived["files"]) == sorted(
        (name, hashlib.sha256(content).hexdigest())
        for name, content in (
            ("thesis.pdf", PDF),
            ("appendix.txt", appendix),
            ("data.csv", b"tide,height\n1,2\n"),
        )
    )
    statuses = [entry["to_status"] for entry in archived["history"]]
    assert {"submitted", "approved", "archived"} <= set(statuses)

    # the same event again: the same answer, marked duplicate, and nothing new made
    again = thesis_system.request(request)
    assert again["duplicate"] is True and again["deposit_id"] == data["deposit_id"]
    assert [d["id"] for d in deposits_titled(lodge_system, title)] == [data["deposit_id"]]


def test_the_system_hears_the_lifecycle_of_the_deposit_it_made(lodge_system, thesis_system):
    data = thesis_system.request(thesis_request(f"Lifecycle {uuid.uuid4().hex}"))
    _, _, archived = thesis_system.next_heard(
        lambda key, _, ev: (
            key.startswith("system.thesisflow.")
            and ev["data"].get("deposit_id") == data["deposit_id"]
            and ev["data"].get("to_status") == "archived"
        ),
        timeout=45,
    )
    assert archived["data"]["origin"]["event_id"] == data["request"]["id"]


def test_binary_mode_with_each_header_prefix_is_taken(lodge_system, thesis_system):
    for prefix in ("cloudEvents_", "cloudEvents:", "ce_"):
        request = thesis_request(f"Binary {prefix} {uuid.uuid4().hex}", submit=False)
        headers = {
            f"{prefix}{name}": request[name] for name in ("specversion", "id", "source", "type")
        }
        thesis_system.publish(
            json.dumps(request["data"]).encode(), content_type="application/json", headers=headers
        )
        _, reply = thesis_system.reply_to(request["id"])
        assert reply["data"]["error"] is None, reply["data"]
        assert reply["data"]["status"] == "draft"


def test_a_profile_the_system_may_not_use_is_refused_in_the_reply(lodge_system, thesis_system):
    request = thesis_request("Not registered")
    request["data"]["profile_id"] = "datasets"
    data = thesis_system.request(request)
    assert data["error"]["code"] == "forbidden"
    assert data["error"]["fields"] == {"profile_id": ["not registered for this system"]}
    assert data["deposit_id"] is None


def test_draft_mode_refuses_to_submit(lodge_system, thesis_system):
    request = thesis_request("A draft to submit")
    request["data"].update(profile_id="open-works", submit=True)
    data = thesis_system.request(request)
    assert data["error"]["code"] == "invalid_input"
    assert data["error"]["fields"] == {"submit": ["not allowed in draft mode"]}


def test_a_refusal_after_the_deposit_was_made_leaves_no_draft(lodge_system, thesis_system):
    """The thesis profile takes no .exe: the deposit made for the request is withdrawn."""
    title = f"With a program {uuid.uuid4().hex}"
    request = thesis_request(title)
    request["data"]["files"].append(inline_file("setup.exe", b"MZ\x90\x00"))
    data = thesis_system.request(request)
    assert data["error"] is not None and data["deposit_id"] is None
    assert set(data["error"]["fields"]) == {"files"}
    assert "2" in data["error"]["fields"]["files"]
    assert [d["status"] for d in deposits_titled(lodge_system, title)] == ["withdrawn"]


HOSTILE = {
    "not JSON": (b"{not json", "application/cloudevents+json", "body"),
    "not UTF-8": (b'{"id": "\xff\xfe"}', "application/cloudevents+json", "body"),
    "deep nesting": (b"[" * 200 + b"]" * 200, "application/cloudevents+json", "body"),
    "no CloudEvent": (b'{"data": {}}', "application/json", "content_type"),
    "data not JSON": (b"<xml/>", "application/xml", "content_type"),
}


@pytest.mark.parametrize("case", sorted(HOSTILE))
def test_an_unreadable_message_is_refused_and_dead_lettered(lodge_system, thesis_system, case):
    body, content_type, _ = HOSTILE[case]
    correlation = uuid.uuid4().hex
    thesis_system.publish(body, content_type=content_type, correlation_id=correlation)
    _, reply = thesis_system.reply_to(correlation)
    assert reply["type"] == "org.lodge.campus.request.refused.v1"
    assert reply["data"]["error"]["code"] == "invalid_input"
    assert reply["data"]["error"]["fields"]
    poll_until(
        lambda: any(
            m["properties"].get("correlation_id") == correlation
            for m in inbox_dead_letters(lodge_system)
        ),
        timeout=30,
        description=f"{case}: a dead letter",
    )


def refusal(system: CampusSystem, request: dict) -> dict:
    data = system.request(request)
    assert data["error"] is not None and data["deposit_id"] is None, data
    return data["error"]


def test_bad_attributes_and_data_are_refused_with_field_messages(lodge_system, thesis_system):
    wrong_version = event({}, specversion="0.3")
    assert refusal(thesis_system, wrong_version)["fields"] == {"specversion": ["must be 1.0"]}
    numeric_id = event({})
    numeric_id["id"], correlation = 42, uuid.uuid4().hex
    thesis_system.publish(numeric_id, correlation_id=correlation)
    assert thesis_system.reply_to(correlation)[1]["data"]["error"]["fields"] == {
        "id": ["is required"]
    }
    control = event({}, source="https://x.example.edu/\x07bell")
    assert "source" in refusal(thesis_system, control)["fields"]
    unknown = event({}, type_="org.example.other.v1")
    assert "type" in refusal(thesis_system, unknown)["fields"]
    person_on_deposit = event({}, type_="org.lodge.campus.person.left.v1")
    assert refusal(thesis_system, person_on_deposit)["fields"] == {"type": ["not a deposit event"]}
    not_an_object = event(["a", "list"])
    assert refusal(thesis_system, not_an_object)["fields"] == {"data": ["not an object"]}
    wrong_types = thesis_request("Wrong types", submit="maybe")
    wrong_types["data"]["files"][0]["size"] = "12"
    fields = refusal(thesis_system, wrong_types)["fields"]
    assert "submit" in fields and "files" in fields
    nul = thesis_request("Null \x00 byte")
    assert "data.metadata.title" in refusal(thesis_system, nul)["fields"]
    unknown_patron = thesis_request("Nobody's", depositor={"username": "nobody-at-all"})
    assert refusal(thesis_system, unknown_patron)["fields"] == {
        "depositor": {"username": ["names no active account"]}
    }
    damaged = thesis_request("Damaged")
    damaged["data"]["files"][0]["sha256"] = "0" * 64
    assert refusal(thesis_system, damaged)["fields"] == {
        "files": {"0": {"sha256": ["does not match the file fetched"]}}
    }
    not_base64 = thesis_request("Not base64")
    not_base64["data"]["files"][0]["content"] = "!!!"
    assert refusal(thesis_system, not_base64)["fields"] == {
        "files": {"0": {"content": ["not valid base64"]}}
    }
    too_large = thesis_request("Too large")
    too_large["data"]["files"] = [inline_file("big.txt", b"x" * (1024 * 1024 + 1))]
    error = refusal(thesis_system, too_large)
    assert error["fields"] == {"files": {"0": {"content": ["larger than 1048576 bytes"]}}}
    elsewhere = thesis_request("From a host not allowed")
    elsewhere["data"]["files"] = [url_file("x.pdf", PDF, "https://files.example.org/x.pdf")]
    assert set(refusal(thesis_system, elsewhere)["fields"]["files"]["0"]) == {"url"}


def test_forged_sender_fields_count_for_nothing(lodge_system, thesis_system):
    """Only the broker user says who sent a request: extension attributes naming another
    system, and an actor in the data, are no way in."""
    title = f"Forged {uuid.uuid4().hex}"
    request = thesis_request(title, submit=False)
    request.update(lodgesystem="another", lodgerequestid="x", correlationid="forged")
    data = thesis_system.request(request)
    assert data["error"] is None
    forged = thesis_request("Forged actor")
    forged["data"]["actor"] = {"username": "admin"}
    assert refusal(thesis_system, forged)["fields"] == {"actor": ["Unknown field."]}


def test_a_message_without_a_user_id_is_dead_lettered_unanswered(lodge_system, thesis_system):
    correlation = uuid.uuid4().hex
    thesis_system.publish(event({}), correlation_id=correlation, user_id="")
    poll_until(
        lambda: any(
            m["properties"].get("correlation_id") == correlation
            and "no user_id" in m["properties"]["headers"]["x-lodge-error"]
            for m in inbox_dead_letters(lodge_system)
        ),
        timeout=30,
        description="a dead letter for a message without user_id",
    )
    assert all(
        props.correlation_id != correlation for _, props, _ in list(thesis_system.heard.queue)
    )


def test_rabbitmq_refuses_another_users_id_and_another_systems_keys(lodge_system, thesis_system):
    connection = thesis_system.connect()
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel.basic_publish(
            "lodge.inbox",
            "thesisflow.deposit",
            json.dumps(event({})).encode(),
            pika.BasicProperties(user_id="lodge-inbox", content_type="application/json"),
        )
    assert refused.value.reply_code == 406  # PRECONDITION_FAILED: user_id is not the user's
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel.basic_publish(
            "lodge.inbox",
            "othersystem.deposit",
            json.dumps(event({})).encode(),
            pika.BasicProperties(user_id=thesis_system.broker_user),
        )
    assert refused.value.reply_code == 403  # ACCESS_REFUSED by its topic permission
    channel = connection.channel()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel.queue_bind(
            f"campus.{thesis_system.name}.events", "lodge.events", routing_key="system.other.#"
        )
    assert refused.value.reply_code == 403
    connection.close()


def test_an_unregistered_broker_user_is_refused_by_rabbitmq(lodge_system, thesis_system):
    """A user of the broker with no grant on lodge.inbox (here: one for its own queues)."""
    user, password = f"stranger-{lodge_system.run_id}", uuid.uuid4().hex
    api = lodge_system.rabbit_api
    requests.put(
        f"{api}/users/{user}", auth=RABBIT_AUTH, json={"password": password, "tags": ""}, timeout=10
    ).raise_for_status()
    lodge_system.broker_users.append(user)
    vhost = requests.utils.quote(lodge_system.vhost, safe="")
    requests.put(
        f"{api}/permissions/{vhost}/{user}",
        auth=RABBIT_AUTH,
        json={"configure": "^stranger\\..*", "write": "^stranger\\..*", "read": "^stranger\\..*"},
        timeout=10,
    ).raise_for_status()
    connection = thesis_system.connect(user, password)
    channel = connection.channel()
    channel.confirm_delivery()
    with pytest.raises(ChannelClosedByBroker) as refused:
        channel.basic_publish(
            "lodge.inbox",
            "stranger.deposit",
            json.dumps(event({})).encode(),
            pika.BasicProperties(user_id=user),
        )
    assert refused.value.reply_code == 403
    assert "ACCESS_REFUSED" in str(refused.value)
    if connection.is_open:
        connection.close()


def test_faults_lose_no_request_and_make_each_deposit_once(lodge_system, thesis_system):
    """The inbox is killed (-9) while it works through requests, then the broker drops its
    connection and PostgreSQL its database connections: every request is answered, and
    each made one deposit."""
    titles = {uuid.uuid4().hex: f"Faults {uuid.uuid4().hex}" for _ in range(8)}
    for correlation, title in titles.items():
        request = thesis_request(title, submit=False)
        thesis_system.publish(request, correlation_id=correlation)
    answered = {}
    first = next(iter(titles))
    answered[first] = thesis_system.reply_to(first, timeout=90)[1]["data"]
    os.kill(lodge_system.processes()["inbox"], signal.SIGKILL)
    poll_until(
        lambda: "inbox" in lodge_system.processes(), timeout=60, description="the inbox restarts"
    )
    poll_until(
        lambda: close_broker_connections(lodge_system.vhost, "lodge-inbox", "test: dropped"),
        timeout=60,
        description="the inbox's connection is dropped",
    )
    database = lodge_system.database_urls["gateway"].rsplit("/", 1)[1]
    pg_admin(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        f"WHERE datname = '{database}' AND pid <> pg_backend_pid()"
    )
    for correlation in titles:
        if correlation not in answered:
            answered[correlation] = thesis_system.reply_to(correlation, timeout=120)[1]["data"]
    assert all(data["error"] is None for data in answered.values()), answered
    for correlation, title in titles.items():
        made = deposits_titled(lodge_system, title)
        assert [d["id"] for d in made] == [answered[correlation]["deposit_id"]], title
