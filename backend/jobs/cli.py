"""`flask --app wsgi jobs run NAME [--date YYYY-MM-DD]`, `jobs list`, `scheduler run`, `scheduler status`."""
from __future__ import annotations

import signal
from datetime import datetime

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from sqlalchemy import func, select

from backend import clock
from backend.jobs.runs import NothingToReplay, process_id, replay_day, run_job
from backend.jobs.schedule import JOBS, UnknownJob, find, timetable
from models import JobRun, db


def register_commands(app: Flask) -> None:
    app.cli.add_command(jobs_group)
    app.cli.add_command(scheduler_group)


@click.group("jobs")
def jobs_group() -> None:
    """Periodic jobs (定时任务), run by hand."""


@jobs_group.command("run")
@click.argument("name")
@click.option("--date", "day", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="按这一天（北京时间）的计划时刻依次补跑")
@with_appcontext
def run_command(name: str, day: datetime | None) -> None:
    """Run one job once now, or replay its times of a Beijing date. Exits 1 if a run failed."""
    try:
        find(name)
    except UnknownJob as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None
    runner = f"cli:{process_id()}"
    try:
        done = replay_day(name, day.date(), runner) if day else [run_job(name, clock.now(), runner)]
    except NothingToReplay as exc:
        raise click.BadParameter(str(exc), param_hint="--date") from None
    for run in done:
        outcome = "成功" if run.status == "ok" else "失败"
        click.echo(f"{run.job} {run.run_for} {outcome}（第 {run.id} 次运行）")
        if run.status != "ok":
            click.echo((run.error or "").rstrip(), err=True)
    if any(run.status != "ok" for run in done):
        raise click.exceptions.Exit(1)


@jobs_group.command("list")
@with_appcontext
def list_command() -> None:
    """Every job, its timetable (Beijing time) and its last run."""
    latest = (select(JobRun.job, func.max(JobRun.id).label("id")).group_by(JobRun.job).subquery())
    last = {run.job: run for run in db.session.scalars(select(JobRun).join(latest, JobRun.id == latest.c.id))}
    for job in JOBS:
        run = last.get(job.name)
        seen = (f"上次 {clock.to_beijing_iso(run.started_at)} {run.status}" if run else "从未运行")
        click.echo(f"{job.name:20} {timetable(job):28} {seen}")
        click.echo(f"{'':20} {job.description}")


@click.group("scheduler")
def scheduler_group() -> None:
    """The scheduler process (调度进程): one leads, others stand by."""


@scheduler_group.command("run")
@with_appcontext
def scheduler_run() -> None:
    """Run the scheduler until SIGTERM or Ctrl-C (running jobs finish first; exits 0)."""
    from backend.jobs.runner import Scheduler

    scheduler = Scheduler(current_app._get_current_object())
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: scheduler.stop())
    click.echo(f"scheduler {scheduler.runner_id}: {len(scheduler.table)} jobs, "
               f"lock checked every {scheduler.poll:g} s")
    scheduler.run()


@scheduler_group.command("status")
@with_appcontext
def scheduler_status() -> None:
    """Who leads, since when, and how long ago it last checked in."""
    from backend.jobs.leader import current_lease

    lease = current_lease()
    if lease is None:
        click.echo("没有调度进程运行过")
        return
    age = (clock.now() - lease.heartbeat_at).total_seconds()
    click.echo(f"调度进程 {lease.holder}，{clock.to_beijing_iso(lease.acquired_at)} 起担任主调度，"
               f"{age:.0f} 秒前报到")
