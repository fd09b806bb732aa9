"""Complaint photos: pre-signed S3 PUT URLs into the UploadsBucket (the URL is the credential;
the object key is ours, so a driver can only write the one key we sign)."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import UpstreamFailure


class S3PhotoUploads:
    def __init__(self, client: Any, bucket: str) -> None:
        self._client = client
        self._bucket = bucket

    def put_url(self, key: str, content_type: str, expires_s: int) -> str:
        try:
            url: str = self._client.generate_presigned_url(
                "put_object",
                Params={"Bucket": self._bucket, "Key": key, "ContentType": content_type},
                ExpiresIn=expires_s,
                HttpMethod="PUT",
            )
        except (ClientError, BotoCoreError) as exc:
            raise UpstreamFailure("the upload URL could not be signed") from exc
        return url
