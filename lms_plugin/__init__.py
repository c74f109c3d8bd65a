"""Everything LTI: tool endpoints, LTI Advantage clients, role mapping and the sandbox LMS."""


def init_app(app) -> None:
    from lms_plugin import framing
    from lms_plugin.gradebook_views import bp as gradebook_bp
    from lms_plugin.views import bp

    app.register_blueprint(bp)
    app.register_blueprint(gradebook_bp)
    framing.init_app(app)
