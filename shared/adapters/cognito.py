"""Operator staff in the Cognito user pool: sign-in (USER_PASSWORD_AUTH on the dashboard's
app client, no secret) and staff logins made by admins.

Every wrong credential answers the same ``Unauthenticated`` ("invalid username or
password"), whether or not the user exists, so sign-in leaks no user names.
"""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from shared.domain.errors import Conflict, InvalidInput, Unauthenticated, UpstreamFailure
from shared.domain.tenancy import Role
from shared.services.staff import AuthTokens

_BAD_CREDENTIALS = frozenset(
    {
        "NotAuthorizedException",
        "UserNotFoundException",
        "UserNotConfirmedException",
        "PasswordResetRequiredException",
    }
)


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


class CognitoStaffDirectory:
    """``StaffDirectory`` on a Cognito user pool and its dashboard app client."""

    def __init__(self, user_pool_id: str, client_id: str, client: Any | None = None) -> None:
        self._pool = user_pool_id
        self._client_id = client_id
        self._client = client if client is not None else boto3.client("cognito-idp")

    def _tokens(self, response: dict[str, Any]) -> AuthTokens:
        result = response.get("AuthenticationResult")
        if not result:
            # A challenge (new password, MFA) the dashboard does not run: refuse like a bad login
            # would not, since the password was right, but without naming the challenge's data.
            raise Unauthenticated(
                "this login needs a step the dashboard does not support; ask an admin to reset it"
            )
        return AuthTokens(
            id_token=result["IdToken"],
            access_token=result["AccessToken"],
            expires_in=int(result["ExpiresIn"]),
            refresh_token=result.get("RefreshToken"),
        )

    def _initiate(self, flow: str, parameters: dict[str, str]) -> AuthTokens:
        try:
            response = self._client.initiate_auth(
                ClientId=self._client_id, AuthFlow=flow, AuthParameters=parameters
            )
        except ClientError as exc:
            if _code(exc) in _BAD_CREDENTIALS:
                raise Unauthenticated("invalid username or password") from exc
            raise UpstreamFailure("sign-in failed upstream", code=_code(exc)) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("the user directory did not answer") from exc
        return self._tokens(response)

    def sign_in(self, username: str, password: str) -> AuthTokens:
        return self._initiate("USER_PASSWORD_AUTH", {"USERNAME": username, "PASSWORD": password})

    def refresh(self, refresh_token: str) -> AuthTokens:
        try:
            return self._initiate("REFRESH_TOKEN_AUTH", {"REFRESH_TOKEN": refresh_token})
        except Unauthenticated as exc:
            raise Unauthenticated("the refresh token is not valid; sign in again") from exc

    def create_user(self, username: str, password: str, role: Role, operator_id: str) -> None:
        """AdminCreateUser (no invitation), permanent password, role group.

        Raises:
            Conflict: the username is taken. InvalidInput: the pool refuses the password.
        """
        try:
            self._client.admin_create_user(
                UserPoolId=self._pool,
                Username=username,
                UserAttributes=[{"Name": "custom:operator_id", "Value": operator_id}],
                MessageAction="SUPPRESS",
            )
        except ClientError as exc:
            if _code(exc) == "UsernameExistsException":
                raise Conflict("username is taken", username=username) from exc
            raise UpstreamFailure("creating the user failed", code=_code(exc)) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("the user directory did not answer") from exc
        try:
            self._client.admin_set_user_password(
                UserPoolId=self._pool, Username=username, Password=password, Permanent=True
            )
            self._client.admin_add_user_to_group(
                UserPoolId=self._pool, Username=username, GroupName=str(role)
            )
        except (ClientError, BotoCoreError) as exc:
            self.delete_user(username)
            if isinstance(exc, ClientError) and _code(exc) == "InvalidPasswordException":
                raise InvalidInput(
                    "the password does not meet the user pool's password policy",
                    field="password",
                ) from exc
            raise UpstreamFailure("setting up the user failed") from exc

    def delete_user(self, username: str) -> None:
        """Remove a user (undoing a half-made login); a missing user is fine."""
        try:
            self._client.admin_delete_user(UserPoolId=self._pool, Username=username)
        except ClientError as exc:
            if _code(exc) == "UserNotFoundException":
                return
            raise UpstreamFailure("deleting the user failed", code=_code(exc)) from exc
        except BotoCoreError as exc:
            raise UpstreamFailure("the user directory did not answer") from exc
