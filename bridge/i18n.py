"""``N_`` marks a message for extraction where it is not translated on the spot (service
errors are translated when rendered: templates call ``_(message)``)."""


def N_(message: str) -> str:
    return message


def _untranslated(message: str, **params) -> str:
    return message % params if params else message


_translate = _untranslated


def set_translator(gettext) -> None:
    """The app factory hands Flask-Babel's ``gettext`` here, so errors raised by services
    (which never import Flask) are shown in the request's language."""
    global _translate
    _translate = gettext or _untranslated


def translate(message: str, **params) -> str:
    """``message`` in the current language (as is, outside an app), its parameters filled in."""
    return _translate(message, **params)
