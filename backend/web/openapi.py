"""The OpenAPI 3 document, built from the declared operations, and the browsable docs.

The same pydantic models validate requests and describe them here, so the document cannot
drift from the code. Swagger UI's files come from a Python package (flask-swagger-ui) and are
served by the app: county government networks are often closed to public CDNs.
"""
from __future__ import annotations

import re
from pathlib import Path

from flask import (
    Blueprint,
    Flask,
    current_app,
    jsonify,
    render_template_string,
    send_from_directory,
)
from pydantic.json_schema import models_json_schema

from backend.validation import FilterQuery
from backend.web.endpoint import FilePart, Operation

docs = Blueprint("docs", __name__)

_REF = "#/components/schemas/{model}"
_CONVERTER_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}}

# Every error code API.md names, with its status, for the documented error responses.
ERROR_STATUS = {
    "invalid_input": 400, "invite_invalid": 400, "unauthorized": 401, "token_expired": 401,
    "forbidden": 403, "not_found": 404, "station_not_found": 404, "issue_not_found": 404,
    "method_not_allowed": 405, "invalid_transition": 409, "conflict": 409, "invite_used": 409,
    "payload_too_large": 413, "unsupported_media_type": 415, "content_rejected": 422,
    "idempotency_key_reused": 422, "account_locked": 423, "rate_limited": 429,
    "wechat_unavailable": 503,
}

_ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["code", "message", "details"],
            "properties": {
                "code": {"type": "string"},
                "message": {"type": "string", "description": "中文提示，可直接展示给用户"},
                "details": {"type": "object", "additionalProperties": True},
            },
        }
    },
}


_RETRY_AFTER = {"description": "多少秒后可以再试", "schema": {"type": "integer", "minimum": 1}}


def _multipart_body(parts: dict[str, FilePart]) -> dict:
    """A `multipart/form-data` request body of file parts, in OpenAPI 3.1's terms.

    A file part is raw bytes, so its schema is a string of `format: binary` (what Swagger UI
    turns into a file chooser) with no `contentEncoding`, which would mean base64 inside the
    string. Its media type goes in `contentMediaType` when there is one, and in the part's
    `encoding.contentType`, which may list several.
    """
    properties: dict[str, dict] = {}
    encoding: dict[str, dict] = {}
    for name, part in parts.items():
        schema: dict = {"type": "string", "format": "binary"}
        if len(part.media_types) == 1:
            schema["contentMediaType"] = part.media_types[0]
        if part.description:
            schema["description"] = part.description
        properties[name] = schema
        if part.media_types:
            encoding[name] = {"contentType": ", ".join(part.media_types)}
    required = [name for name, part in parts.items() if part.required]
    schema = {"type": "object", "properties": properties, **({"required": required} if required else {})}
    media: dict = {"schema": schema, **({"encoding": encoding} if encoding else {})}
    return {"required": bool(required), "content": {"multipart/form-data": media}}


def _plain_text(description: str) -> dict:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


def _error(description: str) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}


_IMAGE = {"schema": {"type": "string", "format": "binary"}}
_TEXT_QUERY = {"type": "string"}
_SIGNED_QUERY = [
    {"name": name, "in": "query", "required": False, "schema": _TEXT_QUERY, "description": description}
    for name, description in (("signature", "sha1(sorted[token, timestamp, nonce])"), ("timestamp", "Unix 秒"),
                              ("nonce", "随机数"))
]
_CALLBACK_ANSWERS = {
    "400": _plain_text("签名正确但内容无法读取"),
    "403": _plain_text("签名不符、时间戳过期（防重放）或非本小程序的推送"),
    "404": _plain_text("未配置消息推送（WECHAT_CALLBACK_TOKEN）"),
}

