"""All mapped tables. Importing this package registers every model on ``Base.metadata``."""
from bridge.models.users import User, CourseMember, Course  # noqa: F401
from bridge.models.exams import Exam  # noqa: F401
from bridge.models.audit import AuditEntry  # noqa: F401
from lms_plugin.models import (  # noqa: F401
    Platform, Deployment, ToolKey, LoginState, UsedNonce, ResourceLink,
    ScoreOutbox, RegistrationTicket, LaunchTicket,
)
