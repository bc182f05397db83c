"""`lodge run | service NAME | gateway | inbox | migrate | await-migrations [OWNER...] | seed |
token USERNAME | broker-users | expire-uploads | export-bag ITEM | warn-expiring-tokens |
dead-letters` (`lodge --help`)."""

from __future__ import annotations

import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from typing import cast

import click

from kernel.platform.config import DATABASE_OWNERS, SettingsError, each_node_once, get_settings
from lodge.dead_letters import dead_letters
from lodge.registry import SERVICE_CLASSES

# gunicorn's combined format, then the ids the gateway answered with
ACCESS_LOG_FORMAT = (
    '%(h)s %(l)s %(u)s %(t)s "%(r)s" %(s)s %(b)s "%(f)s" "%(a)s" %(L)ss '
    "correlation=%({x-correlation-id}o)s request=%({x-request-id}o)s"
)
# what gunicorn accepts before the app runs: the request line, the header count, one header
REQUEST_LIMITS = {
    "limit_request_line": 8190,
    "limit_request_fields": 60,
    "limit_request_field_size": 8190,
}


# `lodge run` starts every process while `lodge migrate --seed` runs, so that their imports
# (seconds of CPU each) overlap it; each waits for this file before it serves
after_migrations = click.option(
    "--after",
    "gate",
    type=click.Path(),
    default=None,
    hidden=True,
    help="serve only once this file exists (lodge run makes it when migrate --seed is done)",
)


def await_gate(gate: str | None) -> None:
    if gate is None:
        return
    while not os.path.exists(gate):
        time.sleep(0.05)


@click.group()
@click.pass_context
def main(context):
    """Lodge: self-deposit for institutional repositories."""
    try:
        get_settings()
    except SettingsError as err:
        raise click.ClickException(f"a setting is wrong: {err}") from None
    log_as(context.invoked_subcommand or "lodge")


def log_as(process: str) -> None:
    """Every command logs as its process: JSON lines or text (LODGE_LOG_FORMAT)."""
    from kernel.platform.observability import configure_logging

    settings = get_settings()
    configure_logging(process, settings.processes.log_level, settings.processes.log_format)


def require_broker(process: str | None = None) -> None:
    """Fail with a clear message unless the broker takes `process`'s account (or, with
    no process, the shared LODGE_AMQP_URI that `lodge migrate` uses)."""
    from kombu import Connection
    from nameko.utils import sanitize_url

    settings = get_settings()
    uri = settings.broker_uri(process) if process else settings.broker.amqp_uri
    try:
        with Connection(uri, connect_timeout=3) as connection:
            connection.ensure_connection(max_retries=each_node_once(uri))
    except Exception as err:  # noqa: BLE001 - whatever kombu raised, the broker is not there
        raise click.ClickException(
            f"RabbitMQ is not reachable at {sanitize_url(uri)} ({err}).\n"
            "Start it with 'sudo rabbitmq-server -detached' (or 'sudo systemctl start "
            "rabbitmq-server'), or point LODGE_AMQP_URI at a running broker."
        ) from None


@main.command()
@click.option("--seed", "and_seed", is_flag=True, help="then seed the demo data, as `lodge seed`")
def migrate(and_seed: bool):
    """Bring every database up to date and declare the broker's queues."""
    from lodge.migrations import upgrade
    from lodge.topology import declare

    require_broker()
    settings = get_settings()
    # the broker first: services declare no exchange, and their init containers wait only
    # for the databases, so the exchanges exist before the first database is current
    click.echo(f"declared {len(declare(settings.broker.amqp_uri))} event queues")
    for owner in DATABASE_OWNERS:
        upgrade(owner, settings.database_url(owner))
        click.echo(f"migrated {owner}")
    if settings.storage.backend == "s3":
        from kernel.platform.storage import S3Storage, get_storage

        created = cast(S3Storage, get_storage()).ensure_bucket()
        click.echo(f"{'created' if created else 'found'} S3 bucket {settings.storage.s3_bucket}")
    if and_seed:
        _seed()


main.add_command(dead_letters)


