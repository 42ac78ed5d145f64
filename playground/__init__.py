"""Local Slack Web API and OpenAI-compatible servers used by tests, benchmarks and the playground."""
