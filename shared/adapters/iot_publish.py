"""IoT Core data plane: publish a command frame to a gateway's down topic.

The client is ``boto3.client("iot-data")`` (its endpoint is the account's ATS data
endpoint; locally the local stack's ``/iot-data`` door, which republishes to mosquitto).
"""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import UpstreamFailure


class IotDataPublisher:
    """``DownlinkPublisher`` over ``iot-data`` ``Publish`` (QoS 1)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def publish(self, topic: str, payload: bytes) -> None:
        """Raises: UpstreamFailure."""
        try:
            self._client.publish(topic=topic, qos=1, payload=payload)
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("IoT Publish failed", operation="Publish") from exc
