"""The core's mapped tables (the LMS plugin's are in ``lms_plugin.models``, which the app, the
migrations and the plugin import). Importing this package registers them on ``Base.metadata``."""
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
from bridge.models.registration import (  # noqa: F401
    CandidateAccount, Offer, PaymentOrder, PeriodSite, Registration, RegistrationPeriod, RegistrationPhoto, RegistrationSubject,
)
