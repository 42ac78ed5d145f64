"""The browser playground: a demo workspace, the real bot wired to the local Slack, and a page that looks like Slack."""