@main.command("broker-users")
@click.option(
    "--apply",
    "apply_",
    is_flag=True,
    help="create or update them through the RabbitMQ management HTTP API",
)
@click.option(
    "--campus",
    multiple=True,
    metavar="NAME",
    help="repeatable: a read-only account campus-NAME for a consumer of lodge.events",
)
@click.option(
    "--management-url",
    default=None,
    help="default: LODGE_BROKER_MANAGEMENT_URL, else port 15672 on LODGE_AMQP_URI's host",
)
def broker_users(apply_, campus, management_url):
    """Print (or --apply) one RabbitMQ account per process and per registered campus
    system (read from the gateway's database), with its permissions.

    Each process's user and password come from LODGE_AMQP_URI_<PROCESS>; a process
    without one gets user lodge-<process> and a new password, shown once on stderr. The
    definitions print as JSON for `rabbitmqctl import_definitions`, with password hashes
    only. --apply works as the LODGE_AMQP_URI account."""
    import json

    from lodge import broker_users as accounts_module

    settings = get_settings()
    shared = settings.broker.amqp_uri
    from sqlalchemy.exc import SQLAlchemyError

    try:
        registered = accounts_module.registered_systems(settings.database_url("gateway"))
    except SQLAlchemyError as err:
        click.echo(
            f"the gateway's database cannot be read, so no campus system's account: {err}",
            err=True,
        )
        registered = []
    try:
        found = accounts_module.accounts(shared, tuple(campus), tuple(registered))
    except ValueError as err:
        raise click.ClickException(str(err)) from None
    if apply_:
        import requests

        api = (
            management_url
            or settings.broker.management_url
            or accounts_module.management_url(shared)
        )
        try:
            created = accounts_module.apply(shared, api, found)
        except requests.RequestException as err:
            raise click.ClickException(
                f"RabbitMQ's management API at {api} did not take the accounts: {err}"
            ) from None
        click.echo(
            f"applied {len(found)} broker accounts in virtual host "
            f"{accounts_module.vhost_of(shared)!r}"
        )
    else:
        click.echo(
            json.dumps(
                accounts_module.definitions(accounts_module.vhost_of(shared), found), indent=2
            )
        )
        created = [account.user for account in found if account.generated]
    for account in found:
        if account.user in created:
            click.echo(
                f"{account.label}: user {account.user}, new password {account.password}", err=True
            )


@main.command("await-migrations")
@click.argument("owners", nargs=-1, type=click.Choice(DATABASE_OWNERS))
@click.option("--timeout", default=600.0, show_default=True, help="seconds to wait")
def await_migrations(owners, timeout):
    """Wait until these owners' databases (all, if none is named) are at their newest
    revision; changes nothing. An init container runs it while `lodge migrate` works."""
    from lodge.migrations import is_current

    settings = get_settings()

    def current(owner: str) -> bool:
        try:
            return is_current(owner, settings.database_url(owner))
        except Exception as err:  # noqa: BLE001 - the database may not be reachable yet
            click.echo(f"{owner}: {err}", err=True)
            return False

    waiting = list(owners or DATABASE_OWNERS)
    deadline = time.monotonic() + timeout
    while True:
        waiting = [owner for owner in waiting if not current(owner)]
        if not waiting:
            click.echo("every database is up to date")
            return
        if time.monotonic() >= deadline:
            click.echo(f"not migrated yet: {', '.join(waiting)}", err=True)
            sys.exit(1)
        time.sleep(2)


@main.command()
def seed():
    """Seed the demo accounts, profiles, collections and reasons (once)."""
    _seed()


def _seed() -> None:
    click.echo("seeded demo data" if seed_demo(get_settings()) else "demo data already present")


def seed_demo(settings) -> bool:
    """Each owner seeds its own database; False if the demo data was there already."""
    from gateway import seed as gateway_seed
    from services.approval import seed as approval_seed
    from services.intake import seed as intake_seed
    from services.inventory import seed as inventory_seed
    from services.letters import seed as letters_seed

    staff_actors = gateway_seed.seed_demo(settings)
    if staff_actors is None:
        return False
    intake_seed.seed_demo(settings)
    inventory_seed.seed_demo(settings)
    approval_seed.seed_demo(settings)
    letters_seed.seed_demo(settings, staff_actors)
    return True


