"""A stateful local Slack: the Web API, good enough for `slack_sdk.WebClient`, and Socket Mode.

Point a client at it with ``WebClient(base_url=slack.api_url, token="xoxb-test")``. The server keeps users,
conversations, messages, threads, edits, streams, views and ephemeral messages in memory, answers with Slack's
response shapes and error strings, and can inject rate limits and failures.

Differences from Slack worth knowing: every method accepts POST or GET; a ``thread_ts`` naming a reply is
normalised to its parent; replying to a parent the server never saw is accepted (the replies form a thread
without a parent); ``chat.startStream`` outside a DM requires ``recipient_team_id`` and ``recipient_user_id``
(``invalid_arguments``).

The modules: `server` (HTTP and dispatch), `workspace` (the state, seeding and inspection), one module per Web
API family (`auth`, `chat`, `conversations`, `users`, `views`, `reactions`, `files`), `paging`, `faults`, `rate_limits`,
`socket_mode` and `websocket` (RFC 6455).
"""

from .params import SlackError, web_api
from .server import Call, SlackServer
from .websocket import CloseCode, websocket_accept

__all__ = ["Call", "CloseCode", "SlackError", "SlackServer", "web_api", "websocket_accept"]
