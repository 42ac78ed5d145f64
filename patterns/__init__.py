"""The language-model patterns, usable without Slack: each takes plain inputs and the gateway, returns results."""
