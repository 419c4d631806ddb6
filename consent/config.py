"""Service configuration, decoded once at start-up from the environment.

Every setting is an environment variable (`CONSENT_*`, plus the conventional
`DATABASE_URL`). They are decoded into one frozen :class:`Settings` Struct so a
bad value stops the service at start-up with a one-line error naming the
variable, instead of failing later on the first request that needs it.

>>> settings = load_settings({"CONSENT_PORT": "9000"})
>>> settings.port
9000
"""

from __future__ import annotations

import enum
import ipaddress
import os
import typing
from collections.abc import Mapping
from pathlib import Path

import msgspec

__all__ = ["MIN_LINK_TOKEN_SECRET", "ConfigError", "Environment", "IpRetention", "Settings", "load_settings"]

MIN_LINK_TOKEN_SECRET = 32  # characters of CONSENT_LINK_TOKEN_SECRET at least


class ConfigError(Exception):
    """A setting is missing or malformed; the message names the variable."""


class Environment(enum.StrEnum):
    """`CONSENT_ENV`. Unset means production: a deployment that forgets the variable must not make up keys."""

    DEVELOPMENT = "development"
    PRODUCTION = "production"


class IpRetention(enum.StrEnum):
    """What is kept of a client's IP address as consent proof (never the full address)."""

    NONE = "none"
    PREFIX = "prefix"  # IPv4 /24, IPv6 /48


