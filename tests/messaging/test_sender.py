"""The outbox sender against the fake WeChat over a socket: every outcome WeChat can give, and
the rule behind them — a message is sent at most once, exactly once whenever WeChat answered."""
from __future__ import annotations

import threading
from datetime import datetime, timedelta

import pytest

from backend import clock
from backend.services.messaging import outbox
from backend.wechat import templates
from models import OutboxMessage, OutboxState, SubscriptionGrant, User, db

S = OutboxState
BJ = clock.BEIJING
TEMPLATE = "reception_reminder"
START = datetime(2027, 1, 5, 18, 0, tzinfo=BJ)


def _data(tip: str = "请按时到站") -> dict:
    return templates.message_data(TEMPLATE, {"thing1": "古城社区联络站", "date2": "2027年1月6日",
                                             "thing3": "古城路1号", "thing4": tip})


def _resident(openid: str | None, grants: int = 1) -> User:
    user = User(openid=openid)
    db.session.add(user)
    db.session.flush()
    if grants:
        db.session.add(SubscriptionGrant(user_id=user.id, template_id=templates.template_id(TEMPLATE),
                                         available=grants, accepted_total=grants, last_status="accept"))
    db.session.commit()
    return user


def _plan(user: User, cause: str = "c1", data: dict | None = None, **kwargs) -> None:
    outbox.enqueue(user.id, TEMPLATE, cause, data or _data(), openid=user.openid, **kwargs)
    db.session.commit()


def _send(app, threads: int = 2) -> outbox.SendReport:
    return outbox.Sender(app, threads=threads).run(until_idle=True)


def _rows() -> dict[str, OutboxMessage]:
    db.session.expire_all()
    return {r.cause: r for r in db.session.scalars(db.select(OutboxMessage))}


def _grants(user: User) -> int:
    db.session.expire_all()
    return db.session.scalar(db.select(SubscriptionGrant.available).filter_by(user_id=user.id))


@pytest.fixture
def at_start(ctx):
    clock.freeze(START)
    yield
    clock.freeze(None)


def test_sent_once_with_the_data_planned(app, fake_wechat, at_start):
    user = _resident("o-sent")
    _plan(user)
    _plan(user)  # planned twice: one row
    report = _send(app)
    assert report.outcomes == {"sent": 1}
    messages = fake_wechat.messages()
    assert len(messages) == 1
    assert messages[0]["touser"] == "o-sent" and messages[0]["data"] == _data()
    assert messages[0]["miniprogram_state"] == "developer"
    row = _rows()["c1"]
    assert row.state == S.sent and row.sent_at == START and row.wechat_msgid == str(messages[0]["msgid"])
    assert _grants(user) == 0
    assert _send(app).claimed == 0 and len(fake_wechat.messages()) == 1


def test_no_grant_in_the_ledger_is_never_sent(app, fake_wechat, at_start):
    _plan(_resident("o-nogrant", grants=0))
    assert _send(app).outcomes == {"no_grant": 1}
    assert fake_wechat.calls("cgi-bin/message/subscribe/send") == []


def test_43101_is_final_and_empties_the_grant(app, fake_wechat, at_start):
    user = _resident("o-refused", grants=3)
    fake_wechat.refuse("o-refused")
    _plan(user)
    assert _send(app).outcomes == {"no_grant": 1}
    row = _rows()["c1"]
    assert row.state == S.no_grant and row.last_errcode == 43101
    assert _grants(user) == 0
    clock.freeze(START + timedelta(days=2))
    assert _send(app).claimed == 0
    assert len(fake_wechat.calls("cgi-bin/message/subscribe/send")) == 1


def test_45009_waits_for_the_next_beijing_day(app, fake_wechat, at_start):
    template_id = templates.template_id(TEMPLATE)
    fake_wechat.quota(template_id, 1)
    users = [_resident(f"o-quota-{n}") for n in range(3)]
    for n, user in enumerate(users):
        _plan(user, cause=f"q{n}")
    assert _send(app, threads=1).outcomes == {"sent": 1, "deferred": 2}
    deferred = [r for r in _rows().values() if r.state == S.deferred]
    assert {r.not_before for r in deferred} == {datetime(2027, 1, 6, 8, 0, tzinfo=BJ)}
    rows = _rows()
    assert [_grants(u) for u in users] == [0 if rows[f"q{n}"].state == S.sent else 1 for n in range(3)]
    # Later the same day: still waiting. The next morning, a new quota: sent.
    clock.freeze(START + timedelta(hours=5))
    assert _send(app).claimed == 0
    fake_wechat.new_day()
    clock.freeze(datetime(2027, 1, 6, 8, 0, tzinfo=BJ))
    fake_wechat.quota(template_id, 10)
    assert _send(app).outcomes == {"sent": 2}
    assert len(fake_wechat.messages()) == 3


