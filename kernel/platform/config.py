"""Configuration: every LODGE_ environment variable, declared, read and checked here once;
the README's tables list them (tests/unit/test_settings.py holds the two together)."""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from functools import lru_cache
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from kernel.contracts.sitemaps import MOST_URLS as MOST_SITEMAP_URLS
from kernel.policy.text import user_pattern

SERVICE_NAMES = ("intake", "validation", "approval", "letters", "inventory")
DATABASE_OWNERS = SERVICE_NAMES + ("gateway",)
# every process with a broker account of its own: the inbox worker works on the gateway's
# database
PROCESSES = DATABASE_OWNERS + ("inbox",)
MIN_SECRET_KEY_LENGTH = 32
# words of the example values people forget to replace
PLACEHOLDER_WORDS = ("change", "example", "placeholder", "replace", "secret", "todo", "xxx", "***")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")
STORAGE_BACKENDS = ("local", "s3")
DAY = 24 * 3600
# LODGE_ variables that are not settings: the test suite's and the scripts' own
TOOLING_VARIABLES = ("LODGE_AXE_CACHE", "LODGE_KEEP_ARTIFACTS", "LODGE_PYTHON")
TOOLING_PREFIX = "LODGE_TEST_"
log = logging.getLogger(__name__)
T = TypeVar("T")


class SettingsError(ValueError):
    """A LODGE_ variable holds what its setting cannot be; the message names the variable."""


# --- how a variable's text becomes a value; each raises ValueError with what it wants ---


def text(value: str) -> str:
    return value


