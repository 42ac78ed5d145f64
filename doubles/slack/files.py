"""``files.info`` and private file downloads: what a bot reads of a file a user shared.

As in Slack, `url_private_download` serves the bytes only with ``Authorization: Bearer <bot token>``; without it
(or with another token) the answer is a redirect to the sign-in page, never the file.
"""

from __future__ import annotations

import copy
import time

from ..http_server import Request, Response
from .params import Params, Payload, SlackError, web_api
from .workspace import DEFAULT_USER, Workspace

FILES_PATH = "/files-pri/"


class FileMethods(Workspace):
    """The ``files.*`` family the bot needs, and the download route."""

    _files: dict[str, tuple[Payload, bytes]]
    _downloads: list[tuple[str, bool]]

    def add_file(
        self,
        file_id: str,
        name: str,
        content: bytes,
        *,
        filetype: str = "text",
        mimetype: str = "text/plain",
        user: str = DEFAULT_USER,
    ) -> Payload:
        """Store a file a user uploaded; returns its file object (as in ``files.info`` and ``file_share`` events)."""
        url = f"{self.root_url}{FILES_PATH}{self.team_id}-{file_id}/{name}"
        info: Payload = {
            "id": file_id,
            "created": int(time.time()),
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": filetype,
            "user": user,
            "size": len(content),
            "mode": "hosted",
            "is_public": False,
            "url_private": url,
            "url_private_download": url,
        }
        with self._lock:
            self._files[file_id] = (info, content)
        return copy.deepcopy(info)

    def file_downloads(self) -> list[tuple[str, bool]]:
        """Each download attempt: (file id, whether it was authorised)."""
        with self._lock:
            return list(self._downloads)

    @web_api("files.info")
    def _files_info(self, params: Params) -> Payload:
        stored = self._files.get(str(params.get("file") or ""))
        if stored is None:
            raise SlackError("file_not_found")
        return {"file": copy.deepcopy(stored[0])}

    def _serve_file(self, request: Request, token: str | None) -> Response:
        name = request.path[len(FILES_PATH) :].split("/", 1)[0]
        file_id = name.removeprefix(f"{self.team_id}-")
        authorised = token is not None and (self.token is None or token == self.token)
        with self._lock:
            self._downloads.append((file_id, authorised))
            stored = self._files.get(file_id)
            self.notify()
        if not authorised:
            return Response(302, b"", "text/html", {"Location": f"{self.root_url}/signin"})
        if stored is None:
            return Response(404, b"Not found", "text/plain")
        info, content = stored
        return Response(200, content, info["mimetype"])
