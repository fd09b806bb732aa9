"""API Gateway's ``@connections`` management API: send a frame to a pile, close a socket.

The endpoint is the WebSocket stage's HTTPS URL (``WS_MANAGEMENT_ENDPOINT``; locally the
local stack's door). A 410 Gone means the pile has disconnected: that is a domain fact
(``ConnectionGone``), not an upstream failure.
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import UpstreamFailure
from shared.domain.presence import ConnectionGone

_GONE = frozenset({"GoneException", "410"})


def _is_gone(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in _GONE or status == 410


class WebSocketConnections:
    """``post_to_connection`` / ``delete_connection`` with domain errors."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def post(self, connection_id: str, text: str) -> None:
        """Raises: ConnectionGone, UpstreamFailure."""
        try:
            self._client.post_to_connection(ConnectionId=connection_id, Data=text.encode("utf-8"))
        except ClientError as exc:
            if _is_gone(exc):
                raise ConnectionGone("the connection is gone", connection_id=connection_id) from exc
            raise UpstreamFailure("PostToConnection failed", operation="PostToConnection") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("PostToConnection failed", operation="PostToConnection") from exc

    def close(self, connection_id: str) -> None:
        """Close a connection; one already gone counts as closed. Raises: UpstreamFailure."""
        try:
            self._client.delete_connection(ConnectionId=connection_id)
        except ClientError as exc:
            if _is_gone(exc):
                return
            raise UpstreamFailure("DeleteConnection failed", operation="DeleteConnection") from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("DeleteConnection failed", operation="DeleteConnection") from exc
