"""数据统计 as an Excel file: what the 数据统计 page shows for its period and scope — the headline
figures, the months, the categories, the station and deputy rankings — read by the page's own
`dashboard()`, so the file and the screen agree."""
from __future__ import annotations

from datetime import date

from backend import clock
from backend.auth import Caller
from backend.services.reporting import dashboard as dashboard_service
from backend.spreadsheets import Column, Sheet, workbook

# The headline figures in the page's order, with their units.
FIGURES = (("received", "收集意见建议（条）", "number"), ("accepted", "已受理（条）", "number"),
           ("resolved", "办结（条）", "number"), ("rejected", "不予受理（条）", "number"),
           ("pending_review", "待审核（条）", "number"), ("resolution_rate", "办结率", "percent"),
           ("ratings", "群众评价（条）", "number"), ("satisfaction_rate", "满意度", "percent"),
           ("overdue", "超期（条）", "number"), ("open_issues", "办理中（条）", "number"),
           ("avg_first_response_hours", "平均首次响应（小时）", "number"), ("check_ins", "代表进站签到（次）", "number"),
           ("duty_days_assigned", "排班（人天）", "number"), ("duty_days_attended", "到岗（人天）", "number"),
           ("attendance_rate", "代表进站履职率", "percent"), ("residents_received", "接待群众（人次）", "number"))


def stats_workbook(caller: Caller, start: date, end: date, *, station_id: int | None = None,
                   region_code: str | None = None, scope_label: str = "") -> bytes:
    """:raise 403 forbidden · 404: as `dashboard()`."""
    board = dashboard_service.dashboard(caller, start, end, station_id=station_id, region_code=region_code)
    as_of = board.figures.get("as_of")
    caption = [f"数据统计{('：' + scope_label) if scope_label else ''}",
               f"期间：{start.isoformat()} 至 {end.isoformat()}（北京时间）收到的意见建议及其办理情况",
               f"导出时间：{clock.now().astimezone(clock.BEIJING):%Y-%m-%d %H:%M}"
               + (f"；此前各日为每晚汇总的数据（截至 {as_of.astimezone(clock.BEIJING):%Y-%m-%d %H:%M}）" if as_of else "")]
    # Counts and rates apart: a column has one number format.
    headline = [Sheet("主要指标", [Column("指标", 24), Column("数值", 12, "number")], caption=caption,
                      rows=[[label, board.figures.get(key)] for key, label, kind in FIGURES if kind == "number"]),
                Sheet("比率", [Column("指标", 24), Column("比率", 12, "percent")],
                      rows=[[label, board.figures.get(key)] for key, label, kind in FIGURES if kind == "percent"])]
    months = Sheet("按月", [Column("月份", 10), Column("收集", 8, "number"), Column("办结", 8, "number"),
                          Column("办结率", 9, "percent")],
                   rows=[[m.month, m.received, m.resolved, m.resolution_rate] for m in board.months])
    categories = Sheet("按分类", [Column("分类", 16), Column("收集", 8, "number")],
                       rows=[[name, count] for name, count in board.categories])
    stations = Sheet("联络站排行", [Column("联络站", 30), Column("收集", 8, "number"), Column("办结", 8, "number"),
                                Column("办结率", 9, "percent"), Column("履职率", 9, "percent")],
                     rows=[[s.name, s.received, s.resolved, s.resolution_rate, s.attendance_rate]
                           for s in board.stations])
    deputies = Sheet("代表履职排行", [Column("代表", 12), Column("排班", 8, "number"), Column("到岗", 8, "number"),
                                  Column("履职率", 9, "percent")],
                     rows=[[d.name, d.assigned, d.attended, d.attendance_rate] for d in board.deputies or []],
                     caption=["范围内联络站较多，请选择市、县（区）或联络站后导出代表排行"]
                     if board.deputies is None else [])
    clocks = Sheet("三色督办", [Column("状态", 14), Column("办理中（条）", 12, "number")],
                   rows=[["超期（红）", board.clocks.get("red", 0)], ["将超期（黄）", board.clocks.get("yellow", 0)],
                         ["正常（绿）", board.clocks.get("green", 0)]])
    return workbook([*headline, months, categories, stations, deputies, clocks])
