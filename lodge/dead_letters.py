"""`lodge dead-letters list|show|replay|drop`: the services' dead letters, over their RPCs.

A letter is named `SERVICE/ID` (ids are per service). Replay and drop take names, or the
same filters as `list` with `--yes`, so a whole batch is one command but never by mistake.
The command acts as an administrator named after the operating-system user, as the
service logs and the audit columns show; whoever holds LODGE_AMQP_URI may do as much.
"""

from __future__ import annotations

import base64
import getpass
import json
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import click

from kernel.contracts.actors import Actor
from kernel.contracts.dead_letters import PARKED, STATES
from kernel.contracts.exceptions import LodgeError
from kernel.platform.config import get_settings
from kernel.policy.permissions import ADMIN
from kernel.policy.text import user_pattern
from lodge.registry import SERVICE_CLASSES

AGE = user_pattern(r"^([1-9][0-9]{0,5})([mhdw])$")
AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
NAME = user_pattern(r"^([a-z]{1,20})/([1-9][0-9]{0,9})$")
MAX_BATCH = 10000
MAX_AGE = timedelta(days=100 * 366)
PAGE = 100


def cli_actor() -> dict:
    user = getpass.getuser()
    return Actor(id=f"cli:{user}", username=f"cli:{user}", name=user, roles=(ADMIN,)).to_wire()


def age(text: str | None) -> timedelta | None:
    if text is None:
        return None
    match = AGE.fullmatch(text)
    if match is None:
        raise click.BadParameter(f"{text!r} is not an age such as 30m, 2h, 3d or 1w")
    found = timedelta(**{AGE_UNITS[match[2]]: int(match[1])})
    if found > MAX_AGE:
        raise click.BadParameter(f"{text!r} is longer ago than Lodge keeps anything")
    return found


def letter_name(text: str) -> tuple[str, int]:
    match = NAME.fullmatch(text)
    if match is None or match[1] not in SERVICE_CLASSES:
        raise click.BadParameter(f"{text!r} is not a dead letter's name such as intake/12")
    return match[1], int(match[2])


def filters(options: dict) -> dict:
    now = datetime.now(UTC)
    older, newer = age(options["older_than"]), age(options["newer_than"])
    found = {"state": options.get("state") or PARKED, "reason": options["reason"]}
    if older is not None:
        found["failed_before"] = (now - older).isoformat()
    if newer is not None:
        found["failed_after"] = (now - newer).isoformat()
    return {key: value for key, value in found.items() if value is not None}


def filter_options(command):
    for option in reversed(
        (
            click.option(
                "--service",
                "services",
                multiple=True,
                type=click.Choice(sorted(SERVICE_CLASSES)),
                help="only this service's (repeat for more; default every service)",
            ),
            click.option("--reason", help="the reason contains these words (any case)"),
            click.option("--older-than", help="failed longer ago than this: 30m, 2h, 3d, 1w"),
            click.option("--newer-than", help="failed within this: 30m, 2h, 3d, 1w"),
        )
    ):
        command = option(command)
    return command


class Desk:
    """The services' dead-letter RPCs, called as the command line's administrator."""

    def __init__(self):
        # nameko loads eventlet: `lodge service` must monkey-patch before, so not at import
        from nameko.standalone.rpc import ClusterRpcClient

        self.client = ClusterRpcClient(uri=get_settings().broker.amqp_uri, timeout=30)
        self.actor = cli_actor()

    def __enter__(self) -> Desk:
        self.proxy = self.client.start()
        return self

    def __exit__(self, *exc_info) -> None:
        self.client.stop()

    def call(self, service: str, method: str, **kwargs):
        from nameko.exceptions import RpcTimeout, UnknownService

        try:
            return getattr(getattr(self.proxy, service), method)(actor=self.actor, **kwargs)
        except LodgeError as err:
            fields = f" {json.dumps(err.fields)}" if err.fields else ""
            raise click.ClickException(f"{service}: {err}{fields}") from None
        except (RpcTimeout, UnknownService):
            raise click.ClickException(f"the {service} service did not answer") from None

    def letters(self, services, found: dict, limit: int) -> Iterator[dict]:
        for service in services or sorted(SERVICE_CLASSES):
            taken, page = 0, 1
            while taken < limit:
                result = self.call(service, "list_dead_letters", page=page, per_page=PAGE, **found)
                for item in result["items"][: limit - taken]:
                    yield item
                    taken += 1
                if page * PAGE >= result["total"]:
                    break
                page += 1


