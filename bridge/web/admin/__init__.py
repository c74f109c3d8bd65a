"""Tool administration: local sign-in, LMS platforms (L2), registration URLs, audit."""
from flask import Blueprint

bp = Blueprint("admin", __name__)

from bridge.web.admin import views  # noqa: E402

bp.add_url_rule("/login", "login", views.login, methods=["GET", "POST"])
bp.add_url_rule("/platforms", "platforms", views.platforms)
bp.add_url_rule("/platforms", "add_platform", views.add_platform, methods=["POST"])
bp.add_url_rule("/platforms/<int:platform_id>/active", "toggle_platform", views.toggle_platform,
                methods=["POST"])
bp.add_url_rule("/registration-url", "issue_registration_url", views.issue_registration_url,
                methods=["POST"])
bp.add_url_rule("/audit", "audit_log", views.audit_log)
bp.add_url_rule("/authcodes", "authcodes_page", views.authcodes_page)
bp.add_url_rule("/authcodes/<int:request_id>/approve", "approve_authcode", views.approve_authcode, methods=["POST"])

from bridge.web.admin import accounts  # noqa: E402

bp.add_url_rule("/accounts", "accounts", accounts.accounts)
bp.add_url_rule("/accounts", "create_account", accounts.create_account, methods=["POST"])
bp.add_url_rule("/accounts/<int:user_id>/grants", "add_grant", accounts.add_grant, methods=["POST"])
bp.add_url_rule("/grants/<int:grant_id>/delete", "remove_grant", accounts.remove_grant, methods=["POST"])

from bridge.web.admin import registration  # noqa: E402

bp.add_url_rule("/registration", "registration_periods", registration.registration_periods)
bp.add_url_rule("/registration", "create_period", registration.create_period, methods=["POST"])
bp.add_url_rule("/registration/<int:period_id>/sites", "add_period_site", registration.add_site, methods=["POST"])
bp.add_url_rule("/registration/<int:period_id>/offers", "add_offer", registration.add_offer, methods=["POST"])
bp.add_url_rule("/registration/payments.<any(csv, xlsx):fmt>", "payment_reconciliation", registration.reconciliation)
