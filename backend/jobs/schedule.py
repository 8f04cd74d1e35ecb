"""Every periodic job, in one table: what `scheduler run` runs when, and what `jobs run` knows.

A job is a function `fn(now) -> dict` (a JSON-able summary) that does what is due at `now` and
commits its own units of work. Each is idempotent and catches up by itself (it selects what is
due and not yet done), so the extra catch-up runs in the timetables below cost little and cover
a scheduler that was down at the main time. Targets are imported by dotted path only when run:
a job whose module is missing or broken fails alone, never the scheduler.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, time


@dataclass(frozen=True)
class Job:
    name: str  # the CLI's name for it
    target: str  # "package.module:function"
    cron: dict[str, str]  # APScheduler CronTrigger fields, Beijing time
    replay: tuple[time, ...]  # the Beijing times of day `jobs run NAME --date D` runs it at, in order
    description: str
    title: str = ""  # its name as staff read it (the console), `name` when empty


JOBS: tuple[Job, ...] = (
    Job("reception-reminders", "backend.services.duty.reminders:plan_reception_reminders",
        {"minute": "*/15"}, (time(8, 0), time(18, 0)),
        "接待日提醒：每天 8:00、18:00 计划当天和次日的接待日提醒，每 15 分钟补发遗漏", title="接待日提醒"),
    Job("escalation", "backend.services.issues.escalation:run_escalation",
        {"hour": "9-20", "minute": "0"}, (time(9, 0),),
        "督办：每天 9:00 提醒超期和将超期的意见建议并发站长日报，10:00–20:00 每小时补漏", title="督办提醒"),
    Job("auto-close", "backend.services.issues.auto_close:close_unrated",
        {"hour": "2", "minute": "30"}, (time(2, 30),),
        "自动结案：每天 2:30 关闭办结满 7 天仍未评价的意见建议", title="自动结案"),
    Job("rollup", "backend.services.reporting.rollups:roll_up_job",
        {"hour": "1", "minute": "0"}, (time(1, 0),),
        "统计汇总：每天 1:00 重算前 8 天（北京时间）各联络站每日数据，并更新更早日期中状态有变的意见建议",
        title="统计汇总"),
    Job("housekeeping", "backend.jobs.housekeeping:run_housekeeping",
        {"minute": "40"}, (time(23, 40),),
        "日常清理：每小时 40 分清理过期数据", title="日常清理"),
    Job("roster-drafting", "backend.services.duty.roster_drafting:draft_next_month",
        {"hour": "3", "minute": "0"}, (time(3, 0),),
        "排班草稿：每月 20 日起每天 3:00 为还没有下月排班的联络站生成草稿", title="排班草稿"),
    # Reaps claims of dead senders; a replay of a past date has nothing to reap, so none.
    Job("outbox-reap", "backend.services.messaging.outbox:reap_stale_claims_job",
        {"minute": "*"}, (),
        "发件箱清理：每分钟把中断的发送标记为结果未知", title="发件箱清理"),
)

JobFunction = Callable[[datetime], dict]


class UnknownJob(KeyError):
    """No job of that name in the table."""

    def __init__(self, name: str, names: Iterable[str]):
        super().__init__(name)
        self.name = name
        self.names = list(names)

    def __str__(self) -> str:
        return f"没有名为 {self.name} 的任务，可用的任务：{', '.join(self.names)}"


def find(name: str, table: Iterable[Job] = JOBS) -> Job:
    """The job called `name`. :raise UnknownJob: if the table has none."""
    jobs = list(table)
    for job in jobs:
        if job.name == name:
            return job
    raise UnknownJob(name, [job.name for job in jobs])


def load(job: Job) -> JobFunction:
    """Import the job's function. :raise ImportError, AttributeError: if the target is missing."""
    module_name, _, attribute = job.target.partition(":")
    return getattr(importlib.import_module(module_name), attribute)


def timetable(job: Job) -> str:
    """The cron fields as one line, e.g. `hour=9-20 minute=0`, for people."""
    return " ".join(f"{field}={value}" for field, value in job.cron.items())
