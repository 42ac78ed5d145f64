"""`app.py doctor`: check every dependency the bot has and say what is wrong in plain words."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.settings import Settings

LOCAL_REDIS = "redis://127.0.0.1:6379/0"  # where the playground looks for Redis when REDIS_URL is not set


@dataclass
class Check:
    name: str
    status: str  # ok | warn | fail
    detail: str


def add_commands(commands: argparse._SubParsersAction) -> None:
    commands.add_parser(
        "doctor",
        help="check Slack, the model server, the database and Redis",
        description="Check every dependency the bot has (Slack token, model server, database, Redis) and say "
        "what is wrong in plain words. Exits 1 when something is broken.",
    ).set_defaults(run=run)


def run_checks(settings: Settings, extra: list[Callable[[Settings], Check]] | None = None) -> list[Check]:
    checks = [check_slack, check_model, check_database, check_redis, check_agent_database, *(extra or [])]
    results = []
    for check in checks:
        try:
            results.append(check(settings))
        except Exception as error:  # a broken check must not hide the others
            results.append(Check(check.__name__.removeprefix("check_"), "fail", f"check crashed: {error!r}"))
    return results


def render(results: list[Check]) -> str:
    marks = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}
    return "\n".join(f"[{marks[r.status]}] {r.name}: {r.detail}" for r in results)


def check_slack(settings: Settings) -> Check:
    from slack_sdk import WebClient
    from slack_sdk.errors import SlackApiError

    token = settings.secret("slack_bot_token")
    if not token:
        return Check(
            "slack",
            "warn",
            "SLACK_BOT_TOKEN is not set, so the bot cannot talk to Slack "
            "(python app.py starts the playground instead).",
        )
    client = WebClient(token=token, base_url=settings.slack_api_url, timeout=5)
    try:
        auth = client.auth_test()
    except SlackApiError as error:
        code = error.response.get("error", "unknown")
        if code in ("invalid_auth", "not_authed", "token_revoked", "account_inactive"):
            return Check(
                "slack",
                "fail",
                f"Slack rejected SLACK_BOT_TOKEN ({code}). Copy the Bot User OAuth "
                "Token (xoxb-…) from the app's OAuth & Permissions page.",
            )
        return Check("slack", "fail", f"Slack answered {code} to auth.test.")
    except Exception as error:
        return Check(
            "slack",
            "fail",
            f"Cannot reach Slack at {settings.slack_api_url} ({type(error).__name__}). "
            "Check SLACK_API_URL and the network.",
        )
    if settings.slack_app_token is None and not settings.secret("slack_signing_secret"):
        return Check("slack", "fail", "SLACK_SIGNING_SECRET is not set: HTTP mode cannot verify Slack's requests.")
    return Check(
        "slack", "ok", f"token works: @{auth.get('user')} in workspace {auth.get('team')} ({auth.get('team_id')})."
    )


def check_model(settings: Settings) -> Check:
    import openai

    if not settings.model_configured:
        return Check(
            "model",
            "warn",
            "No model is configured: the offline engine answers. Set OPENAI_BASE_URL "
            "(and OPENAI_API_KEY) to use a language model.",
        )
    client = openai.OpenAI(
        base_url=settings.openai_base_url,
        api_key=settings.secret("openai_api_key") or "no-key",
        timeout=5,
        max_retries=0,
    )
    where = settings.openai_base_url or "api.openai.com"
    try:
        models = [m.id for m in client.models.list()]
    except openai.AuthenticationError:
        return Check("model", "fail", f"The model server at {where} rejected OPENAI_API_KEY (401).")
    except openai.APIConnectionError:
        return Check("model", "fail", f"Cannot reach the model server at {where}. Check OPENAI_BASE_URL.")
    except openai.APIStatusError as error:
        return Check("model", "fail", f"The model server at {where} answered HTTP {error.status_code}.")
    wanted = settings.model_for("chat")
    if models and wanted not in models:
        return Check(
            "model",
            "warn",
            f"Model server reachable, but it does not list the model '{wanted}' "
            f"(it has: {', '.join(models[:5])}). Check MODEL.",
        )
    return Check("model", "ok", f"model server at {where} answers; model '{wanted}' is available.")


def check_database(settings: Settings) -> Check:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from bot.storage.ledger import MIGRATIONS

    url = settings.resolved_database_url
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            try:
                current = connection.execute(text("SELECT version_num FROM alembic_version")).scalar()
            except Exception:
                current = None
    except Exception as error:
        return Check(
            "database",
            "fail",
            f"Cannot connect to the database ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:160]}). Check DATABASE_URL.",
        )
    finally:
        engine.dispose()
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    head = ScriptDirectory.from_config(config).get_current_head()
    backend = url.split(":")[0]
    if current != head:  # brought up to date, as every other command does
        from bot.storage.ledger import Ledger

        try:
            Ledger(url).migrate()
        except Exception as error:
            return Check(
                "database",
                "fail",
                f"{backend} is reachable but its schema is at {current or 'nothing'}, not {head}, and updating it "
                f"failed ({type(error).__name__}: {str(error).splitlines()[0][:160]}).",
            )
        done = f"created ({head})" if current is None else f"updated from {current} to {head}"
        return Check("database", "ok", f"{backend} reachable, schema {done}.")
    return Check("database", "ok", f"{backend} reachable, schema up to date ({head}).")


def check_redis(settings: Settings) -> Check:
    import redis

    if not settings.redis_url:
        return _redis_unset(settings)
    client = redis.Redis.from_url(settings.redis_url, socket_connect_timeout=3, socket_timeout=3)
    try:
        client.ping()
    except redis.RedisError as error:
        return Check(
            "redis", "fail", f"Cannot reach Redis ({type(error).__name__}). Check REDIS_URL and that Redis is running."
        )
    return Check("redis", "ok", "Redis answers.")


def _redis_unset(settings: Settings) -> Check:
    """No REDIS_URL: fine for the playground when Redis answers on 127.0.0.1:6379, which it then uses."""
    import redis

    local = redis.Redis.from_url(LOCAL_REDIS, socket_connect_timeout=1, socket_timeout=1)
    try:
        found = bool(local.ping())
    except redis.RedisError:
        found = False
    slack = settings.slack_app_token is not None or settings.oauth_enabled or settings.secret("slack_bot_token")
    if found and not slack:
        return Check(
            "redis",
            "ok",
            "Redis answers on 127.0.0.1:6379, and the playground uses it. To serve Slack, set "
            "REDIS_URL=redis://127.0.0.1:6379/0 for the bot and the workers too.",
        )
    return Check(
        "redis",
        "warn",
        "REDIS_URL is not set: Slack retries are de-duplicated per process only, there is no response cache, and "
        "digests cannot run." + (" Redis answers on 127.0.0.1:6379: set REDIS_URL to use it." if found else ""),
    )


def check_agent_database(settings: Settings) -> Check:
    from cli.sql import database_report

    return Check("agent database", *database_report(settings))


def run(settings: Settings, args: argparse.Namespace) -> int:
    results = run_checks(settings)
    print(render(results))
    return 1 if any(r.status == "fail" for r in results) else 0
