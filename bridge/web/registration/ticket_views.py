"""The candidate's admission ticket, as a page to print or a PDF (R6). HTTP only
(``bridge.services.registration.tickets``)."""
from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, url_for

from bridge.errors import DomainError
from bridge.exports import qr
from bridge.extensions import db
from bridge.services.registration import identity, tickets
from bridge.web.registration.views import _registration


def admission_ticket(period_id: int):
    from bridge.exports import pdf

    user, reg, away = _registration(period_id)
    if away:
        return away
    try:
        ticket = tickets.admission_ticket(db.session, reg, secret=current_app.config["SECRET_KEY"])
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("registration.period", period_id=period_id))
    verify_url = url_for("site.verify_ticket", site_id=ticket.site.id, token=ticket.token, _external=True)
    html = render_template("registration/ticket_print.html", ticket=ticket, qr_uri=qr.svg_data_uri(verify_url),
                           id_labels=identity.ID_TYPE_LABELS)
    if not request.path.endswith(".pdf"):
        return html
    return pdf.html_to_pdf(html), 200, {
        "Content-Type": "application/pdf", "Cache-Control": "private, no-store",
        "Content-Disposition": f'attachment; filename="admission-ticket-{reg.id:08d}.pdf"'}
