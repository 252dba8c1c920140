"""People rules: teams, engineers and their skills, duty shifts, absences, on-call
rotations, and who is on duty; one module per record type (the rules of each in its
docstring), their queries in app.people.repository.

Branch scope: teams and engineers are scoped by their branch, shifts and absences by
their engineer's, rotations by their team's; outside the key's branch is 404.
"""

from __future__ import annotations

from app.people.service.engineers import (
    create_engineer,
    engineers_out,
    get_engineer,
    list_engineers,
    parse_skill,
    parse_skills,
    update_engineer,
)
from app.people.service.on_duty import branch_match, who_is_on_duty
from app.people.service.rotations import (
    create_rotation,
    get_rotation,
    list_rotations,
    rotation_out,
    update_rotation,
)
from app.people.service.shifts import (
    create_absence,
    create_shift,
    delete_absence,
    delete_shift,
    list_absences,
    list_shifts,
)
from app.people.service.teams import create_team, get_team, list_teams, update_team

__all__ = [
    "branch_match",
    "create_absence",
    "create_engineer",
    "create_rotation",
    "create_shift",
    "create_team",
    "delete_absence",
    "delete_shift",
    "engineers_out",
    "get_engineer",
    "get_rotation",
    "get_team",
    "list_absences",
    "list_engineers",
    "list_rotations",
    "list_shifts",
    "list_teams",
    "parse_skill",
    "parse_skills",
    "rotation_out",
    "update_engineer",
    "update_rotation",
    "update_team",
    "who_is_on_duty",
]
