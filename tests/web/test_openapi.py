"""The served OpenAPI document covers every route of the contract and the docs page works."""
from __future__ import annotations

import re
from pathlib import Path

import pytest
from flask import Flask
from openapi_spec_validator import validate
from pydantic import BaseModel

from backend.web.endpoint import ApiBlueprint, FilePart
from backend.web.openapi import build_openapi

CONTRACT = Path(__file__).resolve().parents[3] / "shared" / "API.md"

# Paths of API.md that later issues own; this issue's routes must all be there.
THIS_ISSUE = [
    ("post", "/api/v1/auth/wx-login"), ("post", "/api/v1/auth/bind-deputy"), ("post", "/api/v1/manage/login"),
    ("get", "/api/v1/stations/scan/{scene}"), ("get", "/api/v1/stations/nearby"),
    ("get", "/api/v1/stations/{station_id}/qrcode.png"), ("get", "/api/v1/stations/{station_id}/qrcode.svg"),
    ("get", "/api/v1/stations/{station_id}/poster.pdf"), ("get", "/api/v1/deputies/{deputy_id}"),
    ("post", "/api/v1/stations/{station_id}/follow"), ("delete", "/api/v1/stations/{station_id}/follow"),
    ("post", "/api/v1/manage/deputies/{deputy_id}/invite"), ("get", "/healthz"), ("get", "/readyz"),
]


def test_openapi_lists_every_route_with_schemas(client):
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    doc = response.get_json()
    assert doc["openapi"].startswith("3.")
    for method, path in THIS_ISSUE:
        assert method in doc["paths"].get(path, {}), (method, path)
    scan = doc["paths"]["/api/v1/stations/scan/{scene}"]["get"]
    assert scan["responses"]["200"]["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/ScanOut"}
    assert "404" in scan["responses"]
    nearby = doc["paths"]["/api/v1/stations/nearby"]["get"]
    assert {p["name"] for p in nearby["parameters"]} == {"lat", "lng", "limit"}
    bind = doc["paths"]["/api/v1/auth/bind-deputy"]["post"]
    assert bind["security"] == [{"bearerAuth": []}] and "401" in bind["responses"] and "409" in bind["responses"]
    for name in ("ScanOut", "StationOut", "DeputyBriefOut", "Error", "LoginOut"):
        assert name in doc["components"]["schemas"]


def test_every_contract_route_is_served_or_named_for_a_later_issue(client):
    """Each `/api/v1/...` path of API.md that this issue ships appears in the document."""
    doc = client.get("/api/openapi.json").get_json()
    served = {re.sub(r"\{[^}]+\}", "{}", p) for p in doc["paths"]}
    if not CONTRACT.exists():
        return
    contract = {re.sub(r"<[^>]+>", "{}", p).split("?")[0]
                for p in re.findall(r"`(?:[A-Z]+ +)?(/api/v1/[^` ]+)", CONTRACT.read_text(encoding="utf-8"))}
    ours = {re.sub(r"\{[^}]+\}", "{}", p) for _m, p in THIS_ISSUE}
    assert ours & contract <= served


