"""People requests and replies: teams, engineers and their skills, duty shifts, absences,
on-call rotations, and the answer to "who is on duty".

Shapes only (types, ranges, patterns, one-field rules); the rules that need a lookup
(the API key behind an engineer, the team's branch, skill codes in the catalogue, the
members of a rotation) are the service's. Server-owned fields (ids, versions, the load
counters `open_tickets` / `open_load` / `last_assigned_at`) are never writable.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime, time
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    PlainSerializer,
    WithJsonSchema,
    field_validator,
)

from app.core.contact_details import check_email, check_phone
from app.core.inputs import InputModel
from app.core.outputs import OutputModel

Line = Literal["l1", "l2", "l3", "vendor"]
SkillKind = Literal["product_family", "category"]
BranchMatch = Literal["same", "near", "other"]

LINE_DESCRIPTION = (
    "Support line: l1 (service desk), l2 (second-line experts), l3 (R&D), vendor "
    "(liaison to the manufacturer)."
)
TeamCode = Annotated[
    str,
    Field(
        min_length=1,
        max_length=32,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$",
        description="Short key, unique within the branch (e.g. `EC-L2-NET`).",
    ),
]
Timezone = Annotated[
    str,
    Field(
        min_length=1,
        max_length=64,
        description="IANA time zone the team's shifts are read in (e.g. Asia/Shanghai).",
    ),
]
LanguageTag = Annotated[
    str, Field(min_length=2, max_length=16, pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
]
Languages = Annotated[
    list[LanguageTag],
    Field(min_length=1, max_length=10, description="Languages spoken (BCP 47, e.g. zh-CN, en)."),
]
MaxLoad = Annotated[int, Field(ge=1, le=500, description="Most open tickets owned at once.")]
PeriodHours = Annotated[
    int, Field(ge=1, le=744, description="Length of one member's turn, in hours (168: a week).")
]
Members = Annotated[
    list[uuid.UUID],
    Field(
        min_length=1,
        max_length=100,
        description="Engineer ids in turn order: active engineers of the rotation's team, "
        "each once.",
    ),
]

_EC_BRANCH = "0192f3c4-0000-7000-8000-000000000001"
_TEAM = "0192f3c4-0000-7000-8000-0000000000a1"
_ENGINEER = "0192f3c4-0000-7000-8000-0000000000e1"
_ENGINEER_2 = "0192f3c4-0000-7000-8000-0000000000e2"
_MANAGER = "0192f3c4-0000-7000-8000-0000000000f1"
_TS = "2026-03-02T08:00:00Z"


def _no_tzinfo(value: time | None) -> time | None:
    if value is not None and value.tzinfo is not None:
        raise ValueError("a shift time is local wall-clock time: give it without an offset")
    if value is not None and (value.second or value.microsecond):
        raise ValueError('a shift time is "HH:MM": whole minutes only')
    return value


# A shift time is a local wall-clock "HH:MM", not JSON Schema's `format: time` (RFC 3339
# full-time, which needs seconds and an offset): both directions say so with a pattern,
# and responses write it without seconds.
_HHMM_SCHEMA = {"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d(:00)?$"}
LocalTimeIn = Annotated[time, WithJsonSchema(_HHMM_SCHEMA)]
LocalTimeOut = Annotated[
    time,
    PlainSerializer(lambda t: t.strftime("%H:%M"), return_type=str),
    WithJsonSchema({"type": "string", "pattern": r"^([01]\d|2[0-3]):[0-5]\d$"}),
]


# -- teams --------------------------------------------------------------------------


class TeamCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "code": "EC-L2-NET",
                "name": "华东区二线网络组",
                "name_en": "East China L2 Network Team",
                "line": "l2",
                "branch_id": _EC_BRANCH,
                "manager_id": _MANAGER,
                "timezone": "Asia/Shanghai",
            }
        },
    )

    code: TeamCode
    name: str = Field(min_length=1, max_length=200, description="Chinese name (zh-CN).")
    name_en: str | None = Field(None, max_length=200)
    line: Line = Field(description=LINE_DESCRIPTION)
    branch_id: uuid.UUID = Field(
        description="The team's branch. A branch-scoped key may only name its own branch."
    )
    manager_id: uuid.UUID | None = Field(
        None, description="An active API key (usually role manager): the team's manager."
    )
    timezone: Timezone | None = Field(
        None, description="IANA time zone of the team's shifts; default: the branch's."
    )
    active: bool = True


class TeamUpdate(InputModel):
    """Fields given replace the stored ones. A team stays in its branch."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"name": "华东区二线网络与安全组", "manager_id": _MANAGER}},
    )

    code: TeamCode | None = None
    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    line: Line | None = None
    manager_id: uuid.UUID | None = Field(None, description="An active API key; null: none.")
    timezone: Timezone | None = None
    active: bool | None = None


class TeamOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": _TEAM,
                "code": "EC-L2-NET",
                "name": "华东区二线网络组",
                "name_en": "East China L2 Network Team",
                "line": "l2",
                "branch_id": _EC_BRANCH,
                "manager_id": _MANAGER,
                "timezone": "Asia/Shanghai",
                "active": True,
                "version": 1,
                "created_at": _TS,
                "updated_at": _TS,
            }
        },
    )

    id: uuid.UUID
    code: str
    name: str
    name_en: str | None
    line: Line
    branch_id: uuid.UUID
    manager_id: uuid.UUID | None
    timezone: str
    active: bool
    version: int
    created_at: datetime
    updated_at: datetime


# -- engineers ----------------------------------------------------------------------


class Skill(InputModel):
    """What an engineer knows: a product family or a ticket category, at a level from
    1 (basic) to 5 (expert)."""

    model_config = ConfigDict(
        extra="forbid",
        from_attributes=True,
        json_schema_extra={"example": {"kind": "product_family", "code": "switch", "level": 4}},
    )

    kind: SkillKind
    code: str = Field(
        min_length=1,
        max_length=64,
        description="A product family code (kind product_family) or a category code "
        "(kind category) of the catalogue.",
    )
    level: int = Field(3, ge=1, le=5, description="1 = basic ... 5 = expert.")


class SkillOut(OutputModel):
    """A skill as stored (the response twin of Skill)."""

    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={"example": {"kind": "product_family", "code": "switch", "level": 4}},
    )

    kind: SkillKind
    code: str
    level: int = Field(description="1 = basic ... 5 = expert.")


Skills = Annotated[
    list[Skill], Field(max_length=100, description="Each (kind, code) at most once.")
]

_SKILLS_EXAMPLE: list[Any] = [
    {"kind": "product_family", "code": "switch", "level": 4},
    {"kind": "category", "code": "hardware", "level": 3},
]


class EngineerCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "api_key_id": _ENGINEER,
                "name": "王磊",
                "name_en": "Wang Lei",
                "line": "l2",
                "branch_id": _EC_BRANCH,
                "team_id": _TEAM,
                "languages": ["zh-CN", "en"],
                "email": "wang.lei@supportline.example.cn",
                "phone": "13912345678",
                "max_load": 12,
                "skills": _SKILLS_EXAMPLE,
            }
        },
    )

    api_key_id: uuid.UUID = Field(
        description="The engineer's API identity: an existing, active API key that is not "
        "an engineer yet. It becomes the engineer's id (a ticket's owner_id names it)."
    )
    name: str = Field(min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    line: Line = Field(description=LINE_DESCRIPTION)
    branch_id: uuid.UUID = Field(
        description="The engineer's branch. A branch-scoped key may only name its own branch."
    )
    team_id: uuid.UUID | None = Field(None, description="A team of the same branch.")
    languages: Languages = Field(default_factory=lambda: ["zh-CN"])
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    max_load: MaxLoad = 10
    active: bool = True
    skills: Skills = Field(default_factory=list)

    _email = field_validator("email")(check_email)
    _phone = field_validator("phone")(check_phone)


class EngineerUpdate(InputModel):
    """Fields given replace the stored ones; `skills`, when given, replaces all skills.
    The load counters are kept by the ticket workflow and cannot be set."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "team_id": _TEAM,
                "max_load": 15,
                "skills": [
                    {"kind": "product_family", "code": "switch", "level": 5},
                    {"kind": "product_family", "code": "router", "level": 3},
                ],
            }
        },
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    name_en: str | None = Field(None, max_length=200)
    line: Line | None = None
    branch_id: uuid.UUID | None = Field(
        None, description="Move the engineer (within the key's scope); the team must follow."
    )
    team_id: uuid.UUID | None = Field(None, description="A team of the same branch; null: none.")
    languages: Languages | None = None
    email: str | None = Field(None, max_length=320)
    phone: str | None = Field(None, max_length=40)
    max_load: MaxLoad | None = None
    active: bool | None = None
    skills: Skills | None = None

    _email = field_validator("email")(check_email)
    _phone = field_validator("phone")(check_phone)


class EngineerOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": _ENGINEER,
                "name": "王磊",
                "name_en": "Wang Lei",
                "line": "l2",
                "branch_id": _EC_BRANCH,
                "team_id": _TEAM,
                "languages": ["zh-CN", "en"],
                "email": "wang.lei@supportline.example.cn",
                "phone": "13912345678",
                "max_load": 12,
                "active": True,
                "skills": _SKILLS_EXAMPLE,
                "open_tickets": 3,
                "open_load": 7,
                "last_assigned_at": "2026-03-02T06:15:00Z",
                "version": 1,
                "created_at": _TS,
                "updated_at": _TS,
            }
        },
    )

    id: uuid.UUID = Field(description="The engineer's API key id (a ticket's owner_id).")
    name: str
    name_en: str | None
    line: Line
    branch_id: uuid.UUID
    team_id: uuid.UUID | None
    languages: list[str]
    email: str | None
    phone: str | None
    max_load: int
    active: bool
    skills: list[SkillOut]
    open_tickets: int = Field(description="Open tickets owned (read-only).")
    open_load: int = Field(description="Open tickets weighted by priority (read-only).")
    last_assigned_at: datetime | None = Field(description="Last assignment (read-only).")
    version: int
    created_at: datetime
    updated_at: datetime


# -- shifts -------------------------------------------------------------------------


class ShiftCreate(InputModel):
    """A weekly shift (`weekday`, optionally within `valid_from`..`valid_until`) or a
    one-off shift (`on_date`): exactly one of the two. Times are local wall-clock time
    in the engineer's team time zone (else the branch's); an end at or before the start
    runs past midnight (22:00-06:00; 00:00-00:00 is the whole day)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"weekday": 0, "starts": "09:00", "ends": "18:00", "valid_from": "2026-03-02"},
                {"weekday": 5, "starts": "22:00", "ends": "06:00"},
                {"on_date": "2026-10-01", "starts": "08:00", "ends": "20:00"},
            ]
        },
    )

    weekday: int | None = Field(None, ge=0, le=6, description="0 = Monday ... 6 = Sunday.")
    on_date: date | None = Field(None, description="The date of a one-off shift.")
    starts: LocalTimeIn = Field(description='Local start, "HH:MM".')
    ends: LocalTimeIn = Field(
        description='Local end, "HH:MM"; at or before `starts`: the next day.'
    )
    valid_from: date | None = Field(None, description="Weekly shifts only: first date.")
    valid_until: date | None = Field(None, description="Weekly shifts only: last date.")

    _local = field_validator("starts", "ends")(_no_tzinfo)


class ShiftOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-0000000000b1",
                "engineer_id": _ENGINEER,
                "weekday": 0,
                "on_date": None,
                "starts": "09:00",
                "ends": "18:00",
                "valid_from": "2026-03-02",
                "valid_until": None,
                "created_at": _TS,
            }
        },
    )

    id: uuid.UUID
    engineer_id: uuid.UUID
    weekday: int | None
    on_date: date | None
    starts: LocalTimeOut = Field(description='Local start, "HH:MM".')
    ends: LocalTimeOut = Field(
        description='Local end, "HH:MM"; at or before `starts`: the next day.'
    )
    valid_from: date | None
    valid_until: date | None
    created_at: datetime


