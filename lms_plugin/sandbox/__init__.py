"""The sandbox LMS: a small Moodle 4.5-shaped LTI 1.3 platform built on lti1p3platform,
for ``exambridge demo`` and the tests. Never enabled in production. See docs/sandbox-lms.md.

    app = create_sandbox_app("http://localhost:8081", state_path="instance/sandbox.json")
    sb = app.extensions["sandbox"]          # the Sandbox state object
"""
from .app import create_sandbox_app
from .course import USERS, User
from .records import Activity, LineItem, Score, ToolRegistration
from .state import Sandbox, SandboxStateError

__all__ = ["create_sandbox_app", "Sandbox", "SandboxStateError", "ToolRegistration", "Activity", "LineItem",
           "Score", "User", "USERS"]
