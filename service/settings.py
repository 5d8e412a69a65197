"""Process settings from the environment (prefix ``VSM_``); read only by composition roots."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from connectors.mural.client import DEFAULT_API_URL as MURAL_API_URL
from service.db.urls import sqlite_file

DEFAULT_SQLITE_PATH = Path("var") / "valuestream.db"
MURAL_AUTH_URL = "https://app.mural.co/api/public/v1/authorization/oauth2/"


class ProviderSettings(BaseModel):
    """One provider's OAuth app and polling, the same shape for every provider
    (``VSM_<PROVIDER>__CLIENT_ID`` and so on); an empty ``client_id`` turns the provider off."""

    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    redirect_uri: str = ""
    api_url: str = ""
    auth_url: str = ""
    poll_interval_s: float = Field(
        default=300.0, ge=1.0, description="Seconds between change checks of one board."
    )
    poll_jitter: float = Field(
        default=0.2, ge=0.0, le=1.0, description="Each interval is stretched by up to +-this."
    )

    @property
    def enabled(self) -> bool:
        return bool(self.client_id and self.client_secret.get_secret_value())


class MiroSettings(ProviderSettings):
    """``VSM_MIRO__*``; the change check reads a board's ``modifiedAt``."""

    redirect_uri: str = "http://127.0.0.1:8000/v1/oauth/miro/callback"
    api_url: str = "https://api.miro.com"
    auth_url: str = "https://miro.com/oauth/authorize"


class MuralSettings(ProviderSettings):
    """``VSM_MURAL__*``; the change check reads a mural's ``updatedOn``. Token and refresh
    endpoints are Mural's ``{auth_url}token`` and ``{auth_url}refresh``."""

    redirect_uri: str = "http://127.0.0.1:8000/v1/oauth/mural/callback"
    api_url: str = MURAL_API_URL
    auth_url: str = MURAL_AUTH_URL


class WebhookSettings(BaseModel):
    """The ``webhooks`` group of ``Settings``: ``VSM_WEBHOOKS__DEBOUNCE_S=10`` and so on."""

    debounce_s: float = Field(
        default=10.0, ge=0, le=3600, description="Triggers within this window make one import."
    )
    secret_overlap_s: int = Field(
        default=24 * 3600,
        ge=0,
        description="After a rotation the previous secret keeps verifying this long.",
    )
    tolerance_s: int = Field(
        default=300, ge=1, le=3600, description="Largest clock difference a signature may have."
    )
    max_body_bytes: int = Field(default=64 * 1024, ge=1, le=1024 * 1024)
    log_retention_days: int = Field(
        default=14, ge=1, description="Trigger log and finished deliveries are kept this long."
    )
    delivery_window_s: int = Field(
        default=24 * 3600, ge=60, description="Outbound deliveries are retried this long."
    )
    delivery_timeout_s: float = Field(default=10.0, gt=0, le=60)
    allow_private_targets: bool = Field(
        default=False,
        description="Let subscriptions call loopback and private addresses (receivers on "
        "this host or LAN, tests). Link-local and cloud metadata addresses stay refused.",
    )
    follow_redirects: bool = Field(
        default=False, description="Follow redirects of subscription URLs (each hop re-checked)."
    )


