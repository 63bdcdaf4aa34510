"""Platform settings, read from the environment (``DPI_*``) and the command line."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an instance needs to know about where it lives and who it is."""

    model_config = SettingsConfigDict(env_prefix="DPI_", extra="ignore")

    data_dir: Path = Field(default=Path("var"), description="Keys, SQLite database and local state.")
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL; unset means SQLite (WAL) at <data_dir>/dpi.sqlite3.",
    )
    public_url: str = Field(
        default="http://127.0.0.1:8000",
        description="The URL participants use to reach this instance: token audience and issuer. "
        "Unset, `dpi serve` takes it from its --host and --port.",
    )
    log_origin: str = Field(
        default="dpistack.local/transparency",
        description="Origin line of transparency-log checkpoints (the log's name).",
    )
    access_token_seconds: int = Field(default=300, ge=30, le=3600)
    client_assertion_max_seconds: int = Field(default=300, ge=30, le=3600)
    max_body_bytes: int = Field(default=1_048_576, description="Requests larger than this get 413.")
    rate_limit_storage: str = Field(
        default="memory://", description="Where rate-limit counters live (memory:// or redis://host:port)."
    )
    auth_failure_limit: str = Field(
        default="100/minute", description="Failed authentications a relying party may cause before it gets 429."
    )
    otp_send_limit: str = Field(default="600/minute", description="OTPs a relying party may have sent.")
    payments_identity_client: str | None = Field(
        default=None,
        description="The switch's relying-party participant at identity (its key in <data_dir>/credentials), "
        "used to verify national IDs registered as payment aliases. Unset: national-ID aliases are refused.",
    )
    outbox_url: str | None = Field(
        default=None, pattern=r"^(nats|tls)://[^\s]+$",
        description="nats://host:port of a NATS JetStream server: committed outbox messages (FSPIOP callbacks) "
        "are handed to its stream and delivered by whichever server process pulls them. Unset: each process "
        "delivers what it wrote, and sweeps the table for the rest.",
    )
    outbox_stream: str = Field(default="DPI_OUTBOX", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                               description="The JetStream stream the outbox uses (with DPI_OUTBOX_URL).")
    xroad_instance: str = Field(
        default="DPI", pattern=r"^[A-Za-z0-9._-]{1,32}$",
        description="This country's X-Road instance identifier (the first part of every member and service id).",
    )
    exchange_max_body_bytes: int = Field(
        default=10_485_760, ge=1, description="Largest request or response body the information mediator carries.")
    exchange_timeout_seconds: float = Field(
        default=30.0, gt=0, le=600, description="How long the mediator waits for a provider's backend.")
    events_url: str | None = Field(
        default=None, description="Where pub/sub events live: unset = the platform database (outbox); "
        "nats://host:port = NATS JetStream.")
    events_stream: str = Field(default="DPI_EVENTS", pattern=r"^[A-Za-z0-9_-]{1,64}$",
                               description="The JetStream stream of events (with DPI_EVENTS_URL=nats://...).")
    llm_url: str | None = Field(
        default=None, pattern=r"^https?://[^\s]+$",
        description="Base URL of an OpenAI-compatible endpoint the operator runs (its /v1/chat/completions is "
        "called): the service finder then has a language model rerank its answers and summarise the best one. "
        "Unset (the default): no language model is ever called.")
    llm_model: str = Field(default="", max_length=200, description="The model name sent to that endpoint.")
    llm_api_key: SecretStr | None = Field(default=None, description="Bearer key of that endpoint (never logged).")
    llm_personal_data: bool = Field(
        default=False,
        description="The operator's policy allows questions that look like they hold personal data (ID numbers, "
        "phone numbers, e-mail addresses, the logged-in person's names) to reach the model as they are; each "
        "such call is logged in the transparency log. Off: those parts are redacted before sending.")
    llm_timeout_seconds: float = Field(
        default=5.0, gt=0, le=60, description="How long the finder waits for the model before answering without it.")
    process_caches: bool = Field(
        default=True,
        description="Keep hot rows (people's authentication state) in each worker process, kept true by the "
        "host's change board. Turn off when several hosts share one PostgreSQL.",
    )

    @field_validator("public_url")
    @classmethod
    def _public_url_is_an_issuer(cls, value: str) -> str:
        # It becomes the issuer and the audience participants sign for (OIDC Discovery §3:
        # a URL with no query or fragment), so a typo must stop the start, not every login.
        parts = urlsplit(value)
        try:
            has_valid_port = parts.port is None or parts.port > 0
        except ValueError:
            has_valid_port = False
        if (parts.scheme not in ("http", "https") or not parts.hostname or not has_valid_port
                or any(c.isspace() for c in value)):
            raise ValueError(f"must be an absolute http:// or https:// URL such as https://dpi.example.org, "
                             f"not {value!r}")
        if "?" in value or "#" in value:
            raise ValueError(f"must not carry a query (?) or fragment (#), as it is the tokens' issuer: {value!r}")
        return value

    @field_validator("events_url")
    @classmethod
    def _events_url(cls, value: str | None) -> str | None:
        if value and not value.startswith("nats://"):
            raise ValueError(f"must be unset (events in the platform database) or nats://host:port, not {value!r}")
        return value or None

    @property
    def sqlalchemy_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'dpi.sqlite3').resolve()}"

    @property
    def keys_dir(self) -> Path:
        return self.data_dir / "keys"

    @property
    def is_sqlite(self) -> bool:
        return self.sqlalchemy_url.startswith("sqlite")
