"""Lines written outside requests name their run: a job's run (its JobRun id), the scheduler
process, each outbox sender thread."""
from __future__ import annotations

import logging
import threading
from datetime import datetime

from backend import clock
from backend.jobs import runs
from backend.jobs.runner import Scheduler
from backend.services.messaging import outbox
from tests.jobs.sample_jobs import TABLE

NOW = datetime(2027, 1, 5, 12, 0, tzinfo=clock.BEIJING)


def test_a_job_runs_lines_carry_its_run_id(ctx, caplog):
    caplog.set_level(logging.INFO)
    ok = runs.run_job("probe-record", NOW, "tester:1", table=TABLE)
    failed = runs.run_job("probe-explode", NOW, "tester:1", table=TABLE)
    lines = {r.run_id: r for r in caplog.records if r.name == "backend.jobs.runs"}
    assert lines[f"job:probe-record:{ok.id}"].getMessage().startswith("job probe-record ok")
    assert lines[f"job:probe-explode:{failed.id}"].levelname == "ERROR"
    assert all(r.request_id is None for r in caplog.records)
    logging.getLogger("tests").info("after the runs")
    assert caplog.records[-1].run_id is None


class NeverLeads:
    def try_acquire(self) -> bool:
        return False

    def still_held(self) -> bool:
        return False

    def release(self) -> None:
        pass


def test_the_schedulers_own_lines_carry_its_name(app, caplog):
    caplog.set_level(logging.INFO)
    scheduler = Scheduler(app, TABLE[:1], runner_id="host:77", leadership=NeverLeads(), poll=0.05)
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    scheduler.stopping.wait(0.2)
    scheduler.stop()
    thread.join(5)
    mine = [r for r in caplog.records if r.name == "backend.jobs.runner"]
    assert [r.getMessage() for r in mine] == ["scheduler host:77: started, standing by until it holds the lock",
                                              "scheduler host:77: stopped"]
    assert {r.run_id for r in mine} == {"scheduler:host:77"}


def test_each_sender_thread_names_itself(app, caplog):
    caplog.set_level(logging.INFO, logger="sqlalchemy.engine")  # the claims' statements
    sender = outbox.Sender(app, threads=2)
    sender.run(until_idle=True)
    ids = {r.run_id for r in caplog.records if r.name.startswith("sqlalchemy.engine")}
    assert ids == {f"outbox:{sender.sender_id}/0", f"outbox:{sender.sender_id}/1"}
