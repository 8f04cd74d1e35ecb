"""Status notices (办理进度通知): the resident hears when their issue is taken up, answered,
handed to a department, resolved or declined.

Planned in the outbox inside the transaction of the change itself, so a change that rolls back
notifies nobody and one that commits is sent after it (STYLE.md habit 4); the cause names the
timeline event, so each change notifies once.
"""
from __future__ import annotations

from sqlalchemy import select

from backend import clock
from backend.services.messaging import outbox
from backend.wechat import templates
from models import Issue, IssueEvent, User, db

TEMPLATE = "issue_status"
# Timeline event kinds a resident is told about, with the status word shown (≤ 5 Chinese
# characters: a `phrase`).
STATUS_PHRASE = {
    "accepted": "已受理",
    "replied": "已答复",
    "department_result": "已答复",
    "transferred": "已交办",
    "resolved": "已办结",
    "rejected": "不予受理",
}


def issue_changed(issue: Issue, event: IssueEvent) -> None:
    """Plan the submitter's notice of `event`, if it is one residents are told about."""
    phrase = STATUS_PHRASE.get(event.kind)
    if phrase is None:
        return
    openid = db.session.scalar(select(User.openid).where(User.id == issue.submitter_id))
    data = templates.message_data(TEMPLATE, {
        "character_string1": templates.character_string(issue.no),
        "phrase2": templates.phrase(phrase),
        "thing3": templates.thing(issue.content),
        "time4": templates.time_value(clock.now()),
    })
    outbox.enqueue(issue.submitter_id, TEMPLATE, f"issue:{issue.id}:{event.kind}:{event.id}", data,
                   openid=openid, station_id=issue.station_id, page=f"pages/issue/detail?no={issue.no}")