@main.command()
@click.argument("name", type=click.Choice(sorted(SERVICE_CLASSES)))
@after_migrations
def service(name, gate):
    """Run one service."""
    import eventlet

    eventlet.monkey_patch()
    import psycogreen.eventlet

    psycogreen.eventlet.patch_psycopg()

    import nameko
    from nameko.runners import ServiceRunner

    from kernel.platform.config import nameko_config
    from kernel.platform.messaging import QuietExpectedErrors, hide_broker_passwords
    from kernel.platform.observability import configure_tracing
    from lodge.registry import service_class

    require_broker(name)
    serve_metrics(name)
    log_as(name)
    configure_tracing(name, get_settings().processes.otlp_endpoint)
    for handler in logging.getLogger().handlers:
        handler.addFilter(QuietExpectedErrors())
    hide_broker_passwords()
    nameko.config.setup(nameko_config(name))
    runner = ServiceRunner()
    runner.add_service(service_class(name))

    await_gate(gate)  # before the signal handlers: SIGTERM meanwhile ends the process
    grace = get_settings().processes.shutdown_grace_seconds
    stopping: list[int] = []
    killed: list[bool] = []

    def kill():
        killed.append(True)
        runner.kill()

    def drain():
        """Stop consuming, let the running workers finish and ack, relay the outbox a last
        time (ServiceRunner.stop); after the grace period, kill: what was not acked goes back
        to its queue, and the handlers are idempotent."""
        try:
            with eventlet.Timeout(grace):
                runner.stop()
        except eventlet.Timeout:
            logging.getLogger("lodge").error("%s did not stop within %d s; killing it", name, grace)
            kill()

    def stop(signum, _frame):
        if not stopping:
            eventlet.spawn_n(drain)
        elif signum == signal.SIGINT:  # Ctrl-C twice; a SIGTERM after Ctrl-C (lodge run) waits
            eventlet.spawn_n(kill)
        stopping.append(signum)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    runner.start()
    click.echo(f"lodge {name} service started", err=True)
    runner.wait()
    if killed:
        sys.exit(1)
    click.echo(f"lodge {name} service stopped", err=True)


@main.command()
@after_migrations
def inbox(gate):
    """Take campus systems' requests from the broker (gateway/campus/inbox.py)."""
    from gateway.campus.inbox import Inbox
    from kernel.platform.messaging import INBOX_PROCESS, hide_broker_passwords
    from kernel.platform.observability import configure_tracing

    require_broker(INBOX_PROCESS)
    serve_metrics(INBOX_PROCESS)
    configure_tracing(INBOX_PROCESS, get_settings().processes.otlp_endpoint)
    hide_broker_passwords()
    await_gate(gate)
    click.echo("lodge inbox started", err=True)
    Inbox(get_settings()).run()
    click.echo("lodge inbox stopped", err=True)


def serve_metrics(service: str) -> None:
    """/metrics on the service's LODGE_METRICS_BIND(_<SERVICE>), if it has one."""
    settings = get_settings()
    bind = settings.metrics_bind(service)
    if bind is None:
        return
    from kernel.platform.metrics import serve

    try:
        serve(bind, settings.site.metrics_token)
    except OSError as err:
        raise click.ClickException(f"cannot serve /metrics on {bind}: {err}") from None


@main.command()
@click.option(
    "--bind", default=None, help="host:port (default LODGE_GATEWAY_BIND or 127.0.0.1:8000)"
)
@after_migrations
def gateway(bind, gate):
    """Run the gateway under gunicorn."""
    settings = get_settings()
    problems = settings.production_problems()
    if problems:
        raise click.ClickException("refusing to start the gateway: " + "; ".join(problems))
    # each worker keeps its metrics in files here and /metrics adds them all up; set before
    # anything imports prometheus_client, which picks its way of counting on import
    metrics_dir = tempfile.mkdtemp(prefix="lodge-gateway-metrics-")

    def leave(signum, _frame):  # while it imports and waits for `lodge run`'s migrations
        shutil.rmtree(metrics_dir, ignore_errors=True)
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, leave)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    master = os.getpid()

    from gunicorn.app.base import BaseApplication
    from gunicorn.workers.gthread import ThreadWorker

    from gateway.app import create_app
    from gateway.http.health import start_draining
    from gateway.http.idempotency import WORKER_TIMEOUT_SECONDS
    from gateway.http.usage import stop as stop_counting
    from kernel.platform.metrics import worker_gone
    from kernel.platform.observability import configure_tracing, log_config

    class DrainingWorker(ThreadWorker):
        """gunicorn's gthread worker that, at SIGTERM, answers /readyz with 503 and closes its
        copy of the listening socket: once the arbiter and every worker have closed theirs,
        new connections are refused while the requests in flight finish."""

        def handle_exit(self, sig, frame):
            start_draining()
            super().handle_exit(sig, frame)

        def set_accept_enabled(self, enabled):
            super().set_accept_enabled(enabled)
            if not self.alive:
                for listener in self.sockets:
                    listener.close()

    class Gateway(BaseApplication):
        def load_config(self):
            self.cfg.set("bind", bind or settings.processes.gateway_bind)
            self.cfg.set("workers", settings.processes.gateway_workers)
            self.cfg.set("threads", settings.processes.gateway_threads)
            # several gateways on one port (bench/scaleout.py): the kernel spreads connections
            self.cfg.set("reuse_port", settings.processes.gateway_reuse_port)
            self.cfg.set("worker_class", DrainingWorker)
            self.cfg.set("timeout", WORKER_TIMEOUT_SECONDS)
            # SIGTERM: requests in flight (an upload included) have this long to finish
            self.cfg.set("graceful_timeout", settings.processes.shutdown_grace_seconds)
            # refused by gunicorn with a 400 before the app runs; gunicorn's most for the
            # line, so long ?filename= URLs reach the app, which answers in JSON
            for setting, value in REQUEST_LIMITS.items():
                self.cfg.set(setting, value)
            # gateway/http/proxies.py alone decides what forwarded headers to believe
            self.cfg.set("forwarded_allow_ips", "")
            # one gunicorn control socket per machine would be shared by every gateway
            self.cfg.set("control_socket_disable", True)
            self.cfg.set("accesslog", "-" if settings.processes.access_log else None)
            self.cfg.set("child_exit", lambda _arbiter, worker: worker_gone(worker.pid))
            # in the worker, once its requests are done: the hits it holds go to inventory
            self.cfg.set(
                "worker_exit",
                lambda _arbiter, worker: stop_counting(getattr(worker, "wsgi", None)),
            )
            # gunicorn's own logs and the access log as every other line of the gateway's
            self.cfg.set(
                "logconfig_dict",
                log_config("gateway", settings.processes.log_level, settings.processes.log_format),
            )
            self.cfg.set("access_log_format", ACCESS_LOG_FORMAT)

        def load(self):
            configure_tracing("gateway", settings.processes.otlp_endpoint)  # in each worker
            return create_app()

    try:
        await_gate(gate)
        signal.signal(signal.SIGTERM, previous)
        Gateway().run()
    finally:
        if os.getpid() == master:  # a worker leaves through here too, as it exits
            shutil.rmtree(metrics_dir, ignore_errors=True)


