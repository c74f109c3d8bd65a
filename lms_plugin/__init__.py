"""Everything LTI: tool endpoints, LTI Advantage clients, role mapping and the sandbox LMS."""


def init_app(app) -> None:
    import lms_plugin.models  # noqa: F401  (its tables; the core's models never import the plugin)
    from bridge.signals import score_ready
    from lms_plugin import framing
    from lms_plugin.services import outbox

    score_ready.connect(outbox.on_score_ready)  # once per process: blinker keeps one connection per receiver
    from lms_plugin.gradebook_views import bp as gradebook_bp
    from lms_plugin.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(gradebook_bp)
    framing.init_app(app)
