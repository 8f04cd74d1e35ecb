"""The fake WeChat's own idea of subscribe-message templates and of the values WeChat accepts.

Written from WeChat's documentation of `subscribe/send` ("模板参数值的限制"), not from the
app's `templates.py`: the fake must catch the app's mistakes, so it never borrows the app's rules.
A template is a list of keywords; a keyword's kind is its name without the trailing number
(`thing1` is a thing, `character_string2` a character_string).
"""
from __future__ import annotations

import re
from datetime import date

# The development templates (config.FAKE_TEMPLATE_IDS) and their keywords, as a mini-program's
# admin would list them. configure(templates=...) replaces them.
DEFAULT_TEMPLATES: dict[str, list[str]] = {
    "fake-tmpl-reception-reminder": ["thing1", "date2", "thing3", "thing4"],
    "fake-tmpl-issue-status": ["character_string1", "phrase2", "thing3", "time4"],
    "fake-tmpl-issue-escalation": ["character_string1", "thing2", "date3", "thing4"],
    "fake-tmpl-manager-digest": ["thing1", "number2", "number3", "date4"],
}

_CJK = "\u4e00-\u9fff"
_KEYWORD = re.compile(r"^([a-z_]+?)(\d+)$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_NUMBER = re.compile(r"^\d+(\.\d+)?$")
_LETTER = re.compile(r"^[A-Za-z]{1,32}$")
_CHARACTER_STRING = re.compile(r"^[\x21-\x7e]{1,32}$")  # printable ASCII: digits, letters, symbols
_AMOUNT = re.compile(r"^[¥￥$€£]?\d{1,10}(\.\d+)?元?$")
_PHONE = re.compile(r"^[0-9+\-()#*]{1,17}$")
_CAR = re.compile(rf"^[{_CJK}A-Za-z0-9][A-Za-z0-9]{{0,6}}[{_CJK}A-Za-z0-9]?$")
_PHRASE = re.compile(rf"^[{_CJK}]{{1,5}}$")
_CHINESE_NAME = re.compile(rf"^(?=.*[{_CJK}])[{_CJK}A-Za-z·]{{1,10}}$")
_LATIN_NAME = re.compile(r"^[A-Za-z .\-'·]{1,20}$")
# WeChat's date and time forms: 2019年10月1日, 15:01, 2019年10月1日 15:01; a span joins two with "~".
_DATE = r"(\d{4})年(\d{1,2})月(\d{1,2})日"
_CLOCK = r"(\d{1,2}):(\d{2})"
_TIME_POINT = re.compile(rf"^(?:{_DATE} ?)?{_CLOCK}$")
_DATE_POINT = re.compile(rf"^{_DATE}(?: ?{_CLOCK})?$")


def keyword_kind(keyword: str) -> str | None:
    match = _KEYWORD.match(keyword)
    return match.group(1) if match and match.group(1) in _RULES else None


def check_templates(templates) -> dict[str, list[str]]:
    """A copy of `templates` ({template id: [keywords]}) if every keyword has a known kind.

    :raise TypeError: anything else (the control endpoint answers 400).
    """
    if not isinstance(templates, dict):
        raise TypeError("templates: {template id: [keywords]}")
    checked = {}
    for template_id, keywords in templates.items():
        if isinstance(keywords, str) or not all(isinstance(k, str) and keyword_kind(k) for k in keywords):
            raise TypeError(f"template {template_id}: keywords are names like thing1, date2, phrase3")
        checked[str(template_id)] = list(keywords)
    return checked


def bad_data(keywords: list[str], data) -> str | None:
    """What WeChat would say is wrong with `data` for a template of `keywords`, or None.

    Every keyword must be there, and nothing else, each as {"value": "..."} within its kind's limits.
    """
    if not isinstance(data, dict):
        return "data invalid"
    for keyword in keywords:
        entry = data.get(keyword)
        value = entry.get("value") if isinstance(entry, dict) else None
        if not isinstance(value, str) or not fits(keyword_kind(keyword), value):
            return f"data.{keyword}.value invalid"
    extra = next((key for key in data if key not in keywords), None)
    return f"data.{extra}.value invalid" if extra is not None else None


def fits(kind: str, value: str) -> bool:
    """Whether `value` is a valid value of a keyword of `kind`."""
    rule = _RULES.get(kind)
    return bool(value) and rule is not None and rule(value)


def _thing(value: str) -> bool:
    # 20 characters of anything, one line.
    return len(value) <= 20 and not _CONTROL.search(value)


def _number(value: str) -> bool:
    return len(value) <= 32 and bool(_NUMBER.match(value))


def _symbol(value: str) -> bool:
    return len(value) <= 5 and all(not ch.isalnum() and not ch.isspace() for ch in value)


def _name(value: str) -> bool:
    # 10 Chinese characters (letters mixed in count as Chinese), or 20 letters.
    return bool(_CHINESE_NAME.match(value) or _LATIN_NAME.match(value))


def _span(point):
    def check(value: str) -> bool:
        parts = [part.strip() for part in value.split("~")]
        return len(parts) <= 2 and all(point(part) for part in parts)
    return check


def _time_point(value: str) -> bool:
    match = _TIME_POINT.match(value)
    return bool(match) and _real_date(*match.groups()[:3]) and _real_clock(*match.groups()[3:])


def _date_point(value: str) -> bool:
    match = _DATE_POINT.match(value)
    return bool(match) and _real_date(*match.groups()[:3]) and _real_clock(*match.groups()[3:])


def _real_date(year, month, day) -> bool:
    if year is None:
        return True
    try:
        date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _real_clock(hour, minute) -> bool:
    return hour is None or (int(hour) < 24 and int(minute) < 60)


_RULES = {
    "thing": _thing,
    "number": _number,
    "letter": lambda v: bool(_LETTER.match(v)),
    "symbol": _symbol,
    "character_string": lambda v: bool(_CHARACTER_STRING.match(v)),
    "time": _span(_time_point),
    "date": _span(_date_point),
    "amount": lambda v: bool(_AMOUNT.match(v)),
    "phone_number": lambda v: bool(_PHONE.match(v)) and any(ch.isdigit() for ch in v),
    "car_number": lambda v: bool(_CAR.match(v)),
    "name": _name,
    "phrase": lambda v: bool(_PHRASE.match(v)),
}
