"""The public request shapes of API.md, and the hand-parsed query parameters.

Bodies are validated strictly (a number is never a string, `5.0` is not an integer, a bool
is not a number) and unknown fields are ignored. Rules owned by a service (password
length, username format, profile fields) are checked there; the message rules are also
checked here so that a non-member gets 404 before any 422 on the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from messenger.platform.errors import invalid

INT64_MAX = 2**63 - 1
DEFAULT_LIMIT = 50
MAX_LIMIT = 100

_STRICT = ConfigDict(strict=True, extra="ignore")


class RegisterBody(BaseModel):
    model_config = _STRICT
    email: str
    username: str
    password: str
    display_name: str | None = None


class VerifyEmailBody(BaseModel):
    model_config = _STRICT
    token: Annotated[str, Field(min_length=1)]


class EmailBody(BaseModel):
    model_config = _STRICT
    email: str


class LoginBody(BaseModel):
    model_config = _STRICT
    login: str = Field(description="Email or username, any case.")
    password: str
    device_name: str | None = None


class ChangePasswordBody(BaseModel):
    model_config = _STRICT
    current_password: str
    new_password: str


class ResetPasswordBody(BaseModel):
    model_config = _STRICT
    token: str
    new_password: str


class RefreshBody(BaseModel):
    model_config = _STRICT
    refresh_token: Annotated[str, Field(min_length=1)]


class ProfilePatchBody(BaseModel):
    """Only the fields present change; `null` clears bio or avatar_url."""

    model_config = _STRICT
    display_name: str | None = Field(default=None, description="1-64 characters.")
    bio: str | None = Field(default=None, description="At most 500 characters.")
    avatar_url: str | None = Field(default=None, description="An https URL, at most 2048.")

    def changes(self) -> dict[str, Any]:
        return self.model_dump(include=self.model_fields_set)


class UserRefBody(BaseModel):
    model_config = _STRICT
    user_id: str


class SendMessageBody(BaseModel):
    model_config = _STRICT
    text: Annotated[str, Field(min_length=1, max_length=4096)]
    client_message_id: Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]

    @field_validator("text")
    @classmethod
    def _not_blank(cls, value: str) -> str:
        if value.isspace():
            raise ValueError("needs at least one non-whitespace character")
        return value


class SeenBody(BaseModel):
    model_config = _STRICT
    seq: Annotated[int, Field(ge=0, le=INT64_MAX)]


def body_doc(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` documenting a body that the route reads itself (after the token
    check, which a declared FastAPI body would precede)."""
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": model.model_json_schema()}},
        }
    }


@dataclass(frozen=True)
class Paging:
    after: int | None
    before: int | None
    limit: int


def parse_paging(query: Mapping[str, str]) -> Paging:
    """`after`, `before`, `limit`: int64 whole numbers >= 0, empty = absent, limit >= 1
    (capped at 100)."""
    limit = _whole(query, "limit")
    if limit is not None and limit < 1:
        raise invalid("limit: must be at least 1.", field="limit")
    return Paging(
        after=_whole(query, "after"),
        before=_whole(query, "before"),
        limit=DEFAULT_LIMIT if limit is None else min(limit, MAX_LIMIT),
    )


def _whole(query: Mapping[str, str], name: str) -> int | None:
    raw = query.get(name)
    if raw is None or raw == "":
        return None
    # The length check keeps int() away from huge strings; beyond int64 is out of range.
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and int(raw) <= INT64_MAX):
        raise invalid(f"{name}: must be a whole number from 0 to {INT64_MAX}.", field=name)
    return int(raw)
