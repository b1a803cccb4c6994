"""Settings from the environment (and `.env`), validated once at start-up.

A bad value stops start-up with one line naming the variable; see `load_settings`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, Field, SecretStr, ValidationError, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

PACKAGE_ROOT = Path(__file__).resolve().parent


def _default_migrations_dir() -> Path:
    source_tree = PACKAGE_ROOT.parent / "migrations"
    if source_tree.is_dir():
        return source_tree
    return Path(sys.prefix) / "share" / "fowergram" / "migrations"  # installed from a wheel


DEFAULT_MIGRATIONS_DIR = _default_migrations_dir()


class ConfigError(Exception):
    """Invalid configuration: the message is one line fit to show the operator."""


def _url_checker(*schemes: str) -> AfterValidator:
    def check(value: str | None) -> str | None:
        if value is None or value == "":
            return None
        try:
            parts = urlsplit(value)
            port = parts.port  # raises ValueError when out of range
        except ValueError as exc:
            raise ValueError(f"not a valid URL ({exc})") from None
        if parts.scheme not in schemes:
            raise ValueError(f"scheme must be one of {', '.join(schemes)}, got {parts.scheme!r}")
        if not parts.hostname and parts.scheme != "unix":
            raise ValueError("URL has no host")
        if port == 0:
            raise ValueError("port 0 is not a usable port")
        return value

    return AfterValidator(check)


def _check_host_port(value: str | None) -> str | None:
    if value is None or value == "":
        return None
    host, sep, port = value.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError("expected host:port, e.g. localhost:9000")
    return value


PostgresUrl = Annotated[str | None, _url_checker("postgresql", "postgres")]
RedisUrl = Annotated[str | None, _url_checker("redis", "rediss", "unix")]
NatsUrl = Annotated[str | None, _url_checker("nats", "tls", "ws", "wss")]
HttpUrl = Annotated[str | None, _url_checker("http", "https")]
HostPort = Annotated[str | None, AfterValidator(_check_host_port)]
Port = Annotated[int, Field(ge=1, le=65535)]
PortOrAuto = Annotated[int, Field(ge=0, le=65535)]  # 0 = pick a free port


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=".env", env_file_encoding="utf-8", extra="ignore", frozen=True
    )

    app_name: str = "fowergram-backend"
    app_version: str = "1.0.0"
    environment: Literal["development", "production"] = "development"
    host: str = "127.0.0.1"
    port: Port = 8080
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # Proxies whose X-Forwarded-For is believed (comma-separated addresses, or "*"). Client
    # addresses drive the per-IP limits: behind a load balancer list it here, and never use
    # "*" when clients can reach the server directly.
    forwarded_allow_ips: str = "127.0.0.1"

    database_url: PostgresUrl = None
    redis_url: RedisUrl = None
    nats_url: NatsUrl = None
    minio_endpoint: HostPort = None
    minio_access_key: str | None = None
    minio_secret_key: SecretStr | None = None
    minio_bucket: str = "fowergram"
    minio_secure: bool = False
    supertokens_connection_uri: HttpUrl = None
    supertokens_api_key: SecretStr | None = None

    # Isolation: several deployments (or test runs) can share one Redis and NATS.
    redis_key_prefix: str = Field(default="fg:", pattern=r"^[A-Za-z0-9_.:-]{0,32}$")
    nats_subject_prefix: str = Field(default="fg", pattern=r"^[A-Za-z0-9_-]{1,32}$")

    db_pool_min_size: Annotated[int, Field(ge=0, le=100)] = 2
    db_pool_max_size: Annotated[int, Field(ge=1, le=500)] = 20
    migrate_on_start: bool = False
    migrations_dir: Path = DEFAULT_MIGRATIONS_DIR

    max_body_bytes: Annotated[int, Field(ge=1024, le=64 * 1024 * 1024)] = 1024 * 1024
    graphql_max_depth: Annotated[int, Field(ge=2, le=50)] = 12
    graphql_max_tokens: Annotated[int, Field(ge=100, le=100_000)] = 5_000
    graphql_max_aliases: Annotated[int, Field(ge=1, le=1_000)] = 30
    ws_connection_init_timeout_s: Annotated[float, Field(gt=0, le=60)] = 3.0
    ws_max_subscriptions: Annotated[int, Field(ge=1, le=1000)] = 100
    # Browser origins (besides this server's own) allowed to open sockets, comma separated;
    # "*" allows any. Apps that send no Origin are always allowed.
    ws_allowed_origins: str = ""
    ws_max_message_bytes: Annotated[int, Field(ge=1024, le=16 * 1024 * 1024)] = 64 * 1024
    ws_ping_interval_s: Annotated[float, Field(gt=0, le=3600)] = 15.0
    ws_dead_peer_s: Annotated[float, Field(gt=0, le=7200)] = 45.0
    ws_outbound_max_frames: Annotated[int, Field(ge=8, le=100_000)] = 256
    ws_outbound_max_bytes: Annotated[int, Field(ge=64 * 1024, le=64 * 1024 * 1024)] = 1024 * 1024
    ws_drain_batch: Annotated[int, Field(ge=1, le=100_000)] = 500
    ws_drain_deadline_s: Annotated[float, Field(gt=0, le=600)] = 10.0

    # Auth: access tokens (JWT, asymmetric, rotating keys) and opaque refresh tokens.
    access_token_ttl_s: Annotated[int, Field(ge=30, le=24 * 3600)] = 15 * 60
    refresh_token_ttl_s: Annotated[int, Field(ge=3600, le=365 * 24 * 3600)] = 30 * 24 * 3600
    signing_key_rotation_s: Annotated[int, Field(ge=3600)] = 30 * 24 * 3600
    # a refresh token replaced this recently is refused without revoking the session
    refresh_reuse_grace_s: Annotated[float, Field(ge=0, le=60)] = 10.0
    jwt_issuer: str = "fowergram"
    # how often an instance re-reads the signing keys (rotations by other instances or
    # `fowergram keys rotate` reach it within this time)
    signing_keys_refresh_s: Annotated[float, Field(gt=0, le=3600)] = 60.0
    # argon2id cost (RFC 9106's second recommended option by default)
    argon2_time_cost: Annotated[int, Field(ge=1, le=20)] = 3
    argon2_memory_kib: Annotated[int, Field(ge=1024, le=4 * 1024 * 1024)] = 64 * 1024
    argon2_parallelism: Annotated[int, Field(ge=1, le=16)] = 4
    public_url: HttpUrl = None  # where clients reach us (OAuth redirects, mail links)

    # Mail: SMTP when SMTP_HOST is set; otherwise a development mailbox under DATA_DIR.
    smtp_host: str | None = None
    smtp_port: Port = 587
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = True
    smtp_use_tls: bool = False  # implicit TLS (port 465)
    mail_from: str = "Fowergram <no-reply@fowergram.local>"

    # Social login: presets for Google and GitHub, plus any OpenID Connect issuer.
    oauth_google_client_id: str | None = None
    oauth_google_client_secret: SecretStr | None = None
    oauth_github_client_id: str | None = None
    oauth_github_client_secret: SecretStr | None = None
    oidc_name: str = "oidc"
    oidc_issuer: HttpUrl = None
    oidc_client_id: str | None = None
    oidc_client_secret: SecretStr | None = None
    # Where providers may send users back (comma-separated, exact match). Default:
    # <PUBLIC_URL>/auth/callback.
    oauth_redirect_uris: str = ""

    # The outbox relay: committed domain events to the JetStream stream <PREFIX>_EVENTS
    # (subjects <prefix>.evt.<kind>). In every server process unless disabled; `fowergram
    # worker relay` runs it alone. Several may run at once (rows are claimed, not shared).
    outbox_relay_enabled: bool = True
    outbox_relay_poll_interval_s: Annotated[float, Field(gt=0, le=60)] = 1.0
    outbox_relay_batch_size: Annotated[int, Field(ge=1, le=1000)] = 100
    outbox_stream_max_age_s: Annotated[int, Field(ge=60)] = 7 * 24 * 3600

    # Durable event consumers (notifications, ...) on that stream: in every server process
    # unless disabled; `fowergram worker <name>|consumers` runs them alone. A failing event
    # is retried with growing delays; after CONSUMER_MAX_DELIVER deliveries it goes to the
    # dead-letter stream <PREFIX>_DLQ. CONSUMER_ACK_WAIT_S: how long an unacknowledged
    # delivery (a crashed consumer's) waits before it is delivered again.
    # CONSUMER_DB_POOL_MAX_SIZE: the in-process consumers' own connections, so that a
    # backlog they work through never makes requests wait for one.
    consumers_enabled: bool = True
    consumer_max_deliver: Annotated[int, Field(ge=1, le=100)] = 5
    consumer_ack_wait_s: Annotated[float, Field(ge=1, le=3600)] = 30.0
    consumer_db_pool_max_size: Annotated[int, Field(ge=1, le=100)] = 8

    # Presence: each instance beats a heartbeat in Redis every PRESENCE_HEARTBEAT_S; one
    # silent for PRESENCE_INSTANCE_TTL_S (must be longer) is declared dead by the others,
    # and its users go offline (within about TTL + one heartbeat of its death).
    presence_heartbeat_s: Annotated[float, Field(gt=0, le=60)] = 5.0
    presence_instance_ttl_s: Annotated[float, Field(gt=0, le=600)] = 20.0

    # The garbage collector (fowergram/observability/gc_policy.py), applied once the app is
    # ready: freeze what start-up made (no collection walks it again), and the collection
    # thresholds ("gen0,gen1,gen2"; empty: Python's 700,10,10; a first 0 disables them).
    gc_freeze_after_start: bool = True
    gc_thresholds: str = Field(default="10000,4,10", pattern=r"^(\d{1,9},\d{1,9},\d{1,9})?$")
    # Freeze again, every this many seconds, what sockets built since (0: never): full
    # collections stay short. The cycles closed sockets then leave frozen are freed by a
    # thaw (one full collection) once they reach GC_THAW_RATIO times the live objects:
    # memory stays within (1 + ratio) times them. With GC_SURVEY_IN_CHILD a forked child
    # finds how much there is (the server pauses only for the fork) and a thaw comes only
    # when it is that much; without, every look is a thaw.
    gc_refreeze_interval_s: Annotated[float, Field(ge=0, le=3600)] = 0.25
    gc_thaw_ratio: Annotated[float, Field(gt=0, le=100)] = 0.5
    gc_survey_in_child: bool = True

    # `fowergram dev`: where the embedded services keep their data, and their ports.
    data_dir: Path = Path(".fowergram")
    embedded_postgres_port: PortOrAuto = 0
    embedded_redis_port: PortOrAuto = 0
    embedded_nats_port: PortOrAuto = 0

    @model_validator(mode="after")
    def _production_needs_services(self) -> Settings:
        if self.environment == "production":
            missing = [
                name.upper()
                for name in ("database_url", "redis_url", "nats_url")
                if getattr(self, name) is None
            ]
            if missing:
                raise ValueError(f"{', '.join(missing)} must be set when ENVIRONMENT=production")
        if self.db_pool_min_size > self.db_pool_max_size:
            raise ValueError("DB_POOL_MIN_SIZE must not exceed DB_POOL_MAX_SIZE")
        return self

    @property
    def is_production(self) -> bool:
        return self.environment == "production"

    @property
    def allowed_redirect_uris(self) -> frozenset[str]:
        listed = {uri.strip() for uri in self.oauth_redirect_uris.split(",") if uri.strip()}
        return frozenset(listed or {f"{self.links_base}/auth/callback"})

    @property
    def links_base(self) -> str:
        """Where people reach us: links in mail, OAuth callbacks."""
        return (self.public_url or f"http://127.0.0.1:{self.port}").rstrip("/")

    @property
    def services_configured(self) -> bool:
        return None not in (self.database_url, self.redis_url, self.nats_url)


def _describe(error: ValidationError) -> str:
    first = error.errors()[0]
    location = ".".join(str(part) for part in first["loc"])
    message = first["msg"].removeprefix("Value error, ")
    if not location:
        return message
    shown = first.get("input")
    # URLs and keys may carry credentials: never echo them.
    secret = any(word in location for word in ("url", "uri", "key", "secret"))
    got = f" (got {shown!r})" if isinstance(shown, str | int | float) and not secret else ""
    return f"{location.upper()}: {message}{got}"


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment; raise `ConfigError` with one clear line."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        raise ConfigError(f"configuration error: {_describe(exc)}") from None
