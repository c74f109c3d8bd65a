"""P16: the audit trail is append-only and hash-chained; concurrent appends keep one chain."""
from __future__ import annotations

import threading

import pytest
from sqlalchemy import select

from bridge.models.audit import AuditEntry
from bridge.services import audit


@pytest.mark.req("P16")
def test_concurrent_appends_keep_one_unbroken_chain(app):
    from bridge.extensions import transaction
    from bridge.extensions import db

    errors = []

    def writer(n):
        try:
            with app.app_context():
                for i in range(25):
                    with transaction() as s:
                        audit.record(s, "test.append", actor=f"w{n}", detail={"i": i})
                db.session.remove()
        except Exception as exc:  # pragma: no cover - shown in the assertion
            errors.append(repr(exc))

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert not errors
    with app.app_context():
        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert len(rows) == 100
        assert audit.verify_chain(rows) is None


@pytest.mark.req("P16")
def test_an_edited_row_breaks_the_chain(app):
    from bridge.extensions import transaction
    from bridge.extensions import db

    with app.app_context():
        for i in range(3):
            with transaction() as s:
                audit.record(s, "test.append", detail={"i": i})
        rows = db.session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        assert audit.verify_chain(rows) is None
        rows[1].target = "tampered"
        assert audit.verify_chain(rows) == rows[1].id
        db.session.rollback()
