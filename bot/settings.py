"""Twelve-factor configuration: environment variables (or a `.env` file), validated once at start.

An invalid setting stops the program with one readable line naming the variable; secret values are never
printed (they are `SecretStr`, and error lines are built from the variable name and the reason only).
"""

from __future__ import annotations

import json
import re
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from bot.model.params import ModelRules, parse_overrides

Pattern = Literal["summarize", "chat", "rag", "digest", "agent"]
PATTERNS: tuple[Pattern, ...] = ("summarize", "chat", "rag", "digest", "agent")

# USD per million tokens (input, output). Override or extend with MODEL_PRICES='{"model": [in, out]}'.
DEFAULT_PRICES: dict[str, tuple[float, float]] = {
    "gpt-4o-mini": (0.15, 0.60),
    "gpt-4o": (2.50, 10.00),
    "gpt-4.1-mini": (0.40, 1.60),
    "gpt-4.1": (2.00, 8.00),
    "text-embedding-3-small": (0.02, 0.0),
    "offline-extractive": (0.0, 0.0),
}


class SettingsError(Exception):
    """A setting is missing or invalid; the message is one line, safe to print."""


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", case_sensitive=False)

    slack_bot_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_api_url: str = "https://slack.com/api/"
    slack_client_id: str | None = None  # with SLACK_CLIENT_SECRET: OAuth installs, one deployment for many workspaces
    slack_client_secret: SecretStr | None = None
    slack_oauth_authorize_url: str = "https://slack.com/oauth/v2/authorize"

    openai_api_key: SecretStr | None = None
    openai_base_url: str | None = None
    model: str = "gpt-4o-mini"
    summarize_model: str | None = None
    chat_model: str | None = None
    rag_model: str | None = None
    digest_model: str | None = None
    agent_model: str | None = None
    embedding_model: str = "text-embedding-3-small"
    model_context_tokens: int = Field(default=16_000, ge=512)
    model_timeout_seconds: float = Field(default=60.0, gt=0)
    model_max_retries: int = Field(default=3, ge=0, le=10)
    model_prices: str = ""
    answer_max_tokens: int | None = Field(default=None, ge=16)  # cap on streamed answers (chat, docs); unset: none
    model_params: str = ""  # JSON: per model, which request parameters it takes (bot/model/params.py)
    cache_ttl_seconds: int = Field(default=86_400, ge=0)
    chat_history_tokens: int = Field(default=4_000, ge=0)
    slack_streaming: Literal["edits", "native"] = "native"
    stream_update_seconds: float = Field(default=1.0, ge=0.1)
    stream_thinking_seconds: float = Field(default=0.8, ge=0.0)
    # Digests (batch jobs on RQ workers); see digests/.
    digest_model_concurrency: int = Field(default=4, ge=1, le=64)
    digest_queue: str = Field(default="digest", pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    digest_job_timeout_seconds: int = Field(default=1_800, ge=10)
    digest_retry_delays: str = "0,60,300"
    digest_progress_seconds: float = Field(default=2.0, ge=0.1)
    slack_history_per_minute: int = Field(default=50, ge=1)
    worker_processes: int = Field(default=2, ge=1, le=64)
    worker_heartbeat_seconds: int = Field(default=10, ge=1)
    worker_dead_after_seconds: int = Field(default=60, ge=1)
    worker_maintenance_seconds: int = Field(default=30, ge=1)
    schedule_check_seconds: float = Field(default=30.0, ge=0.2)
    digest_requeue_after_seconds: float = Field(default=30.0, ge=0.5)  # missing from Redis this long: queued again

    # Docs Q&A (RAG); see knowledge/ and patterns/rag.py.
    docs_index_dir: Path | None = None  # default: DATA_DIR/docs-index
    docs_store: Literal["local", "postgres"] = "local"
    docs_database_url: str | None = None  # DOCS_STORE=postgres: PostgreSQL with pgvector (default: DATABASE_URL)
    docs_embedding: Literal["auto", "model", "static", "lexical"] = "auto"
    rag_top_k: int = Field(default=4, ge=1, le=20)
    # "low": answer from weak-but-not-hopeless passages and say so; "high": refuse those too (knowledge/confidence.py)
    rag_min_confidence: Literal["low", "high"] = "low"

    # Agent (tasks with tools in a thread); see patterns/agent.py.
    agent_database_url: str | None = None  # default: the demo SQLite database DATA_DIR/demo_sales.db
    agent_max_steps: int = Field(default=6, ge=1, le=100)
    agent_max_cost_usd: float = Field(default=0.05, gt=0)
    # While the database (and so every budget) cannot be read, requests estimated above this cost are refused.
    budget_outage_max_cost_usd: float = Field(default=0.01, ge=0)
    # What one `/digest` may take on: channels at once, days of history, and estimated cost per digest.
    digest_max_channels: int = Field(default=5, ge=1, le=50)
    digest_max_days: int = Field(default=90, ge=1, le=366)
    digest_max_cost_usd: float = Field(default=1.0, ge=0)
    agent_sql_allowed_channels: str = ""  # comma-separated channel ids; empty: every channel
    agent_sql_allowed_users: str = ""  # comma-separated user ids; empty: every user
    agent_sql_row_limit: int = Field(default=50, ge=1, le=10_000)
    agent_sql_timeout_seconds: float = Field(default=5.0, gt=0, le=300)
    agent_sql_tables: str = ""  # comma-separated table or table.column names the agent may read; empty: the demo's

    data_dir: Path = Path("data")
    database_url: str | None = None
    redis_url: str | None = None

    port: int = Field(default=3000, ge=1, le=65_535)
    bind_address: str = "0.0.0.0"  # the playground's bot listens on 127.0.0.1 only
    metrics_port: int | None = Field(default=None, ge=1, le=65_535)  # /metrics on a port of its own
    metrics_token: SecretStr | None = None  # or /metrics on PORT, for `Authorization: Bearer <token>` only
    web_concurrency: int = Field(default=2, ge=1, le=64)
    listener_threads: int = Field(default=256, ge=1, le=4096)
    # HTTP mode: each web worker hands post-ack work to a work process of its own, run at this lower CPU
    # priority so acks come first on a busy machine (server/work_process.py). WORK_PROCESS=false keeps it in-process.
    work_process: bool = True
    work_process_nice: int = Field(default=5, ge=0, le=19)
    max_input_tokens: int = Field(default=400_000, ge=1_000)
    admin_user_ids: str = ""  # comma-separated Slack user ids who see workspace usage and set limits
    log_level: str = "INFO"
    log_format: Literal["json", "text"] = "json"

    @field_validator(
        "slack_bot_token",
        "slack_signing_secret",
        "slack_app_token",
        "openai_api_key",
        "slack_client_secret",
        "slack_client_id",
        "metrics_token",
        mode="before",
    )
    @classmethod
    def _empty_secret_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("answer_max_tokens", mode="before")
    @classmethod
    def _empty_is_unset(cls, value: object) -> object:
        return None if value == "" else value

    @field_validator("slack_api_url", "openai_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None if value == "" else value
        if not value.startswith(("http://", "https://")):
            raise ValueError("must be an http:// or https:// URL")
        return value

    @field_validator("slack_api_url")
    @classmethod
    def _trailing_slash(cls, value: str) -> str:
        return value if value.endswith("/") else value + "/"

    @field_validator("database_url", "agent_database_url", "docs_database_url")
    @classmethod
    def _database_url(cls, value: str | None) -> str | None:
        if value:
            try:
                make_url(value)
            except Exception:
                raise ValueError("is not a valid SQLAlchemy URL (e.g. postgresql+psycopg://host/db)") from None
        return value or None

    @field_validator("redis_url")
    @classmethod
    def _redis_url(cls, value: str | None) -> str | None:
        if value and not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must start with redis://, rediss:// or unix://")
        return value or None

    @field_validator("model_prices")
    @classmethod
    def _prices(cls, value: str) -> str:
        if value:
            try:
                table = json.loads(value)
                assert isinstance(table, dict)
                for pair in table.values():
                    assert len(pair) == 2 and all(float(p) >= 0 for p in pair)
            except Exception:
                raise ValueError('must be JSON like {"model": [input_usd_per_1M, output_usd_per_1M]}') from None
        return value

    @field_validator("model_params")
    @classmethod
    def _model_params(cls, value: str) -> str:
        try:
            parse_overrides(value)
        except Exception as error:
            reason = str(error) if isinstance(error, ValueError) and not isinstance(error, json.JSONDecodeError) else ""
            raise ValueError(
                'must be JSON like {"model": {"temperature": false, "max_tokens": "max_completion_tokens"}}'
                + (f" ({reason})" if reason else "")
            ) from None
        return value

    @field_validator("digest_retry_delays")
    @classmethod
    def _retry_delays(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(p.isdigit() for p in parts) or len(parts) > 10:
            raise ValueError("must be up to ten comma-separated whole seconds, e.g. 0,60,300 (empty: no retries)")
        return ",".join(parts)

    @field_validator("agent_sql_tables")
    @classmethod
    def _sql_tables(cls, value: str) -> str:
        parts = [p.strip() for p in value.split(",") if p.strip()]
        if not all(re.fullmatch(r"[A-Za-z_][A-Za-z0-9_$]*(\.[A-Za-z_][A-Za-z0-9_$]*)?", p) for p in parts):
            raise ValueError("must be comma-separated table or table.column names, e.g. sales,customers.name")
        return ",".join(parts)

    @field_validator("log_level")
    @classmethod
    def _log_level(cls, value: str) -> str:
        value = value.upper()
        if value not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise ValueError("must be DEBUG, INFO, WARNING or ERROR")
        return value

    # Derived values ---------------------------------------------------------------------------------------

    def model_for(self, pattern: Pattern) -> str:
        """The model a pattern uses: its own setting when given, the default `MODEL` otherwise."""
        return getattr(self, f"{pattern}_model") or self.model

    @property
    def oauth_enabled(self) -> bool:
        return bool(self.slack_client_id and self.slack_client_secret)

    @property
    def admins(self) -> frozenset[str]:
        return frozenset(part.strip() for part in self.admin_user_ids.split(",") if part.strip())

    @property
    def model_configured(self) -> bool:
        """A model server is configured; otherwise the offline engine answers."""
        return bool(self.openai_base_url or self.openai_api_key)

    @property
    def digest_retry_schedule(self) -> list[int]:
        """Seconds to wait before each retry of a failed digest job (its length is the number of retries)."""
        return [int(p) for p in self.digest_retry_delays.split(",") if p]

    @property
    def docs_index_path(self) -> Path:
        return self.docs_index_dir or self.data_dir / "docs-index"

    @property
    def resolved_database_url(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.data_dir / 'bot.db').as_posix()}"

    @cached_property
    def prices(self) -> dict[str, tuple[float, float]]:
        table = dict(DEFAULT_PRICES)
        if self.model_prices:
            table.update({name: (float(p[0]), float(p[1])) for name, p in json.loads(self.model_prices).items()})
        return table

    @cached_property
    def model_rules(self) -> dict[str, ModelRules]:
        """`MODEL_PARAMS`: per-model overrides of which request parameters a model accepts."""
        return parse_overrides(self.model_params)

    def secret(self, name: str) -> str | None:
        value: SecretStr | None = getattr(self, name)
        return value.get_secret_value() if value else None

    def secret_values(self) -> list[str]:
        """Every secret this process holds: tokens, keys and the passwords inside its URLs (masked in logs)."""
        names = (
            "slack_bot_token",
            "slack_signing_secret",
            "slack_app_token",
            "openai_api_key",
            "slack_client_secret",
            "metrics_token",
        )
        values = [self.secret(name) or "" for name in names]
        for url in (self.database_url, self.redis_url, self.agent_database_url, self.docs_database_url):
            try:
                values.append((make_url(url).password or "") if url else "")
            except Exception:  # an unparsable URL is reported by its own validator
                continue
        return [value for value in values if value]


def load_settings(**overrides: object) -> Settings:
    """Read and validate settings; raise `SettingsError` with one line per problem (no secret values)."""
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as error:
        problems = []
        for item in error.errors():
            variable = str(item["loc"][0]).upper() if item["loc"] else "settings"
            reason = item["msg"].removeprefix("Value error, ")
            problems.append(f"{variable}: {reason}")
        raise SettingsError("Invalid setting " + "; ".join(problems)) from None