# -- absences -----------------------------------------------------------------------


class AbsenceCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "starts_at": "2026-03-09T00:00:00+08:00",
                "ends_at": "2026-03-14T00:00:00+08:00",
                "reason": "年假",
            }
        },
    )

    starts_at: AwareDatetime = Field(description="Start, with an offset (ISO 8601).")
    ends_at: AwareDatetime = Field(description="End (exclusive), after the start.")
    reason: str | None = Field(None, max_length=200, description="e.g. 年假, 病假, 培训.")


class AbsenceOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-0000000000c1",
                "engineer_id": _ENGINEER,
                "starts_at": "2026-03-08T16:00:00Z",
                "ends_at": "2026-03-13T16:00:00Z",
                "reason": "年假",
                "created_at": _TS,
            }
        },
    )

    id: uuid.UUID
    engineer_id: uuid.UUID
    starts_at: datetime
    ends_at: datetime
    reason: str | None
    created_at: datetime


# -- on-call rotations --------------------------------------------------------------


class OnCallRotationCreate(InputModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "example": {
                "name": "二线网络组 7x24 值班",
                "starts_at": "2026-03-02T09:00:00+08:00",
                "period_hours": 168,
                "members": [_ENGINEER, _ENGINEER_2],
            }
        },
    )

    name: str = Field(min_length=1, max_length=200)
    starts_at: AwareDatetime = Field(description="When the first member's first turn begins.")
    period_hours: PeriodHours = 168
    members: Members
    active: bool = True


class OnCallRotationUpdate(InputModel):
    """Fields given replace the stored ones (`members` as a whole)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"example": {"period_hours": 24, "members": [_ENGINEER_2, _ENGINEER]}},
    )

    name: str | None = Field(None, min_length=1, max_length=200)
    starts_at: AwareDatetime | None = None
    period_hours: PeriodHours | None = None
    members: Members | None = None
    active: bool | None = None


class OnCallRotationOut(OutputModel):
    model_config = ConfigDict(
        from_attributes=True,
        json_schema_extra={
            "example": {
                "id": "0192f3c4-0000-7000-8000-0000000000d1",
                "team_id": _TEAM,
                "name": "二线网络组 7x24 值班",
                "starts_at": "2026-03-02T01:00:00Z",
                "period_hours": 168,
                "members": [_ENGINEER, _ENGINEER_2],
                "active": True,
                "on_call_now": _ENGINEER_2,
                "version": 1,
                "created_at": _TS,
                "updated_at": _TS,
            }
        },
    )

    id: uuid.UUID
    team_id: uuid.UUID
    name: str
    starts_at: datetime
    period_hours: int
    members: list[uuid.UUID]
    active: bool
    on_call_now: uuid.UUID | None = Field(
        None,
        description="The member whose turn it is now (absences not considered); null "
        "before `starts_at` or when the rotation is inactive.",
    )
    version: int
    created_at: datetime
    updated_at: datetime


# -- who is on duty -----------------------------------------------------------------


class OnDutyOut(OutputModel):
    model_config = ConfigDict(
        json_schema_extra={
            "example": {
                "id": _ENGINEER,
                "name": "王磊",
                "line": "l2",
                "branch_id": _EC_BRANCH,
                "team_id": _TEAM,
                "reason": "shift:0192f3c4-0000-7000-8000-0000000000b1",
                "skill_level": 4,
                "open_tickets": 3,
                "open_load": 7,
                "max_load": 12,
                "branch_match": "same",
            }
        }
    )

    id: uuid.UUID
    name: str
    line: Line
    branch_id: uuid.UUID
    team_id: uuid.UUID | None
    reason: str = Field(description="Why on duty: `shift:<shift id>` or `on_call:<rotation id>`.")
    skill_level: int | None = Field(
        description="Best level among the asked skills; null when no skill was asked."
    )
    open_tickets: int
    open_load: int
    max_load: int
    branch_match: BranchMatch | None = Field(
        description="Relative to the asked `branch_id`: same branch, near (same parent "
        "branch or region, or parent/child of it), or other; null without `branch_id`."
    )