@main.command("expire-uploads")
def expire_uploads():
    """Delete resumable uploads whose time ran out, and partial files of writes a crash cut
    off that nothing wrote to for as long (run it from a timer or CronJob)."""
    from gateway.files.resumable import UploadArea
    from kernel.platform.storage import get_storage

    settings = get_settings()
    removed = UploadArea(
        settings.storage.upload_dir, settings.storage.upload_expiry_seconds
    ).expire()
    partials = get_storage().remove_stale_partials(settings.storage.upload_expiry_seconds)
    click.echo(f"expired {len(removed)} upload(s), removed {len(partials)} partial file(s)")


@main.command("export-bag")
@click.argument("item")
@click.option(
    "--to",
    "target",
    metavar="DIR|s3://BUCKET/PREFIX",
    help="where the bag goes (default LODGE_BAG_TARGET)",
)
def export_bag(item, target):
    """Export ITEM (its id or identifier) as a BagIt bag, here in this process: files
    stream from storage into the bag however large, with no RPC timeout to outlast."""
    from kernel.contracts.exceptions import Conflict, NotFound
    from kernel.platform.config import bag_target
    from kernel.platform.db import Database
    from kernel.platform.storage import get_storage
    from services.inventory import bags

    settings = get_settings()
    try:
        destination = bag_target(target) if target else settings.preservation.bag_target
    except ValueError as err:
        raise click.BadParameter(str(err), param_hint="--to") from None
    database = Database(settings.database_url("inventory"), "inventory")
    try:
        with database.reading() as session:
            item_id = bags.find_item(session, item)
        export = bags.export_item(
            database,
            get_storage(),
            bags.target_for(destination, settings.storage),
            item_id,
            settings.site.base_url,
            settings.site.repository_name,
        )
    except (NotFound, Conflict, bags.BagError) as err:
        raise click.ClickException(str(err)) from None
    finally:
        database.dispose()
    click.echo(f"{export['location']}\nPayload-Oxum: {export['payload_oxum']}")


@main.command("warn-expiring-tokens")
def warn_expiring_tokens():
    """Write to the owners of API tokens that expire within LODGE_TOKEN_WARNING_DAYS (run it
    daily from a timer or CronJob)."""
    from datetime import timedelta

    from gateway.auth.token_letters import warn_owners
    from gateway.rpc import RpcPool
    from kernel.platform.db import Database

    require_broker()
    settings = get_settings()
    pool = RpcPool(
        settings.broker_uri("gateway"), 1, settings.processes.rpc_timeout
    )  # as the gateway
    try:
        warned = warn_owners(
            Database(settings.database_url("gateway"), "gateway"),
            pool.client,
            timedelta(days=settings.sign_in.token_warning_days),
        )
    finally:
        pool.close()
    click.echo(f"warned the owners of {warned} token(s)")


