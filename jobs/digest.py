"""`jobs.digest.*`: the names digest jobs were queued under before digests moved to `digests/`.

RQ stores a job's function and callbacks by their dotted names, and a digest may wait in Redis (queued,
scheduled for a retry, or failed and kept) across a deploy. Without these names a worker of the new release
could not import them and the digest would be lost. Nothing new is queued under them.
"""

from digests.job import on_failure, on_stopped, run_digest

__all__ = ["on_failure", "on_stopped", "run_digest"]