def test_busy_is_retried_with_backoff(app, fake_wechat, at_start):
    fake_wechat.fail("cgi-bin/message/subscribe/send", errcode=-1, times=1)
    user = _resident("o-busy")
    _plan(user)
    assert _send(app).outcomes == {"pending": 1}
    row = _rows()["c1"]
    assert row.attempts == 1 and row.last_errcode == -1
    assert START + timedelta(seconds=20) < row.not_before < START + timedelta(seconds=40)
    assert _grants(user) == 1  # WeChat did not send it: the grant is still the user's
    clock.freeze(row.not_before)
    assert _send(app).outcomes == {"sent": 1}
    assert len(fake_wechat.messages()) == 1


def test_retries_run_out(app, fake_wechat, at_start):
    fake_wechat.fail("cgi-bin/message/subscribe/send", errcode=-1, times=10)
    _plan(_resident("o-busy-long"))
    for _ in range(app.config["OUTBOX_MAX_ATTEMPTS"]):
        _send(app)
        clock.freeze(clock.now() + timedelta(hours=1))
    assert _rows()["c1"].state == S.failed
    assert len(fake_wechat.calls("cgi-bin/message/subscribe/send")) == app.config["OUTBOX_MAX_ATTEMPTS"]


@pytest.mark.parametrize("fault", ["drop", "delay"])
def test_an_answer_lost_after_sending_is_unknown_and_never_resent(app, fake_wechat, at_start, fault):
    path = "cgi-bin/message/subscribe/send"
    if fault == "drop":
        fake_wechat.drop(path)
    else:
        fake_wechat.delay(path, app.config["WECHAT_TIMEOUT_SECONDS"] + 1.5)
    _plan(_resident("o-lost"))
    assert _send(app).outcomes == {"unknown": 1}
    clock.freeze(START + timedelta(days=1))
    assert _send(app).claimed == 0
    assert len(fake_wechat.messages()) == 1  # WeChat got it once


def test_wechat_unreachable_before_sending_is_retried(app, fake_wechat, at_start):
    app.config["WECHAT_API_BASE"] = "http://127.0.0.1:9/"  # nothing listens: refused before any byte
    try:
        _plan(_resident("o-refused-port"))
        assert _send(app).outcomes == {"pending": 1}
    finally:
        app.config["WECHAT_API_BASE"] = fake_wechat.base_url
    clock.freeze(START + timedelta(minutes=5))
    assert _send(app).outcomes == {"sent": 1}


def test_data_wechat_refuses_fails_without_retry(app, fake_wechat, at_start):
    user = _resident("o-bad-data")
    _plan(user, data=_data(tip="这是一条超过二十个字符的提示文字，微信会拒绝它"))
    assert _send(app).outcomes == {"failed": 1}
    row = _rows()["c1"]
    assert row.last_errcode == 47003 and "thing4" in row.last_error
    assert _grants(user) == 1


def test_a_refused_token_is_refreshed_once(app, fake_wechat, at_start):
    _plan(_resident("o-token"))
    fake_wechat.expire_tokens()
    # The gateway's token is expired at WeChat but not in our store: 42001, refresh, resend.
    assert _send(app).outcomes == {"sent": 1}
    assert len(fake_wechat.messages()) == 1


def test_nothing_to_send_is_skipped(app, fake_wechat, at_start):
    _plan(_resident(None), cause="no-openid")
    _plan(_resident("o-late"), cause="late", expires_at=START - timedelta(minutes=1))
    assert _send(app).outcomes == {"skipped": 2}
    rows = _rows()
    assert rows["no-openid"].state == rows["late"].state == S.skipped
    assert fake_wechat.calls("cgi-bin/message/subscribe/send") == []


def test_a_stale_claim_becomes_unknown(app, fake_wechat, at_start):
    _plan(_resident("o-stale"))
    claimed = outbox.claim("dead-sender", 10)
    assert len(claimed) == 1
    assert outbox.reap_stale_claims(START + timedelta(seconds=60)) == 0
    stale = START + timedelta(seconds=app.config["OUTBOX_STALE_CLAIM_SECONDS"] + 1)
    assert outbox.reap_stale_claims(stale) == 1
    assert _rows()["c1"].state == S.unknown
    # The dead sender's outcome, should it ever arrive, does not overwrite that.
    outbox._finish(claimed[0].id, "dead-sender", S.sent)
    db.session.commit()
    assert _rows()["c1"].state == S.unknown


@pytest.mark.postgres
def test_two_senders_never_take_the_same_row(app, fake_wechat, at_start):
    users = [_resident(f"o-race-{n}") for n in range(120)]
    rows = [{"recipient_id": u.id, "template": TEMPLATE, "cause": "race", "data": _data(), "openid": u.openid}
            for u in users]
    outbox.enqueue_many(rows)
    db.session.commit()
    reports = []
    senders = [threading.Thread(target=lambda: reports.append(_send(app, threads=4))) for _ in range(2)]
    for thread in senders:
        thread.start()
    for thread in senders:
        thread.join()
    assert sum(r.claimed for r in reports) == 120
    assert all(r.claimed > 0 for r in reports)
    touched = [m["touser"] for m in fake_wechat.messages()]
    assert sorted(touched) == sorted(u.openid for u in users)
