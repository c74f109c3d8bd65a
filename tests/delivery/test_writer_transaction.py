"""The contract between the group writer and the answer store on PostgreSQL, as pure logic:
BEGIN is claimed once, COMMIT rides with a write only inside the batch's last run, and a store
that committed leaves the writer nothing to send."""
from __future__ import annotations

import pytest

from bridge.db import WriterTransaction


class _Conn:
    def __init__(self):
        self.info = {}


@pytest.mark.req("C5")
def test_begin_is_claimed_once_and_commit_rides_only_with_the_last_write():
    conn = _Conn()
    tx = WriterTransaction(conn)
    assert not tx.claim_begin()                     # no transaction: nothing to claim
    tx.begin()
    assert WriterTransaction(conn).claim_begin()    # the first statement carries BEGIN
    assert not tx.claim_begin()                     # and only the first
    assert not tx.may_commit_with_this_write()      # not the batch's last run
    with tx.last_write():
        assert tx.may_commit_with_this_write()
        tx.committed()
    assert not tx.may_commit_with_this_write()
    assert not tx.end()                             # the store committed: the writer sends nothing


@pytest.mark.req("C5")
def test_the_writer_finishes_what_it_began_and_a_new_connection_carries_nothing():
    conn = _Conn()
    tx = WriterTransaction(conn)
    tx.begin()
    assert not tx.end()                             # begun but never sent: nothing to commit
    tx.begin()
    tx.claim_begin()
    assert tx.end()                                 # BEGIN went out: the writer sends COMMIT
    tx.begin()
    tx.forget()
    assert not tx.claim_begin() and conn.info == {}
