"""The real-model group shares the suite's fixtures: the local Slack, Redis, PostgreSQL and the signed sender."""

from tests.conftest import *  # noqa: F403 - fixtures are found by name
