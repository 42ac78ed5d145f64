"""Socket Mode: the bot opens a WebSocket to Slack instead of taking HTTP requests (no public URL needed)."""

from __future__ import annotations

import sys
import threading

from slack_bolt.adapter.socket_mode import SocketModeHandler

from bot.settings import Settings
from handlers import create_app
from services import Services


def serve_socket_mode(settings: Settings) -> int:
    app = create_app(Services.build(settings, write_behind=True))
    handler = SocketModeHandler(app, settings.secret("slack_app_token"))
    handler.connect()  # opens the WebSocket (via apps.connections.open on SLACK_API_URL)
    print("bot ready: Socket Mode", file=sys.stderr, flush=True)
    threading.Event().wait()  # serve until the process is stopped
    return 0
