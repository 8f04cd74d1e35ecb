"""The baseline for bench/run.py: a bare Flask app with one JSON endpoint.

It answers what gunicorn + Flask + JSON encoding cost on this machine with no database, no
validation layer and no ORM, so the scan call's throughput can be read as a fraction of it.
The payload is a real scan answer of the demo county (a community station, ~1.5 KB, close to the
demo's mean scan answer), encoded on every request as the real app does (`jsonify`, Chinese kept as
UTF-8, keys in order), so the two differ in the work behind the answer, not in its size.

Served by run.py as `gunicorn --chdir bench bare_app:app` with the same config as the real app.
"""
from __future__ import annotations

from flask import Flask, jsonify

PATH = "/bare"

PAYLOAD = {
    "station": {
        "id": 28,
        "scene": "aj2clftxqi",
        "name": "山川村代表之家",
        "kind": "community",
        "address": "浙江省湖州市安吉县山川乡山川村便民服务中心二楼",
        "lat": 30.521752,
        "lng": 119.753018,
        "region": {
            "code": "330523200201",
            "name": "山川村",
            "path": ["浙江省", "湖州市", "安吉县", "山川乡", "山川村"],
        },
        "reception_rule": {"label": "逢六（每月6日、16日、26日）", "kind": "monthly_days", "days": [6, 16, 26]},
        "open_hours": "09:00-17:00",
        "phone": "0572-5849435",
        "intro": "山川村代表之家设在便民服务中心，本村代表和联系本村的上级代表在这里听民声、解民忧。",
    },
    "deputies": [
        {"id": 65, "name": "许卫涛", "level": "county", "levels": ["county", "township"],
         "photo_url": None, "groups": ["城乡建设组"]},
        {"id": 117, "name": "姚蕾秀", "level": "township", "levels": ["township"],
         "photo_url": None, "groups": ["城乡建设组"]},
        {"id": 103, "name": "宋晨凯", "level": "township", "levels": ["township"],
         "photo_url": None, "groups": ["农业农村组", "经济发展组"]},
        {"id": 89, "name": "宋琴", "level": "township", "levels": ["township"],
         "photo_url": None, "groups": ["教育文化组"]},
        {"id": 145, "name": "赵芳", "level": "township", "levels": ["township"],
         "photo_url": None, "groups": ["医疗卫生组", "经济发展组"]},
        {"id": 131, "name": "钱良东", "level": "township", "levels": ["township"],
         "photo_url": None, "groups": ["医疗卫生组", "农业农村组"]},
    ],
    "next_reception_day": {"date": "2026-11-26", "on_duty": [], "roster_published": False},
}

app = Flask(__name__)
# The real app's JSON settings (backend/__init__.py), so both encode the same way.
app.json.ensure_ascii = False
app.json.sort_keys = False


@app.get(PATH)
def bare():
    return jsonify(PAYLOAD)
