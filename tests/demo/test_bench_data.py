"""`bench-data`: bulk data the app then serves as its own — a small county-shaped run."""
from __future__ import annotations

import pytest
from sqlalchemy import func, select, text

from backend import clock
from backend.auth import issue_token
from backend.demo import bench_data
from models import Deputy, Issue, IssueEvent, Reply, Station, User, db
from tests.factories import auth, create_categories, staff_login, wx_login

TINY = bench_data.Sizes(cities=2, counties=3, townships=6, stations=20, deputies=120, residents=300, issues=2000)


def test_only_postgresql_is_filled(app):
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        pytest.skip("this checks the refusal on another engine")
    with app.app_context(), pytest.raises(RuntimeError, match="只支持 PostgreSQL"):
        bench_data.generate(TINY)


@pytest.mark.postgres
def test_a_generated_county_is_served_like_real_data(app, client):
    with app.app_context():
        create_categories()
        db.session.commit()
        summary = bench_data.generate(TINY, seed=7)
        counts = summary["counts"]
        assert (counts["station"], counts["deputy"], counts["issue"]) == (20, 120, 2000)
        assert db.session.scalar(select(func.count()).select_from(Issue)) == 2000
        # Timelines: every issue has its submission, every answered one its reply and event.
        submitted = db.session.scalar(select(func.count()).where(IssueEvent.kind == "submitted"))
        answered = db.session.scalar(select(func.count()).where(Issue.first_response_at.is_not(None)))
        assert submitted == 2000 and answered > 0
        assert db.session.scalar(select(func.count()).select_from(Reply)) == answered
        assert db.session.scalar(select(func.count()).where(IssueEvent.kind == "replied")) == answered
        assert counts["check_in"] > 0 and counts["station_day_figures"] > 0
        lat, lng = db.session.execute(select(func.min(Station.lat), func.max(Station.lng))).one()
        assert 27 < lat < 31.2 and 118 < lng < 122.5
        # Phones encrypted as the app keeps them, readable through the model.
        raw = db.session.execute(text("SELECT phone FROM deputy WHERE id = 1")).scalar_one()
        phone = db.session.get(Deputy, 1).phone
        assert phone.startswith("1") and len(phone) == 11 and phone not in raw
        deputy_user = db.session.get(User, db.session.get(Deputy, 1).user_id)
        deputy_token, _ = issue_token(deputy_user)
        scene = db.session.get(Station, 1).scene
        today_last = db.session.scalar(select(func.max(Issue.no)).where(
            Issue.no.like(f"{clock.beijing_today():%Y%m%d}-%")))
        with pytest.raises(bench_data.NotEmpty):
            bench_data.generate(TINY)

    # The county's admin sees the county's figures, as the stats service counts them.
    admin = staff_login(client, "county-admin", bench_data.BENCH_PASSWORD)["token"]
    stats = client.get("/api/v1/manage/stats", headers=auth(admin))
    assert stats.status_code == 200 and stats.get_json()["stats"]["received"] > 0
    assert client.get("/api/v1/deputy/inbox", headers=auth(deputy_token)).status_code == 200
    # A new issue gets the next number of the day, after the generated ones.
    resident = wx_login(client, "new-resident")["token"]
    made = client.post("/api/v1/issues", json={"scene": scene, "category": "交通出行",
                                               "content": "生成数据之后提交的第一条意见。"}, headers=auth(resident))
    assert made.status_code == 201, made.get_json()
    assert today_last is None or made.get_json()["issue"]["no"] > today_last
