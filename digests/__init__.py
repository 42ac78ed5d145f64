"""Channel digests as batch jobs: the RQ queue and workers on Redis, reading channels, delivery and schedules."""
