"""All mapped tables. Importing this package registers every model on ``Base.metadata``."""
from bridge.models.users import User, CourseMember, Course  # noqa: F401
from bridge.models.exams import Exam  # noqa: F401
from bridge.models.audit import AuditEntry  # noqa: F401
from bridge.models.bank import Question, QuestionCategory, QuestionMedia  # noqa: F401
from bridge.models.devices import Kiosk, KioskCommand, KioskReport, Room  # noqa: F401
from bridge.models.papers import ExamSession, Paper, PaperItem, SessionCandidate  # noqa: F401
from bridge.models.attempts import (  # noqa: F401
    AnswerEvent, AnswerFile, AnswerHead, Attempt, AttemptLog, InfoFormResponse, ItemGrade, ThrottleCounter,
)
from bridge.models.packs import PackImport, PackKey  # noqa: F401
from bridge.models.venues import Seat, Site, StationRegistration  # noqa: F401
from bridge.models.envchecks import EnvCheckResult, EnvCheckRun  # noqa: F401
from bridge.models.sittings import SealingCheck, Sitting, Violation, ViolationCode  # noqa: F401
from bridge.models.authcodes import AuthRequest  # noqa: F401
from bridge.models.staff import StaffGrant  # noqa: F401
from lms_plugin.models import (  # noqa: F401
    Platform, Deployment, ToolKey, LoginState, UsedNonce, ResourceLink,
    ScoreOutbox, RegistrationTicket, LaunchTicket,
)