# The routes served beside /api/v1 that are no `ApiBlueprint` operation, by endpoint: their
# protocols are not our API's (an image, Prometheus' text, WeChat's push), so they are described
# here by hand — each only when its endpoint is served, so the document names no route that is
# not there. Described, they are fuzzed with the rest (tests/fuzz/run_schemathesis.py).
_WEB_OPERATIONS: dict[str, dict] = {
    "media.media": {
        "summary": "居民上传的图片（签名链接）",
        "description": "小程序的 `<image>` 无法携带令牌，链接本身即授权：`a`（受众）、`e`（到期时间）、`s`（签名）由接口的"
                       "答复给出。签名不符、过期、图片不存在或尚未通过微信图片检查（受众非本人）时一律 404。",
        "tags": ["其他"],
        "parameters": [
            {"name": "upload_id", "in": "path", "required": True, "schema": {"type": "integer"}},
            *({"name": name, "in": "query", "required": False, "schema": _TEXT_QUERY, "description": description}
              for name, description in (("a", "受众"), ("e", "到期时间（Unix 秒）"), ("s", "签名"))),
        ],
        "responses": {
            "200": {"description": "图片", "content": {"image/jpeg": _IMAGE, "image/png": _IMAGE,
                                                       "image/webp": _IMAGE}},
            "404": _error("错误：`not_found`"),
        },
    },
    "metrics.metrics": {
        "summary": "运行监控指标（Prometheus 文本格式）",
        "description": "设置了 METRICS_TOKEN 时需 `Authorization: Bearer <METRICS_TOKEN>`；使用真实微信凭证（生产）而未设置时"
                       "一律 401。",
        "tags": ["其他"],
        "responses": {
            "200": {"description": "Prometheus 文本格式 0.0.4",
                    "content": {"text/plain": {"schema": {"type": "string"}}}},
            "401": {**_error("错误：`unauthorized`（缺少或错误的监控令牌）"),
                    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}}},
        },
    },
    "wechat_callback.handshake": {
        "summary": "微信消息推送：服务器地址校验",
        "description": "微信配置消息推送地址时调用：签名正确则原样返回 `echostr`。",
        "tags": ["其他"],
        "parameters": [*_SIGNED_QUERY,
                       {"name": "echostr", "in": "query", "required": False, "schema": _TEXT_QUERY}],
        "responses": {"200": _plain_text("`echostr` 原文"), **_CALLBACK_ANSWERS},
    },
    "wechat_callback.receive": {
        "summary": "微信消息推送：事件",
        "description": "图片检查结果、订阅消息的授权与发送结果。处理完答复 `success`（其他答复微信会重试）。"
                       "安全模式下另有 `encrypt_type=aes` 与 `msg_signature`。",
        "tags": ["其他"],
        "parameters": [*_SIGNED_QUERY,
                       *({"name": name, "in": "query", "required": False, "schema": _TEXT_QUERY}
                         for name in ("encrypt_type", "msg_signature"))],
        "requestBody": {"required": False, "content": {
            "application/json": {"schema": {"type": "object"}},
            "text/xml": {"schema": {"type": "string"}},
        }},
        "responses": {"200": _plain_text("`success`"), **_CALLBACK_ANSWERS,
                      "413": _error("错误：`payload_too_large`")},
    },
}


