"""``N_`` marks a message for extraction where it is not translated on the spot (service
errors are translated when rendered: templates call ``_(message)``)."""


def N_(message: str) -> str:
    return message