class Settings(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    env: Environment = Environment.PRODUCTION
    home: Path = Path(".consent")
    database_url: str | None = None
    # Set when DATABASE_URL is PgBouncer in transaction mode: a direct session for LISTEN and migrations.
    database_session_url: str | None = None
    database_owner_url: str | None = None  # the schema owner's role, for migrations (default: DATABASE_URL)
    # A streaming replica of DATABASE_URL's server, directly (not through PgBouncer), for reads (docs/scaling.md).
    database_replica_url: str | None = None
    replica_wait_ms: int = 20  # how long a read waits for the replica to replay a write it depends on
    replica_max_lag_ms: int = 1000  # a replica further behind than this takes no reads
    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 0  # 0: one per core
    pool_min_size: int = 2
    pool_max_size: int = 10
    max_body_bytes: int = 64 * 1024
    log_level: str = "INFO"
    policy_file: Path | None = None
    geo_country_header: str = "cf-ipcountry"
    geo_region_header: str = "cf-region-code"
    ip_retention: IpRetention = IpRetention.PREFIX
    demo_data: bool = False
    master_keys: str | None = None
    master_key_file: Path | None = None
    master_key_current: int | None = None  # pins the version new data keys are wrapped under
    index_key: str | None = None
    index_key_file: Path | None = None
    signing_keys: str | None = None
    signing_key_file: Path | None = None
    audit_keys: str | None = None
    audit_key_file: Path | None = None
    audit_seal_interval_ms: int = 200
    cache_size: int = 100_000
    state_cache_size: int | None = None  # subjects whose consent state each process caches (default: cache_size)
    phone_region: str | None = None  # ISO country to read phone numbers without a +country code in
    idempotency_ttl_hours: int = 24
    write_batch_size: int = 128  # consent writes committed together at most
    write_batch_wait_us: int = 500  # how long the first write of a batch waits for company
    write_concurrency: int = 1  # batches of consent writes committing at once, per process
    link_token_secret: str | None = None  # HMAC secret a site's backend signs identity tokens with
    feed_max_wait: float = 30.0  # seconds a change-feed long poll (`wait`) may last at most
    job_concurrency: int = 2  # background jobs in flight at once, per process, while it is idle
    job_poll_interval_ms: int = 1000  # how often an idle runner looks for due work without a notification
    job_lease_seconds: int = 300  # how long a leased job is held; a handler is cancelled at 3/4 of it
    job_max_attempts: int = 10  # attempts before a job is parked as failed
    retry_backoff_base_ms: int = 1000  # the first retry's backoff window; it doubles per attempt
    retry_backoff_cap_seconds: int = 3600  # the largest backoff window
    delivery_concurrency: int = 8  # webhooks in flight at once, per process
    delivery_timeout_ms: int = 10_000  # a recipient's whole answer, connection included
    delivery_max_attempts: int = 15  # attempts before a delivery is parked as failed
    outbox_retention_days: int = 7  # acknowledged outbox rows (and finished jobs) kept this long
    housekeeping_interval_minutes: int = 60  # how often consents are expired and old rows purged
    export_lifetime_hours: int = 168  # an access export's download link works this long (once)
    # Rate limits, for the whole deployment (docs/security.md says why these defaults); 0 turns one off.
    trusted_proxies: str = ""  # addresses or CIDR networks whose X-Forwarded-For names the client
    instances: int = 1  # service instances sharing the limits: each process enforces its exact share
    rate_limit_network_per_second: float = 100.0  # requests from one client network (IPv4 /24, IPv6 /48)
    rate_limit_network_burst: int = 1000
    rate_limit_key_per_second: float = 1000.0  # requests made with one publishable key
    rate_limit_key_burst: int = 10_000
    rate_limit_secret_key_per_second: float = 20_000.0  # requests made with one secret key
    rate_limit_secret_key_burst: int = 100_000
    new_subjects_per_minute: int = 6000  # subjects one publishable key may create per minute
    rate_limit_refusal_delay_ms: int = 500  # how long a 429 waits before it is sent (a tarpit)

    def __post_init__(self) -> None:
        checks = (
            ("port", 0 < self.port < 65536),
            ("workers", self.workers >= 0),
            ("pool_min_size", self.pool_min_size >= 0),
            ("pool_max_size", self.pool_max_size >= max(1, self.pool_min_size)),
            ("max_body_bytes", self.max_body_bytes >= 1024),
            ("audit_seal_interval_ms", self.audit_seal_interval_ms >= 10),
            ("cache_size", self.cache_size >= 0),
            ("state_cache_size", self.state_cache_size is None or self.state_cache_size >= 0),
            ("idempotency_ttl_hours", self.idempotency_ttl_hours >= 1),
            ("write_batch_size", self.write_batch_size >= 1),
            ("write_batch_wait_us", self.write_batch_wait_us >= 0),
            ("write_concurrency", self.write_concurrency >= 1),
            ("feed_max_wait", 0 <= self.feed_max_wait <= 300),
            ("job_concurrency", self.job_concurrency >= 1),
            ("job_poll_interval_ms", self.job_poll_interval_ms >= 10),
            ("job_lease_seconds", self.job_lease_seconds >= 2),
            ("job_max_attempts", self.job_max_attempts >= 1),
            ("retry_backoff_base_ms", self.retry_backoff_base_ms >= 1),
            ("retry_backoff_cap_seconds", self.retry_backoff_cap_seconds * 1000 >= self.retry_backoff_base_ms),
            ("delivery_concurrency", self.delivery_concurrency >= 1),
            ("delivery_timeout_ms", self.delivery_timeout_ms >= 10),
            ("delivery_max_attempts", self.delivery_max_attempts >= 1),
            ("outbox_retention_days", self.outbox_retention_days >= 0),
            ("housekeeping_interval_minutes", self.housekeeping_interval_minutes >= 1),
            ("export_lifetime_hours", self.export_lifetime_hours >= 1),
            ("replica_wait_ms", 0 <= self.replica_wait_ms <= 10_000),
            ("replica_max_lag_ms", self.replica_max_lag_ms >= 10),
            ("instances", self.instances >= 1),
            ("rate_limit_network_per_second", self.rate_limit_network_per_second >= 0),
            ("rate_limit_network_burst", self.rate_limit_network_burst >= 0),
            ("rate_limit_key_per_second", self.rate_limit_key_per_second >= 0),
            ("rate_limit_key_burst", self.rate_limit_key_burst >= 0),
            ("rate_limit_secret_key_per_second", self.rate_limit_secret_key_per_second >= 0),
            ("rate_limit_secret_key_burst", self.rate_limit_secret_key_burst >= 0),
            ("new_subjects_per_minute", self.new_subjects_per_minute >= 0),
            ("rate_limit_refusal_delay_ms", 0 <= self.rate_limit_refusal_delay_ms <= 10_000),
        )
        for name, ok in checks:
            if not ok:
                raise ConfigError(f"{_env_name(name)}: value out of range")
        if self.pool_max_size <= self.job_concurrency:
            # A job holds a connection (its request's lock) while its step takes another from the
            # same pool: with as many jobs in flight as connections, each waits for the next forever.
            raise ConfigError(
                f"{_env_name('pool_max_size')}: must be greater than {_env_name('job_concurrency')}"
                f" ({self.pool_max_size} <= {self.job_concurrency}): each job holds a connection while it takes another"
            )
        if self.link_token_secret is not None and len(self.link_token_secret) < MIN_LINK_TOKEN_SECRET:
            # Tokens are HMAC-SHA256 under this secret: a short one can be guessed offline from a single token.
            raise ConfigError(f"CONSENT_LINK_TOKEN_SECRET: at least {MIN_LINK_TOKEN_SECRET} characters")
        if self.database_replica_url is not None:
            if self.database_url is None:
                raise ConfigError("DATABASE_REPLICA_URL: needs DATABASE_URL (the embedded database has no replica)")
            if not self.database_replica_url.startswith(("postgresql://", "postgres://")):
                raise ConfigError("DATABASE_REPLICA_URL: a postgresql:// URL")
        try:
            self.trusted_proxy_networks  # noqa: B018 (decoded once here, so a bad entry stops the start-up)
        except ValueError:
            raise ConfigError(f"{_env_name('trusted_proxies')}: addresses or CIDR networks, comma-separated") from None

    @property
    def embedded_database(self) -> bool:
        """True when the service starts its own PostgreSQL under `home`."""
        return self.database_url is None

    @property
    def pooled(self) -> bool:
        """True when DATABASE_URL is a transaction-mode pooler (DATABASE_SESSION_URL names the server)."""
        return self.database_session_url is not None

    @property
    def state_cache_entries(self) -> int:
        return self.cache_size if self.state_cache_size is None else self.state_cache_size

    @property
    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    @property
    def trusted_proxy_networks(self) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
        """`trusted_proxies` decoded: the peers whose X-Forwarded-For is believed."""
        return tuple(ipaddress.ip_network(part.strip()) for part in self.trusted_proxies.split(",") if part.strip())

    @property
    def processes(self) -> int:
        """Service processes in the deployment: each one enforces this share of every rate limit."""
        return self.worker_count * self.instances


def _env_name(field: str) -> str:
    return field.upper() if field.startswith("database_") else f"CONSENT_{field.upper()}"


_FIELDS = {_env_name(name): name for name in Settings.__struct_fields__}
_PATH_FIELDS = tuple(
    field.name for field in msgspec.structs.fields(Settings) if Path in (field.type, *typing.get_args(field.type))
)


def load_settings(environ: Mapping[str, str] | None = None, **overrides: object) -> Settings:
    """Decode settings from `environ` (default: the process environment).

    Empty variables count as unset. `overrides` (field names) win over the
    environment; the CLI uses them for its flags.
    """
    environ = os.environ if environ is None else environ
    raw: dict[str, object] = {field: value for var, field in _FIELDS.items() if (value := environ.get(var, "")) != ""}
    raw.update({k: v for k, v in overrides.items() if v is not None})
    # msgspec has no text form of Path; a Path instance is accepted as it is.
    for field in _PATH_FIELDS:
        if isinstance(raw.get(field), str):
            raw[field] = Path(str(raw[field]))
    try:
        return msgspec.convert(raw, Settings, strict=False)
    except msgspec.ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: msgspec.ValidationError) -> str:
    """Turn msgspec's `... - at `$.port`` into `CONSENT_PORT: ...`."""
    message = str(exc)
    head, sep, where = message.rpartition(" - at `$.")
    if sep:
        return f"{_env_name(where.rstrip('`'))}: {head}"
    return message
