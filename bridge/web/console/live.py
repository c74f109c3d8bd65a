"""The live boards: ``/ws/console/<room>`` for a room's console and ``/ws/proctor/<session>``
for the exam's proctor page; each sends the whole board at once and again after a change."""
from __future__ import annotations

import json

from flask import Response, current_app, request

from bridge.extensions import db
from bridge.hub.websocket import HandshakeError, check_upgrade, websocket_response
from bridge.models.exams import Exam
from bridge.models.papers import ExamSession
from bridge.models.sittings import Sitting
from bridge.services.people import access
from bridge.services.proctoring import boards
from bridge.web.auth import current_actor


#: how often a console's socket looks for a change on the board (seconds)
BOARD_EVERY = 1.0


def socket(room_id: int):
    """The live board: the whole board as JSON at once and after every change (the socket
    looks each ``BOARD_EVERY`` seconds), so a console that reconnects has caught up with
    its first message."""
    actor = current_actor()
    if actor is None:
        return Response("sign in as this room's proctor\n", status=401, mimetype="text/plain")
    if not actor.is_staff:
        return Response("sign in as this room's proctor\n", status=403, mimetype="text/plain")
    sitting_id = request.args.get("sitting", type=int)
    sitting = db.session.get(Sitting, sitting_id) if sitting_id else None
    if sitting is None or sitting.room_id != room_id:
        return Response("no such sitting in this room\n", status=404, mimetype="text/plain")
    if not access.may_sitting(db.session, actor, sitting):
        return Response("your account does not cover this room\n", status=403, mimetype="text/plain")
    return _board_stream(lambda s: boards.board(s, sitting_id, actor=actor))


def session_socket(session_id: int):
    """The live board of a whole session (``boards.session_board``) for the exam's proctor
    page: a teacher or proctor of the exam's course (a designated proctor too), or an admin.

    The same socket as a room's console rather than a JSON poll: the page already shares
    console.js with the console, the server sends a board only when it changed (a poll would
    cost a whole request through Flask every second per open page), and a page that
    reconnects catches up with its first message."""
    from werkzeug.exceptions import HTTPException

    from bridge.web.auth import require_course

    sess = db.session.get(ExamSession, session_id)
    if sess is None:
        return Response("no such session\n", status=404, mimetype="text/plain")
    exam = db.session.get(Exam, sess.exam_id)
    try:
        require_course(exam.course_id, "teacher", "proctor")
    except HTTPException as exc:
        return Response("sign in as a teacher or proctor of this course\n", status=exc.code or 403,
                        mimetype="text/plain")
    return _board_stream(lambda s: boards.session_board(s, session_id))


def _board_stream(produce):
    """Serve ``produce(session)``'s board over this request's WebSocket: sent at once, then
    each time it changes (looked at every ``BOARD_EVERY`` seconds)."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.rstrip("/") != request.host_url.rstrip("/"):
        # the session cookie is SameSite=None: another site's page must not read the board
        return Response("the console's socket answers the bridge's own pages only\n", status=403, mimetype="text/plain")
    environ = request.environ
    try:
        check_upgrade(environ)
    except HandshakeError as exc:
        return Response(str(exc) + "\n", status=exc.status, mimetype="text/plain")
    app = current_app._get_current_object()
    db.session.remove()

    def run(ws) -> None:
        last = None
        while ws.connected:
            with app.app_context():
                try:
                    body = json.dumps(produce(db.session).as_dict(), ensure_ascii=False)
                finally:
                    db.session.remove()
            if body != last:
                try:
                    ws.send(body)
                except (ConnectionError, OSError):
                    return
                last = body
            ws.receive(timeout=BOARD_EVERY)  # the console sends nothing; this waits, and sees a close

    return websocket_response(environ, run, max_message_size=4096)
