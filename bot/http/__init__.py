"""The HTTP side of a bot process: gunicorn, the routes Slack calls, acks first, and the post-ack work process."""
