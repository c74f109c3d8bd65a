"""The agent's answer journal (K4): idempotent appends, durable acks and meta, a torn tail
after a power cut ignored, a full disk refused cleanly, fsync before returning."""
from __future__ import annotations

import errno
import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from kiosk_agent.answer_pack import generate_bridge_key, generate_device_key, open_pack
from kiosk_agent.journal import (Journal, JournalConflict, JournalCorrupt, JournalFull, JournalInvalid)

pytestmark = pytest.mark.req("K4")


def ev(seq, q=3, response=None, writer="tab-1", epoch=1, client_time=10.0):
    return {"writer": writer, "seq": seq, "question_id": q, "response": response or {"choice": "abcd"[seq % 4]},
            "client_time": client_time, "epoch": epoch}


def test_append_pending_high_water_and_reopen(tmp_path):
    j = Journal(tmp_path)
    assert j.append(7, [ev(1), ev(2), ev(1, writer="tab-2")]) == [1, 2, 1]
    assert j.high_water(7) == {"tab-1": 2, "tab-2": 1}
    again = Journal(tmp_path)
    assert again.high_water(7) == {"tab-1": 2, "tab-2": 1}
    assert again.pending(7, "tab-1", 0) == [ev(1), ev(2)]
    assert again.pending(7, "tab-1", 1) == [ev(2)]
    assert again.pending(7, "tab-9", 0) == []
    assert again.attempts() == [7]


def test_a_re_append_is_a_no_op_and_a_changed_payload_a_conflict(tmp_path):
    j = Journal(tmp_path)
    j.append(7, [ev(1), ev(2)])
    size = j.path(7).stat().st_size
    assert j.append(7, [ev(1), ev(2)]) == [1, 2]
    assert j.path(7).stat().st_size == size
    with pytest.raises(JournalConflict, match="already journaled with another answer"):
        j.append(7, [ev(3), ev(2, response={"choice": "z"})])
    assert j.path(7).stat().st_size == size  # nothing of the refused call was written
    assert j.high_water(7) == {"tab-1": 2}


def test_a_writer_journals_in_seq_order(tmp_path):
    j = Journal(tmp_path)
    j.append(7, [ev(5)])
    with pytest.raises(JournalInvalid, match="older than seq 5"):
        j.append(7, [ev(4)])


@pytest.mark.parametrize("bad, fragment", [
    ({"writer": "tab 1"}, "writer"), ({"seq": 0}, "seq"), ({"question_id": "3"}, "question_id"),
    ({"response": [1]}, "JSON object"), ({"client_time": "now"}, "client_time"), ({"epoch": 0}, "epoch"),
    ({"extra": 1}, "each event"), ({"response": {"text": "x" * 70000}}, "too large"),
])
def test_malformed_events_are_refused(tmp_path, bad, fragment):
    with pytest.raises(JournalInvalid, match=fragment):
        Journal(tmp_path).append(7, [{**ev(1), **bad}])
    assert not Journal(tmp_path).path(7).exists()


def test_acks_meta_and_wipe_are_durable(tmp_path):
    j = Journal(tmp_path)
    j.append(7, [ev(1), ev(2)])
    j.mark_acked(7, "tab-1", 2, "h2")
    j.mark_acked(7, "tab-1", 1, "h1")  # older: changes nothing
    j.set_meta(7, {"exam_id": 3, "session_id": 5, "seat": 4})
    j.set_meta(7, {"seat": 6})
    again = Journal(tmp_path)
    assert again.acked(7) == {"tab-1": {"seq": 2, "head": "h2"}}
    assert again.meta(7) == {"exam_id": 3, "session_id": 5, "seat": 6}
    again.wipe(7)
    assert again.attempts() == [] and Journal(tmp_path).high_water(7) == {}