def test_docs_page_serves_swagger_ui_locally(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger-ui" in page.data
    for asset in re.findall(rb'(?:src|href)="([^"]+)"', page.data):
        assert asset.startswith(b"/api/docs/static/"), asset  # no CDN
        assert client.get(asset.decode()).status_code == 200


def test_the_document_is_valid_openapi(client):
    validate(client.get("/api/openapi.json").get_json())


def test_the_upload_body_is_described_as_multipart_with_a_binary_file(client):
    upload = client.get("/api/openapi.json").get_json()["paths"]["/api/v1/uploads"]["post"]
    body = upload["requestBody"]
    assert body["required"] is True
    assert list(body["content"]) == ["multipart/form-data"]
    form = body["content"]["multipart/form-data"]
    schema = form["schema"]
    assert schema["type"] == "object" and schema["required"] == ["file"]
    file = schema["properties"]["file"]
    assert file["type"] == "string" and file["format"] == "binary"
    # Raw bytes in their own part: base64 (contentEncoding) would be wrong.
    assert "contentEncoding" not in file and file["description"]
    assert form["encoding"]["file"]["contentType"] == "image/jpeg, image/png, image/webp"
    # What can go wrong, including the hourly limit and when to try again.
    assert {"400", "401", "403", "413", "415", "429"} <= set(upload["responses"])
    assert upload["responses"]["429"]["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_multipart_parts_are_declared_not_special_cased():
    """Any route may declare file parts; one media type is also the schema's contentMediaType."""
    bp = ApiBlueprint("forms", __name__, tag="测试")

    @bp.post("/avatar", auth=True, multipart={"photo": FilePart("头像", media_types=("image/png",)),
                                             "note": FilePart(required=False)})
    def avatar(caller):
        """换头像"""

    demo = Flask(__name__)
    demo.register_blueprint(bp)
    document = build_openapi(demo)
    op = document["paths"]["/avatar"]["post"]
    form = op["requestBody"]["content"]["multipart/form-data"]
    assert form["schema"]["required"] == ["photo"]
    assert form["schema"]["properties"]["photo"] == {"type": "string", "format": "binary",
                                                     "contentMediaType": "image/png", "description": "头像"}
    assert form["schema"]["properties"]["note"] == {"type": "string", "format": "binary"}
    assert form["encoding"] == {"photo": {"contentType": "image/png"}}
    assert {"400", "413"} <= set(op["responses"]) and "429" not in op["responses"]
    validate(document)


def test_a_route_takes_json_or_multipart_not_both():
    class Note(BaseModel):
        text: str

    with pytest.raises(ValueError):
        ApiBlueprint("both", __name__, tag="测试").post("/x", body=Note, multipart={"file": FilePart()})


def test_the_routes_beside_the_api_are_described_with_their_real_answers(client):
    """/media, /metrics and /wechat/callback are served, so they are in the document (and fuzzed)."""
    paths = client.get("/api/openapi.json").get_json()["paths"]
    media = paths["/media/{upload_id}"]["get"]
    assert set(media["responses"]) == {"200", "404"}
    assert set(media["responses"]["200"]["content"]) == {"image/jpeg", "image/png", "image/webp"}
    assert {p["name"] for p in media["parameters"]} == {"upload_id", "a", "e", "s"}
    metrics = paths["/metrics"]["get"]
    assert set(metrics["responses"]) == {"200", "401"} and "text/plain" in metrics["responses"]["200"]["content"]
    assert set(paths["/wechat/callback"]) == {"get", "post"}
    for method in ("get", "post"):
        answers = paths["/wechat/callback"][method]["responses"]
        assert {"200", "400", "403", "404"} <= set(answers)
        assert "text/plain" in answers["200"]["content"]
    # Their answers say what the document says.
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.mimetype == "text/plain"
    answer = client.get("/wechat/callback?signature=x&timestamp=1&nonce=2&echostr=hi")
    assert answer.status_code == 403 and answer.mimetype == "text/plain"
    answer = client.get("/media/1?a=x&e=1&s=y")
    assert answer.status_code == 404 and answer.get_json()["error"]["code"] == "not_found"


def test_a_web_route_that_is_not_served_is_not_described():
    app = Flask("bare")
    assert build_openapi(app)["paths"] == {}


@pytest.mark.parametrize("signature", ["签名", "é" * 40, "\u00a0"])
def test_a_callback_signature_of_any_text_is_refused_not_a_500(client, signature):
    for method in (client.get, client.post):
        answer = method("/wechat/callback", query_string={"signature": signature, "timestamp": "1", "nonce": "2",
                                                          "echostr": "x"})
        assert answer.status_code == 403, method
