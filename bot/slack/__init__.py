"""Everything that talks to Slack: the Web API client, its shared rate budget, and what the bot writes there."""