def test_a_torn_last_line_is_ignored_and_cut_off_before_the_next_write(tmp_path):
    j = Journal(tmp_path)
    j.append(7, [ev(1), ev(2)])
    whole = j.path(7).read_bytes()
    line = whole.split(b"\n")[1]
    with j.path(7).open("ab") as fh:
        fh.write(line[: len(line) // 2])  # a power cut in the middle of the third record
    torn = Journal(tmp_path)
    assert torn.high_water(7) == {"tab-1": 2} and torn.torn_bytes(7) == len(line) // 2
    torn.append(7, [ev(3)])
    data = j.path(7).read_bytes()
    assert data.startswith(whole) and data.count(b"\n") == 3
    assert Journal(tmp_path).pending(7, "tab-1", 0) == [ev(1), ev(2), ev(3)]


def test_a_zero_filled_tail_is_ignored(tmp_path):
    """After a crash some file systems show the new length with zeros (and newlines may be
    anywhere in garbage): whatever follows the last good record and holds no good record is
    a torn tail."""
    j = Journal(tmp_path)
    j.append(7, [ev(1)])
    with j.path(7).open("ab") as fh:
        fh.write(b"\0" * 100 + b"\n" + b"\0" * 50 + b"\n{\"t\":\"event\"")
    again = Journal(tmp_path)
    assert again.high_water(7) == {"tab-1": 1}
    again.append(7, [ev(2)])
    assert Journal(tmp_path).high_water(7) == {"tab-1": 2}


def test_a_damaged_record_followed_by_good_ones_is_reported_not_skipped(tmp_path):
    j = Journal(tmp_path)
    j.append(7, [ev(1), ev(2), ev(3)])
    j.append(8, [ev(1)])
    lines = j.path(7).read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"choice":"c"', b'"choice":"d"')  # a flipped answer, checksum now wrong
    j.path(7).write_bytes(b"\n".join(lines))
    damaged_bytes = j.path(7).read_bytes()
    again = Journal(tmp_path)
    assert again.high_water(7) == {"tab-1": 1}                       # the sound part before the damage is read
    assert [e["seq"] for e in again.pending(7, "tab-1", 0)] == [1]
    damaged = again.damaged(7)
    assert damaged["line"] == 2 and damaged["valid_before"] == 1 and damaged["valid_after"] == 1
    assert damaged["events_after"] == [{"line": 3, "t": "event", "writer": "tab-1", "seq": 3}]  # reported, not used
    with pytest.raises(JournalCorrupt, match="damaged at line 2"):
        again.append(7, [ev(4)])
    again.mark_acked(7, "tab-1", 1, "h1")                             # acks: in memory only
    assert again.acked(7) == {"tab-1": {"seq": 1, "head": "h1"}}
    assert j.path(7).read_bytes() == damaged_bytes                   # never written again: nothing cut off
    assert again.damaged(8) is None and again.append(8, [ev(2)]) == [2]  # the other attempt goes on


def test_fsync_of_the_file_before_returning_and_of_the_directory_on_creation(tmp_path):
    calls = []

    def fsync(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))
        os.fsync(fd)

    j = Journal(tmp_path, fsync=fsync)
    j.append(7, [ev(1)])
    assert calls == [str(j.path(7)), str(tmp_path)]
    calls.clear()
    j.append(7, [ev(2)])
    j.mark_acked(7, "tab-1", 2, "h")
    j.set_meta(7, {"seat": 1})
    assert calls == [str(j.path(7))] * 3


def test_a_full_disk_raises_journal_full_and_keeps_earlier_records(tmp_path):
    state = {"budget": None}

    def write(fd, data):
        if state["budget"] is None:
            return os.write(fd, data)
        if state["budget"] <= 0:
            raise OSError(errno.ENOSPC, "No space left on device")
        n = os.write(fd, bytes(data[: state["budget"]]))
        state["budget"] -= n
        return n

    j = Journal(tmp_path, write=write)
    j.append(7, [ev(1), ev(2)])
    before = j.path(7).read_bytes()
    state["budget"] = 30  # part of the next record fits, then the disk is full
    with pytest.raises(JournalFull, match="disk .* is full"):
        j.append(7, [ev(3), ev(4)])
    assert j.path(7).read_bytes() == before  # the partial write was cut back off
    assert j.high_water(7) == {"tab-1": 2}
    state["budget"] = None  # space freed: the same events journal fine
    assert j.append(7, [ev(3), ev(4)]) == [3, 4]
    assert Journal(tmp_path).high_water(7) == {"tab-1": 4}


def test_a_file_size_limit_in_a_real_process_is_journal_full(tmp_path):
    """The kernel refuses the write (EFBIG under RLIMIT_FSIZE); the agent is not killed by
    SIGXFSZ and the records written before stay readable."""
    script = textwrap.dedent(f"""
        import json, resource, sys
        from kiosk_agent.journal import Journal
        from kiosk_agent.errors import JournalFull
        j = Journal({str(tmp_path)!r})
        resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))
        seq = 0
        try:
            while True:
                seq += 1
                j.append(7, [{{"writer": "tab-1", "seq": seq, "question_id": 3,
                              "response": {{"text": "x" * 200}}, "client_time": 1.0, "epoch": 1}}])
        except JournalFull as exc:
            print(json.dumps({{"last": seq - 1, "error": str(exc)}}))
    """)
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    result = json.loads(out.stdout)
    assert result["last"] > 5 and "full" in result["error"]
    assert Journal(tmp_path).high_water(7) == {"tab-1": result["last"]}
    assert Journal(tmp_path).path(7).stat().st_size <= 4096


def test_every_acknowledged_event_survives_a_kill(tmp_path):
    """A real process appends and prints each seq once append returned; SIGKILL at a random
    moment; every printed seq is in the journal afterwards, and the journal still opens."""
    script = textwrap.dedent(f"""
        import sys
        from kiosk_agent.journal import Journal
        j = Journal({str(tmp_path)!r})
        seq = 0
        while True:
            seq += 1
            j.append(7, [{{"writer": "tab-1", "seq": seq, "question_id": 3, "response": {{"choice": "a"}},
                          "client_time": 1.0, "epoch": 1}}])
            print(seq, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 40:
            break
    proc.send_signal(signal.SIGKILL)
    rest = proc.stdout.read()
    proc.wait(timeout=10)
    acked = max([acked] + [int(x) for x in rest.split()])
    high = Journal(tmp_path).high_water(7)["tab-1"]
    assert high >= acked


def test_offline_events_are_dated_on_the_bridge_clock(tmp_path):
    ticks = iter([100.0, 150.0, 160.0, 170.0])
    j = Journal(tmp_path, monotonic=lambda: next(ticks))
    j.append(7, [ev(1)])                    # mono 100, before any anchor of this boot
    j.note_server_time(7, 1_000_000.0)      # mono 150 ↔ bridge time 1,000,000
    j.append(7, [ev(2)])                    # mono 160
    records = Journal(tmp_path).records(7)
    assert [r["at"] for r in records] == [999_950.0, 1_000_010.0]
    assert records[1]["prev"] == records[0]["hash"]


def test_export_pack_carries_the_journal_and_acks(tmp_path):
    bridge, device = generate_bridge_key(), generate_device_key()
    j = Journal(tmp_path)
    j.append(7, [ev(1), ev(2), ev(1, writer="tab-2")])
    j.mark_acked(7, "tab-1", 1, "h1")
    j.set_meta(7, {"exam_id": 3, "session_id": 5, "admission_number": "A-1", "seat": 2})
    manifest, events = open_pack(j.export_pack(7, device_private_key=device, bridge_public_key=bridge.public_key(),
                                               kiosk_id=9), bridge)
    assert manifest["acked"] == {"tab-1": {"seq": 1, "head": "h1"}}
    assert (manifest["admission_number"], manifest["seat"], manifest["kiosk_id"]) == ("A-1", 2, 9)
    assert manifest["heads"] == Journal(tmp_path).heads(7)
    assert [(e["writer"], e["seq"]) for e in events] == [("tab-1", 1), ("tab-1", 2), ("tab-2", 1)]


def test_export_pack_errors_are_journal_errors(tmp_path):
    from kiosk_agent.errors import JournalError

    j = Journal(tmp_path)
    j.append(7, [ev(1)])
    with pytest.raises(JournalError, match="meta lacks exam_id, session_id"):
        j.export_pack(7, device_private_key=generate_device_key(), bridge_public_key=generate_bridge_key())
    j.set_meta(7, {"exam_id": 3, "session_id": 5})
    with pytest.raises(JournalError, match="cannot build the answer pack"):
        j.export_pack(7, device_private_key=generate_device_key(), bridge_public_key="not a key")


def test_a_new_journal_directory_is_made_durable(tmp_path):
    calls = []

    def fsync(fd):
        calls.append(os.readlink(f"/proc/self/fd/{fd}"))

    Journal(tmp_path / "data" / "journal", fsync=fsync)
    assert calls == [str(tmp_path / "data")]


def test_threads_appending_at_once_keep_every_event_and_chain(tmp_path):
    import threading

    from kiosk_agent.answer_pack.model import chain_heads

    j = Journal(tmp_path)

    def run(writer):
        for seq in range(1, 26):
            j.append(7, [ev(seq, writer=writer)])

    threads = [threading.Thread(target=run, args=(f"tab-{n}",)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    again = Journal(tmp_path)
    assert again.high_water(7) == {f"tab-{n}": 25 for n in range(4)}
    assert chain_heads(7, again.records(7)) == again.heads(7)
