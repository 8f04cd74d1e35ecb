"""Staff statistics (数据统计): issues received and finished, satisfaction, response time,
overdue issues, check-ins and attendance, for their stations or region."""
from __future__ import annotations

from backend.auth import Caller
from backend.services.reporting import stats as stats_service
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.duty.attendance_schemas import StatsDetail, StatsOut, StatsQuery
from miniprogram_api.duty.manage_attendance import period
from models import Role

bp = ApiBlueprint("manage_stats", __name__, tag="履职管理")


@bp.get("/manage/stats", query=StatsQuery, response=StatsOut, roles={Role.station_manager, Role.region_admin},
        errors=["station_not_found", "not_found"])
def stats(caller: Caller, query: StatsQuery):
    """数据统计：期间收到的意见建议及其办理情况、满意率、首次响应时间、超期、签到与出勤率

    意见建议按提交日期（北京时间）在期间内的统计其状态；办结率 = (已办结 + 已关闭) ÷ (收到 − 不予受理 − 待审核)。
    今天及尚未汇总的日期实时统计，此前各日取每晚汇总的结果（截至 as_of）。
    站长看本人管理的联络站，区域管理员看本区域；region、station 超出范围时 404。
    """
    start, end = period(query)
    figures = stats_service.stats(caller, start, end, region_code=query.region, station_id=query.station)
    return StatsOut(stats=StatsDetail(date_from=start, date_to=end, **{
        name: figures[name] for name in StatsDetail.model_fields if name not in ("date_from", "date_to")}))