class Settings(BaseSettings):
    """Everything an operator can set. Nested groups use ``__``: ``VSM_MIRO__CLIENT_ID``."""

    model_config = SettingsConfigDict(
        env_prefix="VSM_",
        env_nested_delimiter="__",
        extra="ignore",
    )

    database_url: str = Field(
        default=f"sqlite:///{DEFAULT_SQLITE_PATH}",
        description="SQLAlchemy URL; SQLite file by default, postgresql+psycopg://... at scale.",
    )
    broker_url: str | None = Field(
        default=None,
        description="Celery broker (redis://...). Unset: jobs run on a thread inside the API.",
    )
    broker_queue: str = Field(
        default="valuestream",
        min_length=1,
        max_length=100,
        description="Celery queue the API publishes import jobs to and `vsm worker` consumes.",
    )
    broker_visibility_timeout_s: int = Field(
        default=3600,
        ge=1,
        description="Seconds before Redis redelivers a job whose worker died without acking.",
    )
    max_dump_bytes: int = Field(
        default=25 * 1024 * 1024,
        ge=1024,
        description="Largest dump a route parses while the request waits (classify, the web form).",
    )
    max_upload_bytes: int = Field(
        default=256 * 1024 * 1024,
        ge=1024,
        description="Largest dump `POST /v1/imports` takes: stored as it arrives and parsed "
        "by a worker (a 100k-sticky board is about 90-110 MB); larger answers 413.",
    )
    upload_dir: Path | None = Field(
        default=None,
        description="Folder of uploaded dumps waiting for their import. Every API process and "
        "worker must see the same folder (a shared volume when they run on different hosts). "
        "Unset: `uploads` beside the SQLite file, else var/uploads.",
    )
    page_size_max: int = Field(default=200, ge=1)
    page_size_default: int = Field(default=50, ge=1)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["auto", "json", "console"] = Field(
        default="auto",
        description="`auto`: readable lines on a terminal, JSON lines otherwise.",
    )
    encryption_keys: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Comma-separated Fernet keys, newest first (tokens at rest; key rotation).",
    )
    public_base_url: str | None = Field(
        default=None,
        description="Where people reach the API (share links, webhook URLs). Unset: the host "
        "each request came to, and the address `vsm serve` listens on for background work.",
    )
    listen_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The address `vsm serve` listens on; it sets this for its processes.",
    )
    miro: MiroSettings = Field(default_factory=MiroSettings)
    mural: MuralSettings = Field(default_factory=MuralSettings)
    import_max_retries: int = Field(default=5, ge=0)
    outbox_sweep_s: float = Field(
        default=60.0,
        gt=0,
        le=3600,
        description="Seconds between the beat sweeps that hand the broker what it did not take "
        "(imports still queued, webhook triggers past their due time).",
    )
    outbox_stale_after_s: float = Field(
        default=120.0,
        gt=0,
        le=86400,
        description="How late a queued import or a pending trigger must be before the sweep "
        "hands it over again (handing over twice is harmless, only wasteful).",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="Bearer token that GET /metrics requires (Prometheus); unset: no /metrics.",
    )
    worker_metrics_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="`vsm worker` serves its processes' Prometheus figures on this port (needs "
        "PROMETHEUS_MULTIPROC_DIR, see docs/service.md); unset: workers export nothing.",
    )
    worker_metrics_host: str = Field(
        default="127.0.0.1",
        description="Address of the worker metrics port (`0.0.0.0` in a container).",
    )
    rate_limit: str | None = Field(
        default="300/10 seconds",
        description="Requests one API key may make (`limits` notation, several joined with "
        "`;`: `300/10 seconds;10000/hour`); more answer 429 with Retry-After. Counted in Redis "
        "when VSM_BROKER_URL is a Redis URL, else per process. Unset: no limit.",
    )
    max_active_imports: int = Field(
        default=20,
        ge=1,
        description="Import jobs one workspace may have queued or running at once; more "
        "answer 429 with Retry-After (one workspace cannot fill the queue for all).",
    )
    webhooks: WebhookSettings = Field(default_factory=WebhookSettings)
    problem_similarity: float = Field(
        default=0.75,
        ge=0.3,
        le=1.0,
        description="Recurring problems: how similar two problem texts must be to group "
        "(0-1, 1 = identical after normalisation); `?similarity=` overrides it per request.",
    )

    @field_validator("encryption_keys", mode="before")
    @classmethod
    def _split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("rate_limit")
    @classmethod
    def _parse_rate_limit(cls, value: str | None) -> str | None:
        if value is not None and not value.strip():
            return None  # VSM_RATE_LIMIT= (empty): no limit
        if value is not None:
            from limits import parse_many

            parse_many(value)  # ValueError names what is wrong
        return value

    @field_validator("database_url", mode="before")
    @classmethod
    def _postgres_scheme(cls, value: object) -> object:
        # Heroku, Render, Fly and libpq write postgres:// or postgresql://; SQLAlchemy needs
        # the driver named (this project ships psycopg 3).
        if isinstance(value, str):
            for prefix in ("postgres://", "postgresql://"):
                if value.startswith(prefix):
                    return "postgresql+psycopg://" + value[len(prefix) :]
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @model_validator(mode="after")
    def _page_sizes(self) -> Settings:
        if self.page_size_default > self.page_size_max:
            raise ValueError("page_size_default must not exceed page_size_max")
        return self

    @property
    def links_base_url(self) -> str:
        """The base of links made without a request: the public URL, else the listen address."""
        return (self.public_base_url or self.listen_url).rstrip("/")

    @property
    def upload_path(self) -> Path:
        """The folder of uploaded dumps: ``upload_dir``, else beside the SQLite file (the
        embedded data directory), else ``var/uploads``."""
        if self.upload_dir is not None:
            return self.upload_dir
        database = sqlite_file(self.database_url)
        if database is not None:
            return database.parent / "uploads"
        return DEFAULT_SQLITE_PATH.parent / "uploads"

    @property
    def embedded_worker(self) -> bool:
        """True when no broker is configured: the API process runs the jobs itself."""
        return not self.broker_url
