"""Status notices (办理进度通知): planned with the change that causes them, one per change."""
from __future__ import annotations

from backend.services.issues import issue_flow
from models import Issue, OutboxMessage, Role, StaffAccount, db
from tests.issues.test_issue_lifecycle import act, submit, world  # noqa: F401  - the fixture is used by name


def _notices(app) -> list[OutboxMessage]:
    with app.app_context():
        return list(db.session.scalars(db.select(OutboxMessage).order_by(OutboxMessage.id)))


def test_each_change_a_resident_cares_about_plans_one_notice(app, client, world):  # noqa: F811
    no = submit(client, world).get_json()["issue"]["no"]
    assert _notices(app) == []  # submitting is the resident's own act
    assert act(client, world, "deputy", no, "accept").status_code == 200
    assert act(client, world, "deputy", no, "reply", {"content": "已联系物业，本周内修复。"}).status_code == 200
    assert act(client, world, "deputy", no, "reply", {"content": "物业已派人查看。"}).status_code == 200
    assert act(client, world, "deputy", no, "resolve", {"summary": "路灯已修好。"}).status_code == 200
    notices = _notices(app)
    assert [n.data["phrase2"]["value"] for n in notices] == ["已受理", "已答复", "已答复", "已办结"]
    assert len({n.cause for n in notices}) == 4
    first = notices[0]
    assert first.template == "issue_status" and first.openid == "fake-resident-1"
    assert first.data["character_string1"] == {"value": no}
    assert len(first.data["thing3"]["value"]) <= 20
    assert first.page == f"pages/issue/detail?no={no}"


def test_a_notice_lives_and_dies_with_its_change(app, client, world):  # noqa: F811
    no = submit(client, world).get_json()["issue"]["no"]
    with app.app_context():
        issue = db.session.scalar(db.select(Issue).filter_by(no=no))
        manager = db.session.scalar(db.select(StaffAccount).filter_by(username="manager")).user
        issue_flow.accept_issue(issue, issue_flow.Actor(user=manager, role=Role.station_manager))
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 1
        db.session.rollback()  # the request failing after the change: no change, no notice
        assert db.session.scalar(db.select(db.func.count()).select_from(OutboxMessage)) == 0


def test_a_rejection_is_told_too(app, client, world):  # noqa: F811
    no = submit(client, world).get_json()["issue"]["no"]
    assert act(client, world, "deputy", no, "reject", {"reason": "不属于本站受理范围"}).status_code == 200
    assert [n.data["phrase2"]["value"] for n in _notices(app)] == ["不予受理"]
