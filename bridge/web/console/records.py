"""Console pages for after the exam and its records: a candidate's log, the room record,
the verification table, results and violations exports, the backup, the upload and the
audit trail."""
from __future__ import annotations


from flask import Response, current_app, flash, jsonify, redirect, render_template, request, url_for
from sqlalchemy import select

from bridge import clock
from bridge.extensions import transaction
from bridge.errors import DomainError
from bridge.extensions import db
from bridge.exports import csv_export
from bridge.services.proctoring import room_records
from bridge.services.proctoring import resumes
from bridge.services.proctoring import incidents
from bridge.services.proctoring import boards
from bridge.web.auth import current_actor
from bridge.web.console.views import _actor, _admin, _sitting


def violations_csv(sitting_id: int):
    _admin()
    board = boards.board(db.session, _sitting(sitting_id).id, actor=current_actor())
    body = incidents.violations_csv(db.session, sitting_id, actor=current_actor()).encode("utf-8")
    return Response(body, mimetype=csv_export.MIME, headers={
        "Content-Disposition": f'attachment; filename="violations-{board.room_code}-{clock.utcnow_naive():%Y%m%d}.csv"'})


def candidate_log(sitting_id: int, attempt_id: int):
    user = _admin()
    board = boards.board(db.session, _sitting(sitting_id).id, actor=current_actor())
    rows = room_records.candidate_log(db.session, sitting_id, attempt_id, actor=current_actor())
    seat = next((s for s in board.seats if s.attempt_id == attempt_id), None)
    if request.path.endswith(".csv"):
        body = room_records.candidate_log_csv(db.session, sitting_id, attempt_id, actor=current_actor()).encode("utf-8")
        return Response(body, mimetype=csv_export.MIME, headers={
            "Content-Disposition": f'attachment; filename="candidate-log-{seat.admission_number if seat else attempt_id}.csv"'})
    return render_template("console/candidate_log.html", user=user, board=board, seat=seat, rows=rows,
                           attempt_id=attempt_id)


def room_record(sitting_id: int):
    """P11: 考场情况记录单, as a page to print or a PDF."""
    from bridge.exports import pdf

    user = _admin()
    _sitting(sitting_id)
    data = room_records.record(db.session, sitting_id, actor=current_actor())
    html = render_template("console/record.html", user=user, now=clock.utcnow_naive(), **data)
    if request.path.endswith(".pdf"):
        return Response(pdf.html_to_pdf(html), mimetype="application/pdf", headers={
            "Content-Disposition": f'attachment; filename="room-record-{data["board"].room_code}.pdf"'})
    return html


def verification(sitting_id: int):
    user = _admin()
    sitting = _sitting(sitting_id)
    return render_template("console/verification.html", user=user, sitting=sitting,
                           **room_records.verification(db.session, sitting.id, actor=current_actor()))


def results_export(sitting_id: int, fmt: str):
    from bridge.exports import xlsx

    _admin()
    sitting = _sitting(sitting_id)
    rows = room_records.results_table(db.session, sitting.id, actor=current_actor())
    name = f"results-{boards.board(db.session, sitting.id, actor=current_actor()).room_code}"
    if fmt == "xlsx":
        return Response(xlsx.workbook(rows, sheet="results"), mimetype=xlsx.MIME,
                        headers={"Content-Disposition": f'attachment; filename="{name}.xlsx"'})
    return Response(csv_export.encoded(rows), mimetype=csv_export.MIME,
                    headers={"Content-Disposition": f'attachment; filename="{name}.csv"'})


def violations_xlsx(sitting_id: int):
    from bridge.exports import xlsx

    _admin()
    sitting = _sitting(sitting_id)
    rows = [["admission_number", "name", "code", "code_text", "description", "registered_at", "registered_by"]]
    rows += [[v["admission_number"], v["name"], v["code"], v["code_text"], v["description"],
              v["at"].strftime("%Y-%m-%d %H:%M:%S"), v["by"]] for v in incidents.violations(db.session, sitting.id,
                                                                                          actor=current_actor())]
    return Response(xlsx.workbook(rows, sheet="violations"), mimetype=xlsx.MIME,
                    headers={"Content-Disposition": 'attachment; filename="violations.xlsx"'})


def backup(sitting_id: int):
    user = _admin()
    sitting = _sitting(sitting_id)
    try:
        with transaction() as s:
            body = room_records.results_backup(s, sitting.id, secret_key=current_app.config["SECRET_KEY"],
                                          actor=_actor(user))
    except DomainError as exc:
        flash(exc.translated(), "error")
        return redirect(url_for("console.verification", sitting_id=sitting_id))
    room = boards.board(db.session, sitting_id, actor=current_actor()).room_code
    return Response(body, mimetype="application/json", headers={
        "Content-Disposition": f'attachment; filename="room-results-{room}-{clock.utcnow_naive():%Y%m%d-%H%M}.json"'})


def upload_step(sitting_id: int):
    """One step of the upload; the page calls it until ``uploaded`` (its progress bar)."""
    user = _admin()
    _sitting(sitting_id)
    try:
        with transaction() as s:
            progress = room_records.upload_step(s, sitting_id, actor=_actor(user))
    except DomainError as exc:
        return jsonify(error=exc.code, message=exc.translated()), exc.http_status
    return jsonify(progress)


def audit_trail(sitting_id: int):
    """P16: the sitting's audit entries, and whether the whole chain still verifies."""
    from bridge.models.audit import AuditEntry
    from bridge.services import audit

    user = _admin()
    board = boards.board(db.session, _sitting(sitting_id).id, actor=current_actor())
    if request.path.endswith(".csv"):
        return Response(room_records.audit_csv(db.session, sitting_id, actor=current_actor()).encode("utf-8"),
                        mimetype=csv_export.MIME,
                        headers={"Content-Disposition": f'attachment; filename="audit-{board.room_code}.csv"'})
    broken = audit.verify_chain(db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)))
    return render_template("console/audit.html", user=user, board=board,
                           entries=room_records.audit_trail(db.session, sitting_id, actor=current_actor()), broken=broken)


def resume_log_csv(sitting_id: int):
    _admin()
    board = boards.board(db.session, _sitting(sitting_id).id, actor=current_actor())
    return Response(resumes.resume_log_csv(db.session, sitting_id, actor=current_actor()).encode("utf-8"),
                    mimetype=csv_export.MIME,
                    headers={"Content-Disposition": f'attachment; filename="resumes-{board.room_code}.csv"'})
