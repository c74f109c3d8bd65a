"""The sandbox's one course and its people, and how Moodle 4.5 maps their roles.

Moodle sends two different role views of the same person (see LTI-NOTES, "What a real
Moodle 4.5.6 sent"): the launch roles come from the ``mod/lti:manage`` capability, so the
editing AND the non-editing teacher are ``membership#Instructor``; the NRPS roster roles come
from ``moodle/course:manageactivities`` and are short names, so the non-editing teacher is
``"Learner"`` there. The site admin is not enrolled: it launches with the Administrator roles
and is absent from the roster. Only students are gradable (Moodle's ``gradebookroles``).
"""
from __future__ import annotations

from dataclasses import dataclass

COURSE_ID = 2
COURSE_LABEL = "EXAM101"
COURSE_TITLE = "Exam 101 (sandbox course)"
COURSE_SOURCEDID = "EXAM101-ID"

MEMBERSHIP = "http://purl.imsglobal.org/vocab/lis/v2/membership#"
INSTRUCTOR = MEMBERSHIP + "Instructor"
LEARNER = MEMBERSHIP + "Learner"
INSTITUTION_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"
SYSTEM_ADMIN = "http://purl.imsglobal.org/vocab/lis/v2/system/person#Administrator"

# Moodle archetypes of the course roles the sandbox uses.
EDITING_TEACHER = "editingteacher"
NON_EDITING_TEACHER = "teacher"
STUDENT = "student"
ROLE_LABELS = {
    EDITING_TEACHER: "Teacher",
    NON_EDITING_TEACHER: "Non-editing teacher",
    STUDENT: "Student",
    None: "Site administrator (not enrolled)",
}


@dataclass(frozen=True)
class User:
    id: int
    username: str
    given_name: str
    family_name: str
    email: str
    sourcedid: str
    course_role: str | None  # None: not enrolled (the site admin)
    site_admin: bool = False

    @property
    def name(self) -> str:
        return f"{self.given_name} {self.family_name}"

    @property
    def role_label(self) -> str:
        return ROLE_LABELS[self.course_role]

    @property
    def enrolled(self) -> bool:
        return self.course_role is not None

    @property
    def launch_roles(self) -> list[str]:
        """Roles in the id_token, sorted like Moodle's output."""
        if self.site_admin:
            return sorted([INSTITUTION_ADMIN, INSTRUCTOR, SYSTEM_ADMIN])
        if self.course_role in (EDITING_TEACHER, NON_EDITING_TEACHER):
            return [INSTRUCTOR]
        return [LEARNER]

    @property
    def roster_roles(self) -> list[str]:
        """Roles in the NRPS roster: short names, non-editing teacher = Learner."""
        return ["Instructor"] if self.course_role == EDITING_TEACHER else ["Learner"]

    @property
    def gradable(self) -> bool:
        return self.course_role == STUDENT

    @property
    def can_add_activities(self) -> bool:
        """Deep linking creates activities: editing teachers and admins only."""
        return self.site_admin or self.course_role == EDITING_TEACHER


USERS: tuple[User, ...] = (
    User(2, "admin", "Admin", "User", "admin@example.invalid", "", None, site_admin=True),
    User(3, "teacher1", "Tess", "Teacher", "teacher1@example.invalid", "TEACHER1", EDITING_TEACHER),
    User(4, "netteacher1", "Nora", "NonEditing", "netteacher1@example.invalid", "NETTEACHER1",
         NON_EDITING_TEACHER),
    User(5, "student1", "Sam", "Student", "student1@example.invalid", "STUDENT1", STUDENT),
    User(6, "student2", "Sue", "Student", "student2@example.invalid", "STUDENT2", STUDENT),
    User(7, "student3", "Sid", "Student", "student3@example.invalid", "STUDENT3", STUDENT),
)
USERS_BY_ID = {u.id: u for u in USERS}
TEACHER_ID = 3


def find_user(user_id) -> User | None:
    """Look a user up by id given as int or string; None when unknown or malformed."""
    try:
        return USERS_BY_ID.get(int(str(user_id).strip()))
    except (TypeError, ValueError):
        return None


def roster() -> list[User]:
    """Enrolled users in Moodle's roster order (family name, then given name)."""
    return sorted((u for u in USERS if u.enrolled), key=lambda u: (u.family_name, u.given_name))


def role_filter_matches(user: User, role: str) -> bool:
    """NRPS ``role=`` filter: accepts a full LIS v2 URI, an LIS v1 URN or a short name, and
    matches it against the roster's short role names (as Moodle does)."""
    short = role.strip()
    for sep in ("#", "/"):
        if sep in short:
            short = short.rsplit(sep, 1)[1]
    return short in user.roster_roles
