"""The bot's core: settings, model gateway, usage ledger and Slack output."""