def since(when: str) -> str:
    seconds = int((datetime.now(UTC) - datetime.fromisoformat(when)).total_seconds())
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{max(seconds, 0)}s"


def line(letter: dict) -> str:
    reason = letter["reason"].splitlines()[0] if letter["reason"] else ""
    return (
        f"{letter['service']}/{letter['id']}\t{letter['state']}\t{since(letter['failed_at'])}"
        f"\t{letter['queue'] or '-'}\t{reason[:120]}"
    )


@click.group("dead-letters")
def dead_letters():
    """Messages the services could not handle: list, show, replay or drop them."""


@dead_letters.command("list")
@filter_options
@click.option("--state", type=click.Choice(STATES), default=PARKED, show_default=True)
@click.option("--limit", type=click.IntRange(1, MAX_BATCH), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="one JSON array, for scripts")
def list_letters(services, limit, as_json, **options):
    """Dead letters, newest failure first: name, state, age, queue, reason."""
    with Desk() as desk:
        found = list(desk.letters(services, filters(options), limit))
    if as_json:
        click.echo(json.dumps(found, indent=2))
        return
    for letter in found:
        click.echo(line(letter))
    click.echo(f"{len(found)} dead letter(s)", err=True)


@dead_letters.command("show")
@click.argument("name")
@click.option("--json", "as_json", is_flag=True, help="the letter as JSON")
@click.option(
    "--raw", is_flag=True, help="the payload's bytes only (as stored, up to 256 KiB), to a pipe"
)
def show(name, as_json, raw):
    """One dead letter (NAME is SERVICE/ID) with its headers and payload."""
    service, letter_id = letter_name(name)
    with Desk() as desk:
        letter = desk.call(service, "get_dead_letter", letter_id=letter_id)
    if raw:
        payload = letter["payload"]
        data = (
            base64.b64decode(payload)
            if letter["payload_encoding"] == "base64"
            else payload.encode("utf-8")
        )
        sys.stdout.buffer.write(data)
        return
    if as_json:
        click.echo(json.dumps(letter, indent=2))
        return
    for key in ("state", "queue", "failed_at", "host", "attempts", "content_type", "size"):
        click.echo(f"{key}: {letter[key]}")
    click.echo(f"reason: {letter['reason']}")
    if letter["replays"]:
        click.echo(f"replayed {letter['replays']}x, last by {letter['replayed_by']}")
    if letter["state"] == "dropped":
        click.echo(f"dropped by {letter['dropped_by']}: {letter['drop_note']}")
    click.echo(f"headers: {json.dumps(letter['headers'])}")
    cut = " (cut)" if letter["payload_truncated"] else ""
    click.echo(f"payload ({letter['payload_encoding']}){cut}:")
    click.echo(letter["payload"])


def chosen(desk: Desk, names, services, yes: bool, options: dict) -> list[tuple[str, int]]:
    """The letters named, or else those the filters find (only with --yes)."""
    filtered = any(options.values()) or services
    if names and filtered:
        raise click.UsageError("name letters or filter them, not both")
    if names:
        return [letter_name(name) for name in names]
    if not yes:
        raise click.UsageError("name the letters, or filter them and add --yes to take all")
    found = desk.letters(services, filters(options), MAX_BATCH)
    return [(letter["service"], letter["id"]) for letter in found]


@dead_letters.command("replay")
@click.argument("names", nargs=-1)
@filter_options
@click.option("--yes", is_flag=True, help="act on every parked letter the filters find")
def replay(names, services, yes, **options):
    """Send dead letters (NAMES: SERVICE/ID ...) back to their handler, once its cause is
    fixed; the handler's idempotency makes a replay of something done do nothing."""
    with Desk() as desk:
        for service, letter_id in chosen(desk, names, services, yes, options):
            desk.call(service, "replay_dead_letter", letter_id=letter_id)
            click.echo(f"replayed {service}/{letter_id}")


@dead_letters.command("drop")
@click.argument("names", nargs=-1)
@filter_options
@click.option("--note", default="", help="why, kept with the letter")
@click.option("--yes", is_flag=True, help="act on every parked letter the filters find")
def drop(names, services, note, yes, **options):
    """Give up on dead letters (NAMES: SERVICE/ID ...); they stay listed as dropped."""
    with Desk() as desk:
        for service, letter_id in chosen(desk, names, services, yes, options):
            desk.call(service, "drop_dead_letter", letter_id=letter_id, note=note)
            click.echo(f"dropped {service}/{letter_id}")
