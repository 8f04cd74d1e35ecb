"""Commands: `flask --app wsgi seed-demo [--out FILE]`, `flask --app wsgi fake-wechat`,
`flask --app wsgi uploads purge [--older-than-hours 24]`, `outbox send [--once] [--threads N]`,
`outbox status`, `db ...` (Flask-Migrate); the scheduler's `scheduler` and `jobs` in backend/jobs."""
from __future__ import annotations

import gc
import json
from datetime import timedelta

import click
from flask import Flask, current_app
from flask.cli import with_appcontext

from backend.jobs.cli import register_commands as register_job_commands
from models import db


def register_commands(app: Flask) -> None:
    app.cli.add_command(seed_demo)
    app.cli.add_command(bench_data)
    app.cli.add_command(fake_wechat)
    app.cli.add_command(uploads_group)
    app.cli.add_command(outbox_group)
    register_job_commands(app)


@click.command("bench-data")
@click.option("--scale", type=click.Choice(["county", "province"]), required=True,
              help="county：200 个联络站、2,300 位代表、5 万条意见建议；province：13,000 个联络站、15 万位代表、100 万条")
@click.option("--issues", type=click.IntRange(min=0), help="意见建议条数（覆盖该规模的默认值）")
@click.option("--seed", type=int, default=2026, show_default=True, help="随机种子")
@click.option("--roll-up/--no-roll-up", default=True, show_default=True, help="生成后汇总全年统计")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="写出生成摘要（JSON）")
@with_appcontext
def bench_data(scale: str, issues: int | None, seed: int, roll_up: bool, out: str | None) -> None:
    """Bulk benchmark data into an empty, migrated PostgreSQL database (backend/demo/bench_data.py)."""
    from backend.demo import bench_data as generator

    sizes = generator.sizes_for(scale, issues)
    click.echo(f"生成 {scale}：" + "，".join(f"{k} {v:,}" for k, v in vars(sizes).items()))
    try:
        summary = generator.generate(sizes, seed=seed, roll_up=roll_up, progress=click.echo)
    except RuntimeError as exc:  # not PostgreSQL, or not empty
        raise click.ClickException(str(exc)) from None
    click.echo("行数：" + "，".join(f"{k} {v:,}" for k, v in summary["counts"].items()))
    click.echo(f"共用时 {sum(summary['phases'].values()):.0f} 秒。工作人员账号 province-admin、city-admin、"
               f"county-admin、station-manager，密码 {generator.BENCH_PASSWORD}")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, ensure_ascii=False, indent=2)


@click.command("seed-demo")
@click.option("--out", type=click.Path(dir_okay=False, writable=True), help="写出演示数据清单（JSON）")
@click.option("--seed", type=int, default=2026, show_default=True, help="随机种子，同一种子生成同样的县")
@click.option("--with-activity", is_flag=True, help="同时生成近半年的意见建议、排班和签到（供工作台演示）")
@with_appcontext
def seed_demo(out: str | None, seed: int, with_activity: bool) -> None:
    """Create a demo county: townships, stations, deputies, staff accounts, invite codes."""
    from backend.demo.activity import seed_activity
    from backend.demo.county import seed_demo as run

    try:
        summary = run(seed=seed)
    except RuntimeError as exc:  # already seeded, or its usernames are taken
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    if with_activity:
        made = seed_activity(seed=seed)
        click.echo(f"近半年活动已生成：{made['issues']} 条意见建议，{made['duty_days']} 个值班安排。")
    click.echo(f"演示县「{summary['county']}」已生成：{len(summary['stations'])} 个联络站，"
               f"{summary['deputy_count']} 位代表，{len(summary['staff'])} 个工作人员账号。")
    if out:
        with open(out, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, ensure_ascii=False, indent=2)
        click.echo(f"清单已写入 {out}")


@click.command("fake-wechat")
@click.option("--port", type=int, default=None, help="默认取 FAKE_WECHAT_PORT")
@with_appcontext
def fake_wechat(port: int | None) -> None:
    """Run the built-in fake WeChat server in the foreground."""
    from backend.wechat.fake_server import FakeWeChat

    cfg = current_app.config
    server = FakeWeChat(cfg["WECHAT_APP_ID"], cfg["WECHAT_APP_SECRET"], port=port or cfg["FAKE_WECHAT_PORT"])
    click.echo(f"fake WeChat listening on {server.start()}")
    server.serve_until_interrupted()


@click.group("uploads")
def uploads_group() -> None:
    """Residents' uploaded images."""


# At least an hour: a resident between uploading an image and submitting the issue keeps it.
@uploads_group.command("purge")
@click.option("--older-than-hours", type=click.IntRange(min=1), default=24, show_default=True,
              help="删除上传超过这么多小时、仍未附加到意见建议的图片")
@with_appcontext
def purge_uploads(older_than_hours: int) -> None:
    """Delete images never attached to an issue, and their files."""
    from backend.services.content.uploads import purge_unattached_uploads

    removed = purge_unattached_uploads(timedelta(hours=older_than_hours))
    click.echo(f"已删除 {removed} 张超过 {older_than_hours} 小时未使用的图片。")


@click.group("outbox")
def outbox_group() -> None:
    """Subscribe messages waiting to be sent (订阅消息发件箱)."""


@outbox_group.command("send")
@click.option("--threads", type=click.IntRange(min=1, max=256), default=None, help="并发发送线程数，默认取 OUTBOX_SEND_THREADS")
@click.option("--once", is_flag=True, help="发完当前到期的消息就退出")
@with_appcontext
def outbox_send(threads: int | None, once: bool) -> None:
    """Send due messages until stopped (SIGTERM / Ctrl-C finish the calls in flight first)."""
    import signal

    from backend.services.messaging.outbox import Sender

    app = current_app._get_current_object()
    threads = threads or app.config["OUTBOX_SEND_THREADS"]
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("postgresql"):
        # Every thread holds a connection while it works: with a pool smaller than the threads the
        # pool closes and reopens connections all the time. The sender gets an app of its own
        # whose pool fits, from the factory that built this one (the factory registers these
        # commands, so importing it here would make the two modules import each other).
        create_app = app.extensions["app_factory"]
        # No ping before each checkout either (two round trips a message): a thread that meets a
        # dropped connection rolls back and carries on, and the pool replaces the connection.
        app = create_app(SQLALCHEMY_ENGINE_OPTIONS={**app.config["SQLALCHEMY_ENGINE_OPTIONS"], "pool_pre_ping": False,
                                                    "pool_size": threads, "max_overflow": 2})
    sender = Sender(app, threads=threads)
    # Everything loaded so far lives as long as the process: keep the collector from walking it
    # again and again (it took a sixth of a sender's CPU); and collect the young generation less
    # often, each message leaving thousands of short-lived objects (8% less CPU measured).
    gc.freeze()
    gc.set_threshold(50_000, 20, 100)
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: sender.stop())
    click.echo(f"outbox sender {sender.sender_id}: {sender.threads} threads")
    report = sender.run(until_idle=once)
    click.echo(f"claimed {report.claimed}: " + ", ".join(f"{k} {v}" for k, v in sorted(report.outcomes.items())))


@outbox_group.command("status")
@with_appcontext
def outbox_status() -> None:
    """Messages in each state."""
    from backend.services.messaging.outbox import counts_by_state

    for state, count in counts_by_state().items():
        click.echo(f"{state:10} {count}")
