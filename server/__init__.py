"""The HTTP side of a bot process: gunicorn, the routes Slack calls, and the post-ack work process."""