def integer(value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise ValueError("must be a whole number") from None


def number(value: str) -> float:
    try:
        return float(value)
    except ValueError:
        raise ValueError("must be a number") from None


def positive(value: str) -> int:
    parsed = integer(value)
    if parsed <= 0:
        raise ValueError("must be a whole number above 0")
    return parsed


def at_most(limit: int, value: int) -> int:
    if value > limit:
        raise ValueError(f"must be at most {limit}")
    return value


def flag(value: str) -> bool:
    word = value.strip().lower()
    if word in ("1", "true", "yes", "on"):
        return True
    if word in ("0", "false", "no", "off"):
        return False
    raise ValueError("must be true or false")


def present(value: str) -> bool:
    """Any value at all switches it on."""
    return True


def path(value: str) -> Path:
    return Path(value).resolve()


def listing(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


def words(value: str) -> tuple[str, ...]:
    return tuple(value.split())


def choice(*options: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        word = value.strip().lower()
        if word not in options:
            raise ValueError(f"must be one of {', '.join(options)}")
        return word

    return parse


def url(*schemes: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        parts = urlsplit(value.strip())
        if parts.scheme.split("+")[0] not in schemes or not (parts.netloc or parts.path):
            raise ValueError(f"must be a URL starting {' or '.join(s + '://' for s in schemes)}")
        return value.strip()

    return parse


WEB = url("http", "https")
AMQP = url("amqp", "amqps")


def broker_nodes(value: str) -> tuple[str, ...]:
    """The URLs in a broker setting: one per node of a cluster, `;` between them."""
    return tuple(part.strip() for part in value.split(";") if part.strip())


def each_node_once(uri: str) -> int:
    """kombu's `max_retries` for one connection attempt at each node of `uri` (after a
    failure kombu moves to the next node; a lone node is tried twice)."""
    return max(len(broker_nodes(uri)) - 1, 1)


def broker(value: str) -> str:
    """One broker URL, or one per node of a cluster in kombu's failover form
    (`amqp://…@node-a/vhost;amqp://…@node-b/vhost`): a process connects to the first that
    answers and, when that one stops, to the next. Every node's URL names the same account
    and virtual host, since they are one broker."""
    if any(ord(character) < 32 or ord(character) == 127 for character in value):
        raise ValueError("must not hold control characters")
    nodes = broker_nodes(value)
    if not nodes:
        raise ValueError("must be a URL starting amqp:// or amqps://")
    for node in nodes:
        AMQP(node)
    accounts = {(parts.username, parts.password, parts.path) for parts in map(urlsplit, nodes)}
    if len(accounts) > 1:
        raise ValueError("must name the same user, password and virtual host for every node")
    return ";".join(nodes)


DATABASE = url("sqlite", "postgresql")


def address(value: str) -> str:
    host, _, port = value.strip().rpartition(":")
    if not host.strip("[]") or not (port.isascii() and port.isdigit()) or not 0 < int(port) < 65536:
        raise ValueError("must be host:port, e.g. 0.0.0.0:9100")
    return value.strip()


def log_level(value: str) -> str:
    return choice("debug", "info", "warning", "error", "critical")(value).upper()


# --- the declarations ---------------------------------------------------------------------


@dataclass(frozen=True)
class Declared:
    """One LODGE_ variable: how it is read, and its README row: `shown` (the default as
    people read it; an example in the sign-in table) and `description`."""

    variable: str
    parse: Callable[[str], object]
    shown: str
    description: str
    # a family of variables, one per member: a `<...>` in `variable` stands for its name
    members: tuple[str, ...] = ()

    def names(self) -> list[str]:
        if not self.members:
            return [self.variable]
        return [self.variable.replace(self.placeholder, member.upper()) for member in self.members]

    @property
    def placeholder(self) -> str:
        return self.variable[self.variable.index("<") : self.variable.index(">") + 1]


def setting(
    variable: str,
    parse: Callable[[str], object],
    default: object,
    shown: str,
    description: str,
    members: tuple[str, ...] = (),
    secret: bool = False,
):
    """A field of Settings or of one of its groups, read from `variable`; an unset or empty
    variable means `default` (None where the default follows from other settings, see
    `load_settings`). A `secret` one is left out of the settings' repr, so never logged."""
    declared = Declared(variable, parse, shown, description, members)
    if members:
        return field(default=(), metadata={"declared": declared})
    return field(default=default, metadata={"declared": declared}, repr=not secret)


def group(kind: type[T]) -> T:
    """A Settings field holding one group of settings, each declared with `setting`."""
    return field(default_factory=kind, metadata={"group": kind})


@dataclass(frozen=True)
class Quotas:
    """What one patron may hold unfinished at once, and how long an untouched draft lives."""

    drafts: int = setting(
        "LODGE_QUOTA_DRAFTS",
        integer,
        20,
        "`20`",
        "unfinished deposits (draft or returned) a patron may hold; one more is 429",
    )
    staged_bytes: int = setting(
        "LODGE_QUOTA_STAGED_BYTES",
        integer,
        10 * 1024**3,
        "`10737418240`",
        "bytes of files on a patron's unfinished deposits and unfinished uploads; more is 413",
    )
    uploads: int = setting(
        "LODGE_QUOTA_UPLOADS",
        integer,
        10,
        "`10`",
        "unfinished resumable uploads a patron may hold; one more is 429",
    )
    draft_expiry_seconds: int = setting(
        "LODGE_DRAFT_EXPIRY_SECONDS",
        integer,
        180 * DAY,
        "`15552000` (180 days)",
        "an unfinished deposit untouched this long is removed with its files",
    )
    draft_warning_seconds: int = setting(
        "LODGE_DRAFT_WARNING_SECONDS",
        integer,
        14 * DAY,
        "`1209600` (14 days)",
        "its depositor is warned by letter this long before",
    )
    draft_expiry_interval: float = setting(
        "LODGE_DRAFT_EXPIRY_INTERVAL",
        number,
        3600.0,
        "`3600`",
        "seconds between intake's runs of the abandoned-draft timer",
    )


@dataclass(frozen=True)
class BrokerSettings:
    """RabbitMQ: the administrator's account and each process's own."""

    amqp_uri: str = setting(
        "LODGE_AMQP_URI",
        broker,
        "amqp://guest:guest@127.0.0.1:5672/",
        "`amqp://guest:guest@127.0.0.1:5672/`",
        "RabbitMQ; the account `lodge migrate` declares the topology with and "
        "`lodge broker-users --apply` works as (an administrator); for a cluster, one URL "
        "per node with `;` between them (each process fails over to the next node)",
    )
    process_uris: tuple[tuple[str, str], ...] = setting(
        "LODGE_AMQP_URI_<PROCESS>",
        broker,
        (),
        "`LODGE_AMQP_URI`",
        "the broker account of one process (`GATEWAY`, `INTAKE`, `VALIDATION`, `APPROVAL`, "
        "`LETTERS`, `INVENTORY`, `INBOX`); `lodge broker-users` makes it",
        members=PROCESSES,
    )
    management_url: str | None = setting(
        "LODGE_BROKER_MANAGEMENT_URL",
        WEB,
        None,
        "port 15672 on `LODGE_AMQP_URI`'s (first) host, `/api`",
        "RabbitMQ's management HTTP API, for `lodge broker-users --apply`",
    )


@dataclass(frozen=True)
class StorageSettings:
    """Where files are kept: local disk or S3, and the resumable uploads."""

    root: Path = setting(
        "LODGE_STORAGE_ROOT",
        path,
        None,
        "`$LODGE_DATA_DIR/storage`",
        "staging and permanent files (local disk)",
    )
    backend: str = setting(
        "LODGE_STORAGE_BACKEND",
        choice(*STORAGE_BACKENDS),
        "local",
        "`local`",
        "`local` (files under `LODGE_STORAGE_ROOT`) or `s3`",
    )
    s3_bucket: str = setting(
        "LODGE_S3_BUCKET",
        text,
        "lodge",
        "`lodge`",
        "the bucket (created by `lodge migrate` if missing)",
    )
    s3_endpoint_url: str | None = setting(
        "LODGE_S3_ENDPOINT_URL", WEB, None, "unset (AWS)", "e.g. `http://minio:9000`"
    )
    s3_region: str | None = setting(
        "LODGE_S3_REGION", text, None, "`us-east-1`", "the bucket's region"
    )
    s3_part_size: int = setting(
        "LODGE_S3_PART_SIZE",
        integer,
        8 * 1024 * 1024,
        "`8388608`",
        "multipart part size in bytes (at least 5 MiB); smaller objects are one PUT",
    )
    # resumable uploads grow here; beside local storage so finishing one is a rename
    upload_dir: Path = setting(
        "LODGE_UPLOAD_DIR",
        path,
        None,
        "`$LODGE_STORAGE_ROOT/uploads`",
        "unfinished resumable (tus) uploads; shared by all gateways",
    )
    upload_expiry_seconds: int = setting(
        "LODGE_UPLOAD_EXPIRY_SECONDS",
        integer,
        24 * 3600,
        "`86400`",
        "an unfinished upload expires this long after its last chunk; a partial file nothing "
        "wrote to for as long is removed",
    )


@dataclass(frozen=True)
class MailSettings:
    """Letters: the sender, the mail folder or SMTP, and when reminders and digests go."""

    folder: Path = setting(
        "LODGE_MAIL_DIR",
        path,
        None,
        "`$LODGE_DATA_DIR/mail`",
        "the mail folder, one `.eml` per letter",
    )
    sender: str = setting(
        "LODGE_MAIL_FROM",
        text,
        "Lodge <lodge@localhost>",
        "`Lodge <lodge@localhost>`",
        "the letters' sender",
    )
    reply_to: str | None = setting(
        "LODGE_MAIL_REPLY_TO",
        text,
        None,
        "unset",
        "`Reply-To` of every letter, e.g. `Repository desk <desk@example.edu>`",
    )
    digest_hour: int = setting(
        "LODGE_DIGEST_HOUR",
        integer,
        7,
        "`7`",
        "hour (UTC) from which the approvers' daily digest goes out",
    )
    review_turnaround_days: int = setting(
        "LODGE_REVIEW_TURNAROUND_DAYS",
        integer,
        14,
        "`14`",
        "days in review before approvers are reminded, where the profile sets none",
    )
    smtp_host: str | None = setting(
        "LODGE_SMTP_HOST", text, None, "unset", "the mail server; set, it replaces the mail folder"
    )
    smtp_port: int = setting(
        "LODGE_SMTP_PORT",
        integer,
        None,
        "`25` (`465` with `LODGE_SMTP_TLS`)",
        "its port (`587` is usual with STARTTLS)",
    )
    smtp_starttls: bool = setting(
        "LODGE_SMTP_STARTTLS", flag, False, "off", "upgrade the connection with STARTTLS"
    )
    smtp_tls: bool = setting(
        "LODGE_SMTP_TLS", flag, False, "off", "implicit TLS from the start (SMTPS)"
    )
    smtp_username: str | None = setting(
        "LODGE_SMTP_USERNAME", text, None, "unset", "log in when a username is set"
    )
    smtp_password: str | None = setting(
        "LODGE_SMTP_PASSWORD", text, None, "unset", "the password for `LODGE_SMTP_USERNAME`"
    )
    smtp_timeout: float = setting(
        "LODGE_SMTP_TIMEOUT", number, 30.0, "`30`", "seconds per connection"
    )


@dataclass(frozen=True)
class SiteSettings:
    """The site as people and harvesters see it."""

    base_url: str = setting(
        "LODGE_BASE_URL",
        WEB,
        "http://127.0.0.1:8000",
        "`http://127.0.0.1:8000`",
        "the public URL, used in letters",
    )
    repository_name: str = setting(
        "LODGE_REPOSITORY_NAME",
        text,
        "Lodge",
        "`Lodge`",
        "the repository's name (OAI-PMH Identify, DataCite publisher)",
    )
    configured_secret_key: str = setting(
        "LODGE_SECRET_KEY",
        text,
        "",
        "a random key kept in `$LODGE_DATA_DIR/secret_key`",
        "signs session cookies; off the embedded defaults (any database not SQLite) `lodge "
        "gateway` refuses to start without one of at least 32 random characters (placeholders "
        "such as `change-me…` are refused), or with an `http://` `LODGE_BASE_URL` that is not "
        "loopback",
    )
    seed_demo_accounts: bool = setting(
        "LODGE_SEED_DEMO_ACCOUNTS",
        flag,
        False,
        "`false`",
        "`lodge seed` creates the demo accounts (password `demo`) off the embedded defaults too",
    )
    sitemap_urls: int = setting(
        "LODGE_SITEMAP_URLS",
        lambda value: at_most(MOST_SITEMAP_URLS, positive(value)),
        MOST_SITEMAP_URLS,
        f"`{MOST_SITEMAP_URLS}`",
        "URLs in one sitemap file (the sitemaps.org protocol's most); past it `/sitemap.xml` "
        "is a sitemap index of `/sitemaps/<n>.xml` files",
    )
    # Prometheus scrapes /metrics with this Bearer token; without one /metrics is off
    metrics_token: str = setting(
        "LODGE_METRICS_TOKEN",
        text,
        "",
        "unset (`/metrics` is 404)",
        "the Bearer token Prometheus sends to `/metrics` (the gateway's and the services')",
    )


@dataclass(frozen=True)
class SignInSettings:
    """Sign-in: the session cookie, API tokens and institutional sign-in (OIDC)."""

    token_max_days: int = setting(
        "LODGE_TOKEN_MAX_DAYS",
        integer,
        365,
        "`365`",
        "the longest lifetime an API token may be given (and the default)",
    )
    token_warning_days: int = setting(
        "LODGE_TOKEN_WARNING_DAYS",
        integer,
        14,
        "`14`",
        "how long before a token expires its owner gets a letter (`lodge warn-expiring-tokens`)",
    )
    oidc_roles_max_age_days: float = setting(
        "LODGE_OIDC_ROLES_MAX_AGE_DAYS",
        number,
        7.0,
        "`7`",
        "an institutional account's token uses the roles from its claims only this long after "
        "the last sign-in; then only the mapping's default roles until the next",
    )
    cookie_secure: bool = setting(
        "LODGE_COOKIE_SECURE", flag, True, "`true`", "`Secure` flag on the session cookie"
    )
    oidc_issuer: str = setting(
        "LODGE_OIDC_ISSUER",
        WEB,
        "",
        "`https://login.example.edu/realms/main`",
        "the issuer; Lodge reads `<issuer>/.well-known/openid-configuration`",
    )
    oidc_client_id: str = setting(
        "LODGE_OIDC_CLIENT_ID",
        text,
        "",
        "`lodge`",
        "the client registered at the identity provider",
    )
    oidc_client_secret: str = setting(
        "LODGE_OIDC_CLIENT_SECRET",
        text,
        "",
        "(from a secret store)",
        "its secret; only ever from the environment",
    )
    oidc_scopes: tuple[str, ...] = setting(
        "LODGE_OIDC_SCOPES",
        words,
        ("openid", "profile", "email"),
        "`openid profile email` (default)",
        "scopes asked for; `openid` is always included",
    )
    oidc_name: str = setting(
        "LODGE_OIDC_NAME",
        text,
        "your institution",
        "`Example University`",
        "the name on the button",
    )
    oidc_claim_mapping: str = setting(
        "LODGE_OIDC_CLAIM_MAPPING",
        text,
        "",
        "JSON text, or the path of a JSON file",
        "how claims become groups and roles (below)",
    )


@dataclass(frozen=True)
class SamlSettings:
    """SAML 2.0 sign-in: Lodge as a service provider of the institution's federation."""

    metadata: str = setting(
        "LODGE_SAML_METADATA",
        text,
        "",
        "`https://mds.example.org/federation.xml` or a file's path",
        "the identity providers' metadata (a federation's aggregate or one IdP's); "
        "SAML sign-in is off without it",
    )
    metadata_cert: str = setting(
        "LODGE_SAML_METADATA_CERT",
        text,
        "",
        "a PEM certificate, or the path of one",
        "the federation's metadata signing certificate; metadata without a valid signature "
        "by it is refused",
    )
    metadata_refresh_hours: float = setting(
        "LODGE_SAML_METADATA_REFRESH_HOURS",
        number,
        6.0,
        "`6`",
        "how often the metadata is read again (and its signature checked again)",
    )
    entity_id: str = setting(
        "LODGE_SAML_ENTITY_ID",
        text,
        "",
        "`<LODGE_BASE_URL>/saml/metadata`",
        "Lodge's entity id as a service provider",
    )
    sp_key: str = setting(
        "LODGE_SAML_SP_KEY",
        text,
        "",
        "a PEM private key, or the path of one",
        "signs Lodge's requests and metadata; on the embedded defaults a key pair is made in "
        "`$LODGE_DATA_DIR/saml/`, elsewhere `lodge gateway` refuses to start without one",
        secret=True,
    )
    sp_cert: str = setting(
        "LODGE_SAML_SP_CERT",
        text,
        "",
        "a PEM certificate, or the path of one",
        "the certificate of `LODGE_SAML_SP_KEY`, published in Lodge's metadata",
    )
    idps: tuple[str, ...] = setting(
        "LODGE_SAML_IDPS",
        listing,
        (),
        "every identity provider in the metadata",
        "the entity ids of the identity providers offered (comma-separated); with more than "
        "one, people choose theirs on a discovery page",
    )
    name: str = setting(
        "LODGE_SAML_NAME",
        text,
        "your institution",
        "`Example University`",
        "the name on the button",
    )
    attribute_mapping: str = setting(
        "LODGE_SAML_ATTRIBUTE_MAPPING",
        text,
        "",
        "JSON text, or the path of a JSON file",
        "how attributes become groups and roles: the claim mapping of OIDC, with "
        "`eduPersonAffiliation`, `eduPersonEntitlement` and `isMemberOf` as its default "
        "`group_claims` and `eduPersonPrincipalName` as its `username_claim`",
    )


@dataclass(frozen=True)
class IdentifierSettings:
    """The identifiers minted for new items."""

    prefix: str = setting(
        "LODGE_IDENTIFIER_PREFIX",
        text,
        "ark:/99999/lodge-",
        "`ark:/99999/lodge-`",
        "prefix of minted identifiers: your ARK NAAN and shoulder (`ark:/12345/x1`) or a handle "
        "prefix (`20.500.12345/`); checked at start",
    )


@dataclass(frozen=True)
class DataCiteSettings:
    """DOIs registered at DataCite: each new item gets one, its metadata kept up to date."""

    enabled: bool = setting(
        "LODGE_DATACITE_ENABLED",
        flag,
        False,
        "`false` (no DOIs)",
        "mint a DOI for every new item and register it at DataCite (the settings below)",
    )
    api_url: str = setting(
        "LODGE_DATACITE_API_URL",
        WEB,
        "https://api.test.datacite.org",
        "`https://api.test.datacite.org`",
        "DataCite's REST API: its test system, or `https://api.datacite.org` for real DOIs",
    )
    prefix: str = setting(
        "LODGE_DATACITE_PREFIX",
        text,
        "",
        "unset",
        "the repository's DOI prefix, e.g. `10.5072`; a DOI is `<prefix>/<item identifier's "
        "suffix>`",
    )
    username: str = setting(
        "LODGE_DATACITE_USERNAME",
        text,
        "",
        "unset",
        "the repository account (`CLIENT.ID`), for HTTP Basic auth",
    )
    password: str = setting(
        "LODGE_DATACITE_PASSWORD",
        text,
        "",
        "(from a secret store)",
        "its password; only ever from the environment, never logged",
        secret=True,
    )
    timeout: float = setting(
        "LODGE_DATACITE_TIMEOUT",
        number,
        20.0,
        "`20`",
        "seconds one call to DataCite may take in all; a slower one fails and is retried",
    )


@dataclass(frozen=True)
class NetworkSettings:
    """Which client addresses are believed and which are on campus."""

    campus_networks: tuple[str, ...] = setting(
        "LODGE_CAMPUS_NETWORKS",
        listing,
        (),
        "unset",
        "comma-separated networks (`10.0.0.0/8,2001:db8::/32`) that see campus-only files "
        "without signing in",
    )
    trusted_proxies: tuple[str, ...] = setting(
        "LODGE_TRUSTED_PROXIES",
        listing,
        (),
        "unset",
        "proxies (addresses or CIDRs, `127.0.0.1/32,10.1.0.0/16`) whose `X-Forwarded-For` and "
        "`X-Forwarded-Proto` are believed: the client's address for sign-in limits, campus "
        "access and the access log, and https URLs behind a TLS proxy (docs/architecture.md, "
        '"Gateway")',
    )


@dataclass(frozen=True)
class TimerSettings:
    """The services' timers."""

    embargo_interval: float = setting(
        "LODGE_EMBARGO_INTERVAL",
        number,
        3600.0,
        "`3600`",
        "seconds between runs of the timer that lifts ended embargoes",
    )
    fixity_interval: float = setting(
        "LODGE_FIXITY_INTERVAL", number, 3600.0, "`3600`", "how often the fixity audit runs"
    )
    fixity_batch_size: int = setting(
        "LODGE_FIXITY_BATCH_SIZE",
        integer,
        100,
        "`100`",
        "how many files (oldest checked first) each run of the fixity audit re-hashes",
    )
    claim_idle_minutes: float = setting(
        "LODGE_CLAIM_IDLE_MINUTES",
        number,
        240.0,
        "`240`",
        "a claim nobody has touched (claim, note, edit) for this long goes back to the pool",
    )


_S3_BUCKET = user_pattern(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_S3_PREFIX = user_pattern(r"[A-Za-z0-9_-]+(/[A-Za-z0-9_.-]+)*")


def bag_target(value: str) -> str:
    """A folder, or `s3://bucket/prefix` on the configured S3 endpoint; a prefix is plain
    words and slashes, so every bag's object keys stay inside it."""
    value = value.strip()
    if not value.startswith("s3://"):
        return str(Path(value).resolve())
    bucket, _, prefix = value[len("s3://") :].partition("/")
    prefix = prefix.strip("/")
    if not _S3_BUCKET.fullmatch(bucket) or not _S3_PREFIX.fullmatch(prefix):
        raise ValueError("must be a folder or s3://bucket/prefix (letters, digits, _ - . /)")
    return f"s3://{bucket}/{prefix}"


@dataclass(frozen=True)
class PreservationSettings:
    """Preservation export: each item as a BagIt bag, on demand and on a schedule."""

    bag_target: str = setting(
        "LODGE_BAG_TARGET",
        bag_target,
        None,
        "`$LODGE_DATA_DIR/bags`",
        "where bags go: a folder, or `s3://bucket/prefix` on `LODGE_S3_ENDPOINT_URL` (a bag's "
        "files under `prefix/<identifier>/`)",
    )
    bag_export_interval: float = setting(
        "LODGE_BAG_EXPORT_INTERVAL",
        number,
        60.0,
        "`60`",
        "seconds between runs of inventory's bag export, which exports the items staff asked "
        "for (and, with `LODGE_BAG_EXPORT_SCHEDULED`, every new or changed item)",
    )
    bag_export_scheduled: bool = setting(
        "LODGE_BAG_EXPORT_SCHEDULED",
        flag,
        False,
        "`false`",
        "the bag export also exports every item created or changed since its last export",
    )
    bag_export_batch_size: int = setting(
        "LODGE_BAG_EXPORT_BATCH_SIZE",
        positive,
        20,
        "`20`",
        "how many items each run of the bag export exports at most",
    )


@dataclass(frozen=True)
class ProcessSettings:
    """How the processes run: workers, retries, RPC, the gateway's server, logs, liveness, stop."""

    handler_max_attempts: int = setting(
        "LODGE_HANDLER_MAX_ATTEMPTS",
        integer,
        5,
        "`5`",
        "deliveries of an event before it is dead-lettered",
    )
    handler_retry_delay_ms: int = setting(
        "LODGE_HANDLER_RETRY_DELAY_MS",
        integer,
        500,
        "`500`",
        "first retry delay; doubles each attempt",
    )
    max_workers: int = setting(
        "LODGE_MAX_WORKERS", integer, 10, "`10`", "concurrent workers per service instance"
    )
    rpc_timeout: float = setting(
        "LODGE_RPC_TIMEOUT", number, 30.0, "`30`", "seconds the gateway waits for a service"
    )
    rpc_pool_size: int = setting(
        "LODGE_RPC_POOL_SIZE",
        integer,
        8,
        "`8`",
        "RPC clients (broker connections) per gateway process",
    )
    gateway_bind: str = setting(
        "LODGE_GATEWAY_BIND", text, "127.0.0.1:8000", "`127.0.0.1:8000`", "gateway address"
    )
    gateway_workers: int = setting("LODGE_GATEWAY_WORKERS", integer, 2, "`2`", "gunicorn processes")
    gateway_threads: int = setting(
        "LODGE_GATEWAY_THREADS", integer, 8, "`8`", "threads per gunicorn process"
    )
    client_timeout_seconds: float = setting(
        "LODGE_GATEWAY_CLIENT_TIMEOUT_SECONDS",
        number,
        60.0,
        "`60`",
        "seconds the gateway waits for more of a request's body before it answers 408, so "
        "a client that vanished while sending holds no thread (nor a resumable upload) "
        "for long",
    )
    gateway_reuse_port: bool = setting(
        "LODGE_GATEWAY_REUSE_PORT",
        present,
        False,
        "unset",
        "set to open the gateway's port with `SO_REUSEPORT`, so that several gateways on one "
        "machine share it and the kernel spreads connections among them",
    )
    access_log: bool = setting(
        "LODGE_ACCESS_LOG", present, False, "unset", "set to log every request"
    )
    log_level: str = setting(
        "LODGE_LOG_LEVEL",
        log_level,
        "INFO",
        "`INFO`",
        "what a service logs: `DEBUG`, `INFO`, `WARNING`, `ERROR` or `CRITICAL`",
    )
    log_format: str = setting(
        "LODGE_LOG_FORMAT",
        choice("json", "text"),
        "json",
        "`json`",
        "`json`: one JSON object a line, with the process and the correlation, deposit and "
        "trace ids; `text`: lines for a terminal",
    )
    otlp_endpoint: str | None = setting(
        "LODGE_OTLP_ENDPOINT",
        WEB,
        None,
        "(none: no traces)",
        "base URL of an OpenTelemetry collector (OTLP over HTTP, protobuf; `/v1/traces` is "
        "added): each process sends its spans there",
    )
    liveness_file: Path | None = setting(
        "LODGE_LIVENESS_FILE",
        Path,
        None,
        "(none)",
        "a file each service touches about every second, for a liveness probe (deploy/k8s)",
    )
    metrics_bind: str | None = setting(
        "LODGE_METRICS_BIND",
        address,
        None,
        "unset (no metrics port)",
        "`host:port` where a service serves `/metrics` to Prometheus, which sends "
        "`LODGE_METRICS_TOKEN`",
    )
    own_metrics_binds: tuple[tuple[str, str], ...] = setting(
        "LODGE_METRICS_BIND_<PROCESS>",
        address,
        (),
        "`LODGE_METRICS_BIND`",
        "one process's own metrics address (`INTAKE`, `VALIDATION`, `APPROVAL`, `LETTERS`, "
        "`INVENTORY`, `INBOX`); `lodge run`, which runs them all on one machine, needs one "
        "for each",
        members=SERVICE_NAMES + ("inbox",),
    )
    inbox_max_bytes: int = setting(
        "LODGE_INBOX_MAX_BYTES",
        positive,
        16 * 1024 * 1024,
        "`16777216`",
        "the largest request message a campus system may send the inbox (`lodge inbox`); "
        "a larger one is refused",
    )
    inbox_prefetch: int = setting(
        "LODGE_INBOX_PREFETCH",
        positive,
        4,
        "`4`",
        "requests an inbox worker takes from the broker ahead of the one it handles",
    )
    shutdown_grace_seconds: int = setting(
        "LODGE_SHUTDOWN_GRACE_SECONDS",
        positive,
        45,
        "`45`",
        "after SIGTERM, how long a service or the gateway may finish what it is doing (and a "
        "service relay its outbox) before it exits anyway; below the pod's "
        "`terminationGracePeriodSeconds` less its preStop pause (deploy/k8s)",
    )


@dataclass(frozen=True)
class OaiSettings:
    """OAI-PMH: how the repository names itself to harvesters, and its pages."""

    repository_id: str = setting(
        "LODGE_OAI_REPOSITORY_ID",
        text,
        "lodge.local",
        "`lodge.local`",
        "the domain in OAI identifiers, `oai:<id>:<item identifier>`",
    )
    admin_email: str = setting(
        "LODGE_OAI_ADMIN_EMAIL",
        text,
        "repository@lodge.local",
        "`repository@lodge.local`",
        "OAI-PMH Identify's adminEmail",
    )
    # a request costs about 12 ms whatever its length (HTTP and one RPC): a harvester
    # gets 500 records in about 45 ms, 100 in about 18 (docs/architecture.md, OAI-PMH)
    page_size: int = setting(
        "LODGE_OAI_PAGE_SIZE", integer, 500, "`500`", "records per ListRecords/ListIdentifiers page"
    )


@dataclass(frozen=True)
class ValidationSettings:
    """The validation service's virus scanner (clamd: a Unix socket, or host:port; neither
    means no scanner) and its limits on archives and compressed files, every level together."""

    clamd_socket: str = setting(
        "LODGE_CLAMD_SOCKET",
        text,
        "",
        "unset",
        "clamd's Unix socket (e.g. `/run/clamav/clamd.ctl`); files are scanned through it",
    )
    clamd_address: str = setting(
        "LODGE_CLAMD_ADDRESS", text, "", "unset", "clamd over TCP instead, `host:port`"
    )
    clamd_timeout: float = setting(
        "LODGE_CLAMD_TIMEOUT",
        number,
        120.0,
        "`120`",
        "seconds to wait on clamd; a scan that times out fails the check",
    )
    archive_max_entries: int = setting(
        "LODGE_ARCHIVE_MAX_ENTRIES",
        integer,
        10_000,
        "`10000`",
        "entries an archive may hold, nested archives' entries included",
    )
    archive_max_expanded: int = setting(
        "LODGE_ARCHIVE_MAX_EXPANDED",
        integer,
        16 * 1024**3,
        "`17179869184`",
        "bytes (16 GiB) an archive or compressed file may unpack to, every level together",
    )
    archive_max_ratio: int = setting(
        "LODGE_ARCHIVE_MAX_RATIO",
        integer,
        100,
        "`100`",
        "unpacked ÷ packed, for each zip entry and for the whole file, once over 1 MiB unpacked",
    )
    archive_max_depth: int = setting(
        "LODGE_ARCHIVE_MAX_DEPTH",
        integer,
        3,
        "`3`",
        "levels of archives inside archives (the file itself is level 1)",
    )
    archive_seconds: float = setting(
        "LODGE_ARCHIVE_SECONDS",
        number,
        300.0,
        "`300`",
        "wall-clock and CPU seconds for unpacking one file in the full check; slower fails",
    )


@dataclass(frozen=True)
class UsageSettings:
    """Usage statistics (COUNTER): whether the gateway counts views and downloads, and how
    it hands its hits to inventory."""

    counting: bool = setting(
        "LODGE_USAGE_COUNTING",
        flag,
        True,
        "`true`",
        "count views of landing pages and downloads of files (COUNTER rules); `false` counts "
        "nothing and the pages show no figures",
    )
    flush_seconds: float = setting(
        "LODGE_USAGE_FLUSH_SECONDS",
        number,
        1.0,
        "`1`",
        "how often each gateway worker sends the hits it holds to inventory, in one batch; "
        "what a killed worker held is lost (at most this long's worth)",
    )
    batch_size: int = setting(
        "LODGE_USAGE_BATCH_SIZE",
        positive,
        500,
        "`500`",
        "hits per batch: a worker holding this many sends them at once",
    )


@dataclass(frozen=True)
class FetchSettings:
    """Files a campus system's deposit request gives by reference (an HTTPS URL, an S3 object
    it staged, or inline): how long, how quiet and how many redirects a fetch may take."""

    seconds: float = setting(
        "LODGE_FETCH_SECONDS",
        number,
        600.0,
        "`600`",
        "the most one file's fetch may take in all (redirects, a slow server included); "
        "slower is refused",
    )
    connect_seconds: float = setting(
        "LODGE_FETCH_CONNECT_SECONDS",
        number,
        10.0,
        "`10`",
        "seconds to connect (and, for an S3 object, to wait for any answer)",
    )
    idle_seconds: float = setting(
        "LODGE_FETCH_IDLE_SECONDS",
        number,
        30.0,
        "`30`",
        "a server silent this long while sending a file ends the fetch",
    )
    redirects: int = setting(
        "LODGE_FETCH_REDIRECTS",
        integer,
        5,
        "`5`",
        "redirects followed (each to an allowed host only); one more is refused",
    )
    inline_bytes: int = setting(
        "LODGE_FETCH_INLINE_BYTES",
        positive,
        1024 * 1024,
        "`1048576`",
        "the largest file a request may give inline (base64 `content`, decoded)",
    )


@dataclass(frozen=True)
class Settings:
    """Every LODGE_ setting, read once (`get_settings`) and checked as it is read: the data
    folder and the databases, then one group per concern."""

    data_dir: Path = setting(
        "LODGE_DATA_DIR", path, None, "`./var`", "where the embedded defaults keep their files"
    )
    # families are (member, value) pairs: settings stay hashable (storage_for caches on them)
    database_urls: tuple[tuple[str, str], ...] = setting(
        "LODGE_<OWNER>_DATABASE_URL",
        DATABASE,
        (),
        "`sqlite:///$LODGE_DATA_DIR/<owner>.db`",
        "each owner's own database (`INTAKE`, `VALIDATION`, `APPROVAL`, `LETTERS`, "
        "`INVENTORY`, `GATEWAY`); `postgresql://...` in production",
        members=DATABASE_OWNERS,
    )
    broker: BrokerSettings = group(BrokerSettings)
    storage: StorageSettings = group(StorageSettings)
    quotas: Quotas = group(Quotas)
    mail: MailSettings = group(MailSettings)
    site: SiteSettings = group(SiteSettings)
    sign_in: SignInSettings = group(SignInSettings)
    saml: SamlSettings = group(SamlSettings)
    identifiers: IdentifierSettings = group(IdentifierSettings)
    datacite: DataCiteSettings = group(DataCiteSettings)
    network: NetworkSettings = group(NetworkSettings)
    timers: TimerSettings = group(TimerSettings)
    preservation: PreservationSettings = group(PreservationSettings)
    processes: ProcessSettings = group(ProcessSettings)
    oai: OaiSettings = group(OaiSettings)
    validation: ValidationSettings = group(ValidationSettings)
    usage: UsageSettings = group(UsageSettings)
    fetching: FetchSettings = group(FetchSettings)

    @property
    def on_embedded_defaults(self) -> bool:
        """One machine, SQLite databases: `lodge run` as a developer or a trial starts it."""
        return all(self.database_url(owner).startswith("sqlite") for owner in DATABASE_OWNERS)

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve a site; none on the embedded defaults."""
        if self.on_embedded_defaults:
            return []
        problems = []
        key = self.site.configured_secret_key
        if not key:
            problems.append("LODGE_SECRET_KEY is not set")
        elif len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"LODGE_SECRET_KEY has fewer than {MIN_SECRET_KEY_LENGTH} characters")
        elif any(word in key.lower() for word in PLACEHOLDER_WORDS):
            problems.append("LODGE_SECRET_KEY is a placeholder; use a random value")
        base = urlsplit(self.site.base_url)
        if base.scheme != "https" and base.hostname not in LOOPBACK_HOSTS:
            problems.append("LODGE_BASE_URL must be https:// (letters and identifiers use it)")
        if self.saml.metadata and not (self.saml.sp_key and self.saml.sp_cert):
            # each replica would make a key pair of its own, and the federation knows none
            problems.append("SAML sign-in needs LODGE_SAML_SP_KEY and LODGE_SAML_SP_CERT")
        if self.saml.metadata and not self.saml.metadata_cert:
            problems.append("SAML sign-in needs LODGE_SAML_METADATA_CERT")
        return problems

    def database_url(self, owner: str) -> str:
        return dict(self.database_urls)[owner]

    def broker_uri(self, process: str) -> str:
        """The broker URL `process` connects with: its own account when
        LODGE_AMQP_URI_<PROCESS> is set, else the shared LODGE_AMQP_URI."""
        return self.own_broker_uri(process) or self.broker.amqp_uri

    def own_broker_uri(self, process: str) -> str | None:
        """LODGE_AMQP_URI_<PROCESS>, if set."""
        return dict(self.broker.process_uris).get(process)

    def metrics_bind(self, service: str) -> str | None:
        """Where `service` serves /metrics: LODGE_METRICS_BIND_<SERVICE>, else the shared
        LODGE_METRICS_BIND; None: it serves none."""
        own = dict(self.processes.own_metrics_binds).get(service)
        return own or self.processes.metrics_bind

    def secret_key(self) -> str:
        """LODGE_SECRET_KEY, or a random key kept in the data folder for local runs."""
        if self.site.configured_secret_key:
            return self.site.configured_secret_key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


def groups() -> dict[str, type]:
    """Settings' groups by field name, in the order of the fields."""
    return {
        item.name: item.metadata["group"] for item in fields(Settings) if "group" in item.metadata
    }


def declarations_by_group() -> dict[str, list[Declared]]:
    """Each group's declarations by its field name ("" for Settings' own), in field order."""
    owners = {"": Settings, **groups()}
    return {
        name: [item.metadata["declared"] for item in fields(kind) if "declared" in item.metadata]
        for name, kind in owners.items()
    }


def declarations() -> list[Declared]:
    """Every setting's declaration, in the order of the fields, group by group."""
    return [declared for found in declarations_by_group().values() for declared in found]


def declared_names() -> set[str]:
    """Every LODGE_ variable Lodge reads, families spelled out."""
    return {name for declared in declarations() for name in declared.names()}


def _read(declared: Declared, name: str, environ: Mapping[str, str]) -> object:
    value = environ.get(name, "")
    if value == "":
        return None
    try:
        return declared.parse(value)
    except ValueError as err:
        raise SettingsError(f"{name}={value!r} {err}") from None


def _load(owner: type, environ: Mapping[str, str]) -> dict:
    values: dict = {}
    for item in fields(owner):
        declared = item.metadata.get("declared")
        if declared is None:
            continue
        if declared.members:
            values[item.name] = tuple(
                (member, found)
                for member, name in zip(declared.members, declared.names(), strict=True)
                if (found := _read(declared, name, environ)) is not None
            )
            continue
        found = _read(declared, declared.variable, environ)
        if found is not None:
            values[item.name] = found
    return values


def load_settings(environ: Mapping[str, str] = os.environ) -> Settings:
    """Read and check every setting from `environ`; SettingsError names a bad variable."""
    values = _load(Settings, environ)
    data_dir = values.setdefault("data_dir", Path("var").resolve())
    given = dict(values["database_urls"])
    values["database_urls"] = tuple(
        (owner, given.get(owner) or f"sqlite:///{data_dir / (owner + '.db')}")
        for owner in DATABASE_OWNERS
    )
    loaded = {name: _load(kind, environ) for name, kind in groups().items()}
    storage, mail, site = loaded["storage"], loaded["mail"], loaded["site"]
    storage_root = storage.setdefault("root", (data_dir / "storage").resolve())
    storage.setdefault("upload_dir", (storage_root / "uploads").resolve())
    loaded["preservation"].setdefault("bag_target", str((data_dir / "bags").resolve()))
    mail.setdefault("folder", (data_dir / "mail").resolve())
    mail.setdefault("smtp_port", 465 if mail.get("smtp_tls") else 25)
    if "base_url" in site:
        site["base_url"] = site["base_url"].rstrip("/")
    for name, kind in groups().items():
        values[name] = kind(**loaded[name])
    values["quotas"] = _checked_quotas(values["quotas"])
    _check_datacite(values["datacite"])
    processes = values["processes"]
    if (processes.metrics_bind or processes.own_metrics_binds) and not values["site"].metrics_token:
        raise SettingsError(
            "LODGE_METRICS_BIND needs LODGE_METRICS_TOKEN: /metrics answers Prometheus only"
        )
    known = declared_names().union(TOOLING_VARIABLES)
    unknown = sorted(
        name
        for name in environ
        if name.startswith("LODGE_") and name not in known and not name.startswith(TOOLING_PREFIX)
    )
    for name in unknown:
        log.warning("%s is not a Lodge setting (a misspelling?); it is ignored", name)
    return Settings(**values)


def _check_datacite(datacite: DataCiteSettings) -> None:
    """DataCite on needs where to register and as whom: a wrong prefix would mint DOIs
    that never resolve, so it stops the process at start instead."""
    if not datacite.enabled:
        return
    prefix = datacite.prefix
    if not (prefix.startswith("10.") and prefix[3:].replace(".", "").isdigit() and len(prefix) > 3):
        raise SettingsError(f"LODGE_DATACITE_PREFIX={prefix!r} must be a DOI prefix like 10.5072")
    if not datacite.username or not datacite.password:
        raise SettingsError("LODGE_DATACITE_ENABLED needs LODGE_DATACITE_USERNAME and _PASSWORD")


def quota_settings(environ: Mapping[str, str] = os.environ) -> Quotas:
    return _checked_quotas(Quotas(**_load(Quotas, environ)))


def _checked_quotas(quotas: Quotas) -> Quotas:
    if min(quotas.drafts, quotas.staged_bytes, quotas.uploads) < 1:
        raise SettingsError("LODGE_QUOTA_DRAFTS, _STAGED_BYTES and _UPLOADS must be at least 1")
    if not 0 <= quotas.draft_warning_seconds < quotas.draft_expiry_seconds:
        raise SettingsError(
            "LODGE_DRAFT_WARNING_SECONDS must be shorter than LODGE_DRAFT_EXPIRY_SECONDS"
        )
    return quotas


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return load_settings()


def nameko_config(process: str, settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    return {
        "AMQP_URI": settings.broker_uri(process),
        "max_workers": settings.processes.max_workers,
        "parent_calls_tracked": 10,
        # `lodge migrate` declares the event exchanges; a service's broker account may not
        # (declaring an exchange needs the configure permission, which also lets one delete it)
        "DECLARE_EVENT_EXCHANGES": False,
    }
