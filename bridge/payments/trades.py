"""What every provider adapter answers in, so the views and the payments service never see a
provider's own format: a ``Trade`` (the provider's record of an order, in Alipay's trade
states and yuan amounts as text, the vocabulary the payments service checks) and a
``Checkout`` (where the candidate pays: a page to be sent to, or a code to scan)."""
from __future__ import annotations

from dataclasses import dataclass

#: the shared trade states (Alipay's); an adapter maps its provider's to these
PAID = "TRADE_SUCCESS"
WAITING = "WAIT_BUYER_PAY"
CLOSED = "TRADE_CLOSED"


@dataclass(frozen=True)
class Trade:
    out_trade_no: str
    trade_no: str
    trade_status: str
    total_amount: str  # yuan, two decimals: "160.00"
    app_id: str


@dataclass(frozen=True)
class Checkout:
    kind: str    # "redirect": send the candidate to ``target``; "scan": show ``target`` as a QR code
    target: str


def yuan(cents: int) -> str:
    return f"{cents // 100}.{cents % 100:02d}"
