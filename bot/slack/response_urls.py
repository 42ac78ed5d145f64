"""Where the bot may post a `response_url`: Slack's own hosts, or the Slack server it is configured with.

A `response_url` comes in the request body. The signature proves who sent the body, but a leaked signing secret
(the playground's is public) would otherwise let anyone make the bot post its answers to a server of their choice.
"""

from __future__ import annotations

from urllib.parse import urlsplit


def _origin(url: str) -> tuple[str, str, int | None] | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.username is not None or parts.password is not None or not parts.hostname:
        return None
    return parts.scheme.lower(), parts.hostname.lower(), port


def allowed(url: object, api_url: str) -> bool:
    """True for `https://*.slack.com/...` and for URLs on the scheme, host and port of `api_url`."""
    if not isinstance(url, str):
        return False
    origin = _origin(url)
    if origin is None:
        return False
    scheme, host, port = origin
    if scheme == "https" and port in (None, 443) and (host == "slack.com" or host.endswith(".slack.com")):
        return True
    return origin == _origin(api_url)


def foreign(body: dict, api_url: str) -> list[str]:
    """The response URLs of a request body that the bot must not post to."""
    urls = [body["response_url"]] if "response_url" in body else []
    urls += [entry.get("response_url") for entry in body.get("response_urls") or [] if isinstance(entry, dict)]
    return [str(url) for url in urls if url and not allowed(url, api_url)]  # "" or null: nothing will be posted
