"""ETags from row versions; If-Match on writes answers 412 when stale."""

from __future__ import annotations

from fastapi import Response

from app.core.errors import BadRequest, PreconditionFailed


def etag_for(version: int) -> str:
    return f'W/"{version}"'


def parse_if_match(value: str | None) -> list[int] | None:
    """None means "no precondition"; ["*"] is accepted as any version."""
    if value is None or value.strip() == "*":
        return None
    versions: list[int] = []
    for part in value.split(","):
        tag = part.strip().removeprefix("W/").strip('"')
        try:
            versions.append(int(tag))
        except ValueError as exc:
            raise BadRequest("If-Match must carry an ETag returned by this API.") from exc
    return versions


def check_if_match(if_match: str | None, current_version: int) -> None:
    versions = parse_if_match(if_match)
    if versions is not None and current_version not in versions:
        raise PreconditionFailed(
            f"If-Match does not match; the current ETag is {etag_for(current_version)}.",
            current_etag=etag_for(current_version),
        )


def set_etag(response: Response, version: int) -> None:
    response.headers["ETag"] = etag_for(version)
