"""The SIEM feed (engine/audit_feed.py, `jichi audit feed`): JSON lines and RFC 5424 syslog, resumable from the
positions it keeps, one line per event whatever the values hold, and no personal data."""

from __future__ import annotations

import json
import re
import socket
import threading
from pathlib import Path

from click.testing import CliRunner

from engine import access_log, audit, store
from engine.audit_feed import jsonl, syslog
from tests.engine_support import environment
from web.cli import cli

CODE = "141305"
HOSTILE = "窓口\r\n偽の行\u2028\u202eevil]\"\\"
# RFC 5424: <PRI>VERSION SP TIMESTAMP SP HOSTNAME SP APP-NAME SP PROCID SP MSGID SP [SD] SP MSG
SYSLOG = re.compile(r'^<110>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S{1,255} jichi - [!-~]{1,32} '
                    r'\[jichi@32473( [a-z]+="(?:[^"\\\]]|\\["\\\]])*")+\] \{.*\}$')


def _events(database_url: str) -> None:
    with environment(database_url) as env, env.session() as s:
        for n in range(3):
            access_log.record(s, municipality=CODE, actor="madoguchi", action="resident.searched",
                              screen="clerk.residents_page", via="web", address="10.0.0.5", residents=[f"100{n}"],
                              query="やまだ")
        store.insert_events(s, [audit.event(municipality=CODE, actor="madoguchi", action="case.viewed",
                                            detail={"screen": HOSTILE, "address": "10.0.0.5"})])
        s.commit()


def _feed(database_url: str, *args: str) -> list[str]:
    result = CliRunner().invoke(cli, ["audit", "feed", "--municipality", CODE, *args],
                                env={"JICHI_DATABASE_URL": database_url})
    assert result.exit_code == 0, result.output
    return result.output.splitlines()


def test_json_lines_resume_from_the_state_and_carry_no_personal_data(database_url: str, tmp_path: Path) -> None:
    _events(database_url)
    state = tmp_path / "feed.json"
    first = _feed(database_url, "--state", str(state), "--max", "2")
    events = [json.loads(line) for line in first]
    assert [e["seq"] for e in events] == [1, 2] and events[0]["action"] == "resident.searched"
    assert events[0]["detail"] == {"address": "10.0.0.5", "residents": 1, "screen": "clerk.residents_page", "via": "web"}
    # the query and the 宛名番号 stay out (looked for outside the time and the hashes, whose digits may hold "1000")
    shown = json.dumps([{k: v for k, v in e.items() if k not in {"occurred_at", "hash", "prev_hash"}}
                        for e in events], ensure_ascii=False)
    assert "やまだ" not in "".join(first) and "1000" not in shown and "1001" not in shown
    rest = _feed(database_url, "--state", str(state))
    assert [json.loads(line)["seq"] for line in rest] == [3, 4]  # resumed where it stopped
    assert _feed(database_url, "--state", str(state)) == []  # nothing new
    assert [json.loads(line)["seq"] for line in _feed(database_url, "--after", f"{CODE}:3")] == [4]
    hostile = rest[-1]
    assert "\n" not in hostile and "\u2028" not in hostile and "\u202e" not in hostile
    assert json.loads(hostile)["detail"]["screen"] == HOSTILE  # escaped, not lost


def test_syslog_lines_follow_rfc_5424_and_stay_one_line(database_url: str) -> None:
    _events(database_url)
    lines = _feed(database_url, "--format", "syslog")
    assert len(lines) == 4
    for line in lines:
        assert SYSLOG.match(line), line
    assert 'address="10.0.0.5"' in lines[0] and "resident.searched" in lines[0]
    event = {"municipality": CODE, "seq": 9, "hash": "0" * 64, "occurred_at": "2026-04-01T00:00:00.000000Z",
             "actor": HOSTILE, "action": "case.viewed", "case_id": None, "task_id": None, "detail": {"x": HOSTILE}}
    line = syslog(event, hostname="host")
    assert SYSLOG.match(line) and "\r" not in line and "\n" not in line and "\u202e" not in line
    assert r'\\u000d\\u000a' in line and '\\]\\"\\\\' in line  # the SD value escaped as RFC 5424 §6.3.3 asks
    assert "\n" not in jsonl(event)


def test_the_feed_is_sent_over_tcp_with_octet_counting(database_url: str) -> None:
    _events(database_url)
    server = socket.create_server(("127.0.0.1", 0))
    received: list[bytes] = []

    def accept() -> None:
        connection, _ = server.accept()
        with connection:
            while chunk := connection.recv(65536):
                received.append(chunk)

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    port = server.getsockname()[1]
    assert _feed(database_url, "--format", "syslog", "--send", f"tcp://127.0.0.1:{port}") == []
    thread.join(timeout=10)
    server.close()
    data = b"".join(received).decode("utf-8")
    frames = []
    while data:
        length, _, rest = data.partition(" ")
        size = int(length)
        frames.append(rest.encode("utf-8")[:size].decode("utf-8"))
        data = rest.encode("utf-8")[size:].decode("utf-8")
    assert len(frames) == 4 and all(SYSLOG.match(f) for f in frames)