@main.command()
@click.argument("username")
@click.option(
    "--scope",
    "scopes",
    multiple=True,
    type=click.Choice(["deposit", "review", "manage"]),
    help="repeatable; default: every scope the user's roles can use",
)
@click.option("--name", default="", help="what the token is for, shown on the token pages")
@click.option(
    "--days",
    type=int,
    default=None,
    help="how long it lives; default and most: LODGE_TOKEN_MAX_DAYS",
)
def token(username, scopes, name, days):
    """Print a new API token for USERNAME (shown once; only its hash is kept)."""
    from sqlalchemy import select

    from gateway.auth.identity import issue_token
    from gateway.models import User
    from kernel.platform.db import Database

    database = Database(get_settings().database_url("gateway"), "gateway")
    with database.unit_of_work() as uow:
        user = uow.session.scalar(select(User).where(User.username == username))
        if user is None:
            raise click.ClickException(f"there is no user {username!r}")
        max_days = get_settings().sign_in.token_max_days
        try:
            click.echo(
                issue_token(
                    uow.session,
                    user,
                    scopes or None,
                    name=name or "lodge token",
                    days=days or max_days,
                    max_days=max_days,
                )
            )
        except ValueError as err:
            raise click.ClickException(str(err)) from None


def _gateway_answers(health_url: str) -> bool:
    try:
        with urllib.request.urlopen(health_url, timeout=2):
            return True
    except OSError:
        return False


def _stamped(message: str) -> None:
    click.echo(f"{time.strftime('%Y-%m-%d %H:%M:%S')} lodge run: {message}", err=True)


@main.command()
def run():
    """Run all five services, the gateway and the inbox on this machine, on embedded defaults,
    restarting any that dies (lodge/supervisor.py)."""
    from gateway.seed import DEMO_PASSWORD, DEMO_USERS
    from lodge.supervisor import STOP_MARGIN_SECONDS, Supervisor, describe_exit

    binds = [get_settings().metrics_bind(name) for name in (*SERVICE_CLASSES, "inbox")]
    taken = [bind for bind in binds if bind is not None]
    if len(set(taken)) < len(taken):
        raise click.ClickException(
            "the five services and the inbox cannot share one metrics address: give each "
            "its own LODGE_METRICS_BIND_<PROCESS>"
        )
    require_broker()
    root = [sys.executable, "-m", "lodge"]
    gate_dir = tempfile.mkdtemp(prefix="lodge-run-")
    gate = ["--after", os.path.join(gate_dir, "migrated")]
    programs = {name: root + ["service", name, *gate] for name in SERVICE_CLASSES}
    programs["gateway"] = root + ["gateway", *gate]
    programs["inbox"] = root + ["inbox", *gate]
    supervisor = Supervisor(
        programs,
        log=_stamped,
        grace=get_settings().processes.shutdown_grace_seconds + STOP_MARGIN_SECONDS,
    )
    stop_requested = []
    signal.signal(signal.SIGTERM, lambda *_: stop_requested.append(True))
    health_url = f"http://{get_settings().processes.gateway_bind}/healthz"
    url = get_settings().site.base_url
    sign_ins = ", ".join(username for username, *_ in DEMO_USERS)
    announced = False
    # migrations and seeding in one process (a Python that imports every service takes
    # seconds to start), while the others import; they serve once it is done. A stop asked
    # meanwhile waits for it: seeding cut short would stay half done. Its own process group,
    # so a terminal's Ctrl-C reaches `lodge run` alone.
    migrate = subprocess.Popen(root + ["migrate", "--seed"], process_group=0)
    try:
        supervisor.start()
        while migrate.poll() is None:
            supervisor.tick()
            time.sleep(0.05)
        if migrate.returncode == 0:
            open(gate[1], "x").close()
            for child in supervisor.children.values():  # a restart need not wait again
                child.argv = child.argv[: -len(gate)]
        else:
            stop_requested.append(True)
            _stamped(f"`lodge migrate --seed` {describe_exit(migrate.returncode)}")
        while not stop_requested:
            supervisor.tick()
            if not announced and _gateway_answers(health_url):
                announced = True
                click.echo(
                    f"\nLodge is running at {url}/\n"
                    f"Demo sign-ins (password '{DEMO_PASSWORD}'): {sign_ins}\n"
                    f"API token: lodge token student\nStop with Ctrl-C.\n"
                )
            time.sleep(0.2)
    except KeyboardInterrupt:
        pass
    finally:
        shutil.rmtree(gate_dir, ignore_errors=True)
    # a second Ctrl-C or SIGTERM must not cut the clean stop short
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    _stamped("stopping")
    migrate.wait()
    supervisor.stop()
    if migrate.returncode:
        sys.exit(1)
