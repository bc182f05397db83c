"""Configuration from environment variables; every variable is listed in the README."""
from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from urllib.parse import urlsplit

SERVICE_NAMES = ("intake", "validation", "approval", "letters", "inventory")
DATABASE_OWNERS = SERVICE_NAMES + ("gateway",)
MIN_SECRET_KEY_LENGTH = 32
# words of the example values people forget to replace
PLACEHOLDER_WORDS = ("change", "example", "placeholder", "replace", "secret", "todo", "xxx", "***")
LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1")


def _env(name: str, default: str) -> str:
    return os.environ.get(name, default)


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def _env_list(name: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in os.environ.get(name, "").split(",") if part.strip())


DAY = 24 * 3600


@dataclass(frozen=True)
class Quotas:
    """What one patron may hold unfinished at once, and how long an untouched draft lives."""
    drafts: int = 20  # deposits in draft or returned
    staged_bytes: int = 10 * 1024 ** 3  # files on those deposits, and unfinished uploads
    uploads: int = 10  # unfinished resumable uploads
    draft_expiry_seconds: int = 180 * DAY
    draft_warning_seconds: int = 14 * DAY  # the warning letter goes this long before
    draft_expiry_interval: float = 3600.0


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    amqp_uri: str
    storage_root: Path
    mail_dir: Path
    mail_from: str
    base_url: str
    identifier_prefix: str
    handler_max_attempts: int
    handler_retry_delay_ms: int
    max_workers: int
    rpc_timeout: float
    rpc_pool_size: int
    cookie_secure: bool
    # OAI-PMH
    repository_name: str = "Lodge"
    oai_repository_id: str = "lodge.local"
    oai_admin_email: str = "repository@lodge.local"
    oai_page_size: int = 100
    # access, identifiers, fixity
    campus_networks: tuple[str, ...] = ()
    trusted_proxies: tuple[str, ...] = ()
    doi_registrar: str = ""
    fixity_interval: float = 3600.0
    fixity_batch_size: int = 100
    embargo_interval: float = 3600.0
    # clamd: a Unix socket path, or host:port; neither set means no scanner is configured
    clamd_socket: str = ""
    clamd_address: str = ""
    clamd_timeout: float = 120.0
    storage_backend: str = "local"
    s3_bucket: str = "lodge"
    s3_endpoint_url: str | None = None
    s3_region: str | None = None
    s3_part_size: int = 8 * 1024 * 1024
    upload_dir: Path | None = None
    upload_expiry_seconds: int = 24 * 3600
    # a file each service touches every second or so, for an orchestrator's liveness probe
    liveness_file: Path | None = None
    # archives and compressed files: limits for the whole file, every level together
    archive_max_entries: int = 10_000
    archive_max_expanded: int = 16 * 1024 ** 3
    archive_max_ratio: int = 100
    archive_max_depth: int = 3
    archive_seconds: float = 300.0
    quotas: Quotas = field(default_factory=Quotas)
    # Prometheus scrapes /metrics with this Bearer token; without one /metrics is off
    metrics_token: str = ""
    # the demo accounts (password 'demo'); always on the embedded defaults
    seed_demo_accounts: bool = False
    # API tokens: the longest lifetime one may be given, and when its owner is warned
    token_max_days: int = 365
    token_warning_days: int = 14
    # roles from OIDC claims count this long after the last sign-in, then until the next
    oidc_roles_max_age_days: float = 7.0

    @property
    def on_embedded_defaults(self) -> bool:
        """One machine, SQLite databases: `lodge run` as a developer or a trial starts it."""
        return all(self.database_url(owner).startswith("sqlite") for owner in DATABASE_OWNERS)

    def production_problems(self) -> list[str]:
        """Why this configuration must not serve a site; none on the embedded defaults."""
        if self.on_embedded_defaults:
            return []
        problems = []
        key = os.environ.get("LODGE_SECRET_KEY", "")
        if not key:
            problems.append("LODGE_SECRET_KEY is not set")
        elif len(key) < MIN_SECRET_KEY_LENGTH:
            problems.append(f"LODGE_SECRET_KEY has fewer than {MIN_SECRET_KEY_LENGTH} characters")
        elif any(word in key.lower() for word in PLACEHOLDER_WORDS):
            problems.append("LODGE_SECRET_KEY is a placeholder; use a random value")
        base = urlsplit(self.base_url)
        if base.scheme != "https" and base.hostname not in LOOPBACK_HOSTS:
            problems.append("LODGE_BASE_URL must be https:// (letters and identifiers use it)")
        return problems

    def database_url(self, owner: str) -> str:
        default = f"sqlite:///{self.data_dir / (owner + '.db')}"
        return _env(f"LODGE_{owner.upper()}_DATABASE_URL", default)

    def broker_uri(self, process: str) -> str:
        """The broker URL `process` connects with: its own account when
        LODGE_AMQP_URI_<PROCESS> is set, else the shared LODGE_AMQP_URI."""
        return os.environ.get(f"LODGE_AMQP_URI_{process.upper()}") or self.amqp_uri

    def secret_key(self) -> str:
        """LODGE_SECRET_KEY, or a random key kept in the data folder for local runs."""
        key = os.environ.get("LODGE_SECRET_KEY")
        if key:
            return key
        path = self.data_dir / "secret_key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, "w") as handle:
                handle.write(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    data_dir = Path(_env("LODGE_DATA_DIR", "var")).resolve()
    return Settings(
        data_dir=data_dir,
        amqp_uri=_env("LODGE_AMQP_URI", "amqp://guest:guest@127.0.0.1:5672/"),
        storage_root=Path(_env("LODGE_STORAGE_ROOT", str(data_dir / "storage"))).resolve(),
        mail_dir=Path(_env("LODGE_MAIL_DIR", str(data_dir / "mail"))).resolve(),
        mail_from=_env("LODGE_MAIL_FROM", "Lodge <lodge@localhost>"),
        base_url=_env("LODGE_BASE_URL", "http://127.0.0.1:8000").rstrip("/"),
        identifier_prefix=_env("LODGE_IDENTIFIER_PREFIX", "ark:/99999/lodge-"),
        handler_max_attempts=int(_env("LODGE_HANDLER_MAX_ATTEMPTS", "5")),
        handler_retry_delay_ms=int(_env("LODGE_HANDLER_RETRY_DELAY_MS", "500")),
        max_workers=int(_env("LODGE_MAX_WORKERS", "10")),
        rpc_timeout=float(_env("LODGE_RPC_TIMEOUT", "30")),
        rpc_pool_size=int(_env("LODGE_RPC_POOL_SIZE", "8")),
        cookie_secure=_env_bool("LODGE_COOKIE_SECURE", True),
        repository_name=_env("LODGE_REPOSITORY_NAME", "Lodge"),
        oai_repository_id=_env("LODGE_OAI_REPOSITORY_ID", "lodge.local"),
        oai_admin_email=_env("LODGE_OAI_ADMIN_EMAIL", "repository@lodge.local"),
        oai_page_size=int(_env("LODGE_OAI_PAGE_SIZE", "100")),
        campus_networks=_env_list("LODGE_CAMPUS_NETWORKS"),
        trusted_proxies=_env_list("LODGE_TRUSTED_PROXIES"),
        doi_registrar=_env("LODGE_DOI_REGISTRAR", ""),
        fixity_interval=float(_env("LODGE_FIXITY_INTERVAL", "3600")),
        fixity_batch_size=int(_env("LODGE_FIXITY_BATCH_SIZE", "100")),
        embargo_interval=float(_env("LODGE_EMBARGO_INTERVAL", "3600")),
        clamd_socket=_env("LODGE_CLAMD_SOCKET", ""),
        clamd_address=_env("LODGE_CLAMD_ADDRESS", ""),
        clamd_timeout=float(_env("LODGE_CLAMD_TIMEOUT", "120")),
        archive_max_entries=int(_env("LODGE_ARCHIVE_MAX_ENTRIES", "10000")),
        archive_max_expanded=int(_env("LODGE_ARCHIVE_MAX_EXPANDED", str(16 * 1024 ** 3))),
        archive_max_ratio=int(_env("LODGE_ARCHIVE_MAX_RATIO", "100")),
        archive_max_depth=int(_env("LODGE_ARCHIVE_MAX_DEPTH", "3")),
        archive_seconds=float(_env("LODGE_ARCHIVE_SECONDS", "300")),
        liveness_file=Path(os.environ["LODGE_LIVENESS_FILE"])
        if os.environ.get("LODGE_LIVENESS_FILE") else None,
        quotas=quota_settings(),
        metrics_token=_env("LODGE_METRICS_TOKEN", ""),
        seed_demo_accounts=_env_bool("LODGE_SEED_DEMO_ACCOUNTS", False),
        token_max_days=int(_env("LODGE_TOKEN_MAX_DAYS", "365")),
        token_warning_days=int(_env("LODGE_TOKEN_WARNING_DAYS", "14")),
        oidc_roles_max_age_days=float(_env("LODGE_OIDC_ROLES_MAX_AGE_DAYS", "7")),
        **storage_settings(data_dir),
    )


def quota_settings() -> Quotas:
    quotas = Quotas(
        drafts=int(_env("LODGE_QUOTA_DRAFTS", str(Quotas.drafts))),
        staged_bytes=int(_env("LODGE_QUOTA_STAGED_BYTES", str(Quotas.staged_bytes))),
        uploads=int(_env("LODGE_QUOTA_UPLOADS", str(Quotas.uploads))),
        draft_expiry_seconds=int(_env("LODGE_DRAFT_EXPIRY_SECONDS",
                                      str(Quotas.draft_expiry_seconds))),
        draft_warning_seconds=int(_env("LODGE_DRAFT_WARNING_SECONDS",
                                       str(Quotas.draft_warning_seconds))),
        draft_expiry_interval=float(_env("LODGE_DRAFT_EXPIRY_INTERVAL",
                                         str(Quotas.draft_expiry_interval))))
    if min(quotas.drafts, quotas.staged_bytes, quotas.uploads) < 1:
        raise ValueError("LODGE_QUOTA_DRAFTS, _STAGED_BYTES and _UPLOADS must be at least 1")
    if not 0 <= quotas.draft_warning_seconds < quotas.draft_expiry_seconds:
        raise ValueError("LODGE_DRAFT_WARNING_SECONDS must be shorter than "
                         "LODGE_DRAFT_EXPIRY_SECONDS")
    return quotas


STORAGE_BACKENDS = ("local", "s3")


def storage_settings(data_dir: Path) -> dict:
    """Where files go: local disk (default) or an S3 bucket; credentials only from the
    standard AWS variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_PROFILE)."""
    backend = _env("LODGE_STORAGE_BACKEND", "local").strip().lower()
    if backend not in STORAGE_BACKENDS:
        raise ValueError(f"LODGE_STORAGE_BACKEND must be one of {', '.join(STORAGE_BACKENDS)}")
    storage_root = Path(_env("LODGE_STORAGE_ROOT", str(data_dir / "storage"))).resolve()
    return {
        "storage_backend": backend,
        "s3_bucket": _env("LODGE_S3_BUCKET", "lodge"),
        "s3_endpoint_url": os.environ.get("LODGE_S3_ENDPOINT_URL") or None,
        "s3_region": os.environ.get("LODGE_S3_REGION") or None,
        "s3_part_size": int(_env("LODGE_S3_PART_SIZE", str(8 * 1024 * 1024))),
        # resumable uploads grow here; beside local storage so finishing one is a rename
        "upload_dir": Path(_env("LODGE_UPLOAD_DIR", str(storage_root / "uploads"))).resolve(),
        "upload_expiry_seconds": int(_env("LODGE_UPLOAD_EXPIRY_SECONDS", str(24 * 3600))),
    }


def nameko_config(process: str, settings: Settings | None = None) -> dict:
    settings = settings or get_settings()
    return {
        "AMQP_URI": settings.broker_uri(process),
        "max_workers": settings.max_workers,
        "parent_calls_tracked": 10,
        # `lodge migrate` declares the event exchanges; a service's broker account may not
        # (declaring an exchange needs the configure permission, which also lets one delete it)
        "DECLARE_EVENT_EXCHANGES": False,
    }