def _web_operations(app: Flask):
    """(path, method, operation) of each `_WEB_OPERATIONS` endpoint the app serves."""
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        described = _WEB_OPERATIONS.get(rule.endpoint)
        if described is None:
            continue
        path, _params = _path_of(rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield path, method.lower(), {**described, "operationId": rule.endpoint}


def _operations(app: Flask):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        op: Operation | None = getattr(app.view_functions.get(rule.endpoint), "api_operation", None)
        if op is not None:
            yield rule, op


def _path_of(rule) -> tuple[str, list[dict]]:
    params = []
    path = rule.rule
    for match in re.finditer(r"<(?:(\w+)(?:\([^)]*\))?:)?(\w+)>", rule.rule):
        converter, name = match.group(1) or "string", match.group(2)
        params.append({"name": name, "in": "path", "required": True,
                       "schema": _CONVERTER_TYPES.get(converter, {"type": "string"})})
        path = path.replace(match.group(0), "{" + name + "}")
    return path, params


def build_openapi(app: Flask) -> dict:
    ops = list(_operations(app))
    models = set()
    for _rule, op in ops:
        for model, mode in ((op.body, "validation"), (op.query, "validation"), (op.response, "serialization")):
            if model is not None:
                models.add((model, mode))
    schema_refs, top = models_json_schema(sorted(models, key=lambda m: (m[0].__name__, m[1])), ref_template=_REF)
    components = dict(top.get("$defs", {}))
    components["Error"] = _ERROR_SCHEMA

    paths: dict[str, dict] = {}
    for rule, op in ops:
        path, params = _path_of(rule)
        item: dict = {"summary": op.summary or rule.endpoint, "operationId": rule.endpoint, "tags": op.tags}
        if op.description:
            item["description"] = op.description
        if op.query is not None:
            qschema = op.query.model_json_schema(ref_template=_REF)
            required = set(qschema.get("required", []))
            # A filter form submits its empty fields too, and the filter reads an empty one as absent.
            blank_absent = issubclass(op.query, FilterQuery)
            for name, prop in qschema.get("properties", {}).items():
                blank = {"allowEmptyValue": True} if blank_absent and name not in required else {}
                params.append({"name": name, "in": "query", "required": name in required, **blank,
                               "schema": prop, **({"description": prop["description"]} if "description" in prop else {})})
        if op.idempotent:
            params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                           "schema": {"type": "string", "maxLength": 128},
                           "description": "重复提交时返回首次结果（保留24小时）"})
        if params:
            item["parameters"] = params
        if op.body is not None:
            item["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": schema_refs[(op.body, "validation")]}}}
        elif op.multipart is not None:
            item["requestBody"] = _multipart_body(op.multipart)
        responses: dict[str, dict] = {}
        if op.response is not None:
            responses[str(op.status)] = {"description": "成功", "content": {
                "application/json": {"schema": schema_refs[(op.response, "serialization")]}}}
        elif op.produces:
            responses[str(op.status)] = {"description": "成功", "content": {
                media: {"schema": {"type": "string", "format": "binary"}} for media in op.produces}}
        else:
            responses[str(op.status)] = {"description": "成功"}
        for other, when in op.other_statuses.items():
            responses[str(other)] = {**responses[str(op.status)], "description": when}
        codes = list(op.errors)
        if op.body is not None or op.query is not None or op.multipart is not None:
            codes.append("invalid_input")
        if op.body is not None:
            codes += ["unsupported_media_type", "payload_too_large"]
        if op.multipart is not None:
            codes.append("payload_too_large")
        if op.idempotent:
            codes += ["conflict", "idempotency_key_reused"]
        if op.roles is not None:
            codes += ["unauthorized", "token_expired"]
            if op.roles:
                codes.append("forbidden")
        by_status: dict[int, list[str]] = {}
        for code in dict.fromkeys(codes):
            by_status.setdefault(ERROR_STATUS[code], []).append(code)
        for status, names in sorted(by_status.items()):
            responses[str(status)] = {"description": "错误：" + "、".join(f"`{n}`" for n in names),
                                      "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
            if status == 429:
                responses[str(status)]["headers"] = {"Retry-After": _RETRY_AFTER}
        item["responses"] = responses
        if op.roles is not None:
            item["security"] = [{"bearerAuth": []}]
        paths.setdefault(path, {})[op.method.lower()] = item
    for path, method, item in _web_operations(app):
        paths.setdefault(path, {})[method] = item

    return {
        "openapi": "3.1.0",  # pydantic writes JSON Schema 2020-12, which is what 3.1 uses
        "info": {
            "title": "联络站 API",
            "version": "1.0.0",
            "description": "人大代表联络站微信小程序后端接口。错误统一为 "
                           "`{\"error\": {\"code\", \"message\", \"details\"}}`。",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


@docs.get("/api/openapi.json")
def openapi_json():
    # Built once per app: routes do not change at run time.
    document = current_app.extensions.get("openapi")
    if document is None:
        document = current_app.extensions["openapi"] = build_openapi(current_app)
    return jsonify(document)


_DOCS_PAGE = """<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>联络站 API 文档</title>
<link rel="stylesheet" href="{{ url_for('docs.swagger_static', filename='swagger-ui.css') }}"></head>
<body><div id="swagger-ui"></div>
<script src="{{ url_for('docs.swagger_static', filename='swagger-ui-bundle.js') }}"></script>
<script nonce="{{ csp_nonce() }}">
window.ui = SwaggerUIBundle({url: "{{ url_for('docs.openapi_json') }}", dom_id: "#swagger-ui",
  deepLinking: true, docExpansion: "list", defaultModelsExpandDepth: 0});
</script></body></html>"""


@docs.get("/api/docs")
def docs_page():
    return render_template_string(_DOCS_PAGE)


@docs.get("/api/docs/static/<path:filename>")
def swagger_static(filename: str):
    # flask-swagger-ui is used only for the Swagger UI 5 files it ships (5 reads OpenAPI 3.1).
    import flask_swagger_ui

    return send_from_directory(Path(flask_swagger_ui.__file__).parent / "dist", filename, max_age=86400)
