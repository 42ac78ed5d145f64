"""Batch jobs: channel digests on RQ workers sharing one Redis, and their stored schedules."""
