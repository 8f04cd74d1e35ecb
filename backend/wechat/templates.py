"""Our subscribe-message templates (订阅消息模板) and how their values are made to fit.

Each template is one picked in the WeChat admin: its keywords have a kind (thing, date, phrase …)
and WeChat refuses a message whose value breaks the kind's rule with 47003 ("argument invalid!
data.thing1.value invalid"). So values are cut to size here, never left to WeChat: a `thing`
holds at most 20 characters, a `phrase` 5 Chinese characters, a `character_string` 32 letters,
digits or symbols. Template ids come from the settings (SUBSCRIBE_TEMPLATE_IDS), by our name.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask import current_app

from backend import clock

THING_MAX = 20
PHRASE_MAX = 5
CHARACTER_STRING_MAX = 32
NUMBER_MAX = 32
_ELLIPSIS = "…"
# WeChat counts characters; it rejects line breaks in a value and trims nothing for us.
_SPACES = re.compile(r"\s+")
_NOT_CHARACTER_STRING = re.compile(r"[^0-9A-Za-z\-_.:/#@+]")


@dataclass(frozen=True)
class Template:
    """One template: our name, a title for people (console, logs), its keywords by kind."""

    name: str
    title: str
    keys: dict[str, str]  # keyword → kind, e.g. {"thing1": "thing"}
    page: str  # the mini-program page a tap opens


TEMPLATES = {t.name: t for t in (
    # 代表接待日提醒: 联络站, 接待日期, 地点, 温馨提示
    Template("reception_reminder", "接待日提醒",
             {"thing1": "thing", "date2": "date", "thing3": "thing", "thing4": "thing"},
             "pages/station/index"),
    # 办理进度通知: 编号, 办理状态, 内容, 更新时间
    Template("issue_status", "意见建议办理进度",
             {"character_string1": "character_string", "phrase2": "phrase", "thing3": "thing", "time4": "time"},
             "pages/issue/detail"),
    # 督办提醒: 编号, 事项, 办理期限, 提示
    Template("issue_escalation", "意见建议督办提醒",
             {"character_string1": "character_string", "thing2": "thing", "date3": "date", "thing4": "thing"},
             "pages/deputy/issue"),
    # 每日督办汇总: 范围, 待办件数, 超期件数, 日期
    Template("manager_digest", "每日督办汇总",
             {"thing1": "thing", "number2": "number", "number3": "number", "date4": "date"},
             "pages/manage/queue"),
)}


def template_id(name: str) -> str | None:
    """WeChat's id of our template `name`, or None when this deployment has not configured it."""
    return current_app.config["SUBSCRIBE_TEMPLATE_IDS"].get(name)


def thing(text: str | None) -> str:
    """A `thing` value: whitespace folded, at most 20 characters (cut with an ellipsis)."""
    value = _SPACES.sub(" ", text or "").strip() or "—"
    return value if len(value) <= THING_MAX else value[:THING_MAX - 1] + _ELLIPSIS


def phrase(text: str) -> str:
    """A `phrase` value: at most 5 Chinese characters, nothing else."""
    value = "".join(ch for ch in text if "\u4e00" <= ch <= "\u9fff")
    return value[:PHRASE_MAX]


def character_string(text: str) -> str:
    return _NOT_CHARACTER_STRING.sub("", text)[:CHARACTER_STRING_MAX]


def number(value: int) -> str:
    return str(int(value))[:NUMBER_MAX]


def date_value(day: date) -> str:
    """A `date` value in WeChat's form: 2027年1月6日."""
    return f"{day.year}年{day.month}月{day.day}日"


def time_value(moment: datetime) -> str:
    """A `time` value in Beijing time: 2027年1月6日 09:30."""
    local = moment.astimezone(clock.BEIJING)
    return f"{date_value(local.date())} {local:%H:%M}"


def message_data(name: str, values: dict[str, str]) -> dict:
    """The `data` of a message from already-fitted values, keyed by the template's keywords.

    :raise KeyError: a keyword of the template has no value, or a value has no keyword.
    """
    keys = TEMPLATES[name].keys
    if set(values) != set(keys):
        raise KeyError(f"template {name} wants {sorted(keys)}, got {sorted(values)}")
    return {key: {"value": values[key]} for key in keys}
