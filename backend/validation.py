"""Request parsing with pydantic, and pydantic's complaints said in Chinese for `details.fields`."""
from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, TypeVar

from flask import Request
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PlainSerializer,
    ValidationError,
    model_validator,
)

from backend.clock import to_beijing_iso
from backend.errors import InvalidInput, UnsupportedMediaType

# Ids are PostgreSQL integers: no row has a larger one, and asking the database for one is its
# error (a 500), so an id given in a body or query is refused beyond this.
MAX_ROW_ID = 2**31 - 1
RowId = Annotated[int, Field(ge=1, le=MAX_ROW_ID)]


class ApiModel(BaseModel):
    """Base of every request and response schema.

    NaN and Infinity are refused: Python's JSON parser accepts them, and a station at
    latitude NaN would poison every distance computed from it.
    """

    model_config = ConfigDict(allow_inf_nan=False, extra="ignore")


class FilterQuery(ApiModel):
    """Base of query strings that filter a list: a filter form submits its empty fields too
    (`?station=&from=`), and empty means "any"."""

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data):
        if isinstance(data, dict):
            return {key: value for key, value in data.items() if value != ""}
        return data


M = TypeVar("M", bound=BaseModel)

# pydantic error type → a Chinese message; `{…}` are filled from the error's context.
_MESSAGES = {
    "missing": "必填",
    "string_type": "应为文本",
    "string_too_short": "至少{min_length}个字符",
    "string_too_long": "最多{max_length}个字符",
    "string_pattern_mismatch": "格式不正确",
    "int_type": "应为整数",
    "int_parsing": "应为整数",
    "int_from_float": "应为整数",
    "float_type": "应为数字",
    "float_parsing": "应为数字",
    "finite_number": "应为有限的数字",
    "bool_type": "应为 true 或 false",
    "bool_parsing": "应为 true 或 false",
    "greater_than": "应大于{gt}",
    "greater_than_equal": "不能小于{ge}",
    "less_than": "应小于{lt}",
    "less_than_equal": "不能大于{le}",
    "literal_error": "取值应为：{expected}",
    "enum": "取值应为：{expected}",
    "date_type": "日期格式应为 YYYY-MM-DD",
    "date_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_parsing": "日期格式应为 YYYY-MM-DD",
    "date_from_datetime_inexact": "日期格式应为 YYYY-MM-DD",
    "list_type": "应为列表",
    "too_short": "至少{min_length}项",
    "too_long": "最多{max_length}项",
    "dict_type": "应为对象",
    "model_type": "应为对象",
    "model_attributes_type": "应为对象",
    "json_invalid": "不是合法的 JSON",
}


def _message(error: dict) -> str:
    if error["type"] == "value_error":
        # Our own validators raise ValueError with a Chinese sentence; pydantic prefixes it.
        return str(error.get("ctx", {}).get("error", error["msg"]))
    template = _MESSAGES.get(error["type"], "格式不正确")
    try:
        return template.format(**error.get("ctx", {}))
    except (KeyError, IndexError):
        return "格式不正确"


def fields_from(exc: ValidationError) -> dict[str, str]:
    """{"field.path": "中文说明"}, the first complaint per field."""
    fields: dict[str, str] = {}
    for error in exc.errors(include_url=False):
        key = ".".join(str(part) for part in error["loc"]) or "_body"
        fields.setdefault(key, _message(error))
    return fields


def _nul_fields(data: Any, path: str = "") -> list[str]:
    """Where the input holds a NUL character: PostgreSQL's text cannot store one, and a query
    naming one fails in the driver, so such input is refused here as bad input."""
    if isinstance(data, str):
        return [path or "_body"] if "\x00" in data else []
    found: list[str] = []
    if isinstance(data, dict):
        for key, value in data.items():
            where = f"{path}.{key}" if path else str(key)
            found += [where] if "\x00" in str(key) else _nul_fields(value, where)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _nul_fields(value, f"{path}.{index}" if path else str(index))
    return found


def _refuse_nul(data: Any) -> None:
    nul = _nul_fields(data)
    if nul:
        raise InvalidInput({where: "不能包含空字符" for where in nul})


def validate(model: type[M], data: Any) -> M:
    """Text input (a query string, a form) as `model`, read leniently: "5" is an integer there.

    :raise 400 invalid_input: each bad field in `details.fields`.
    """
    _refuse_nul(data)
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(fields_from(exc)) from None


def parse_json_body(request: Request, model: type[M]) -> M:
    """The request's JSON object as `model`.

    :raise 415: when the body is not declared as JSON.
    :raise 400: when it is not valid JSON, not an object, or fails the model.
    """
    if not request.is_json:
        raise UnsupportedMediaType()
    data = request.get_json(silent=True)
    if data is None:
        raise InvalidInput({"_body": "不是合法的 JSON"}, message="请求体不是合法的 JSON")
    if not isinstance(data, dict):
        raise InvalidInput({"_body": "应为 JSON 对象"}, message="请求体应为 JSON 对象")
    _refuse_nul(data)
    try:
        # Strictly: JSON has types, and the document names them. 0 is no boolean, "5" no
        # integer, 5.0 no integer id (pydantic's lax mode would take all three).
        return model.model_validate_json(request.get_data(), strict=True)
    except ValidationError as exc:
        raise InvalidInput(fields_from(exc)) from None


def parse_query(request: Request, model: type[M]) -> M:
    # Repeated query parameters keep their first value; none of ours is a list.
    return validate(model, {key: request.args.get(key) for key in request.args})


# Timestamps leave the API in ISO 8601 with +08:00 (API.md), whatever zone they are stored in.
BeijingDateTime = Annotated[
    datetime, PlainSerializer(lambda v: to_beijing_iso(v), return_type=str, when_used="json")
]
