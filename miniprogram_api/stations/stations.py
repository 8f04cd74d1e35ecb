"""Scan-to-find (码上找): a station by its code, stations nearby, the printed code and poster,
and following a station."""
from __future__ import annotations

import json

from flask import Response, current_app

from backend.auth import Caller
from backend.caches import tagged_cache
from backend.permissions import get_station
from backend.services.duty import reception
from backend.services.reference import regions
from backend.services.stations import follows, scan_cache, station_codes, station_places, stations
from backend.web.endpoint import ApiBlueprint
from miniprogram_api.schemas import FollowDetail, FollowOut, NearbyOut, NearbyQuery, ScanOut
from miniprogram_api.serialize import deputy_brief_out, next_day_out, station_out
from models import Station, db

bp = ApiBlueprint("stations", __name__, tag="码上找")


@bp.get("/stations/scan/<scene>", response=ScanOut, errors=["station_not_found"])
def scan(scene: str):
    """扫码找代表：联络站、本站代表（按层级排序）和下一个接待日

    下一个接待日：当天在闭站时间之前为当天，否则为规则下 60 天内的下一天，没有则为 null。
    """
    body = scan_cache.lookup(scene)
    if body is None:
        card = stations.station_card(stations.find_station_by_scene(scene))
        body = ScanOut(
            station=station_out(card.station, card.region_path, card.rule),
            deputies=[deputy_brief_out(d, card.today) for d in card.deputies],
            next_reception_day=next_day_out(card.next_day),
        ).model_dump_json().encode()
        scan_cache.store(scene, body, card.station.closes_at)
    return Response(body, mimetype="application/json")


@bp.get("/stations/nearby", query=NearbyQuery, response=NearbyOut)
def nearby(query: NearbyQuery):
    """附近的联络站，由近及远（坐标为 GCJ-02）"""
    found = stations.nearby_stations(query.lat, query.lng, query.limit)
    cards = _nearby_cards.get_many([station_id for station_id, _ in found], _load_cards)
    body = {"items": [{**cards[station_id], "distance_m": round(d)} for station_id, d in found
                      if cards[station_id] is not None]}  # None: a station deleted since the map was made
    return Response(json.dumps(body, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")


# A card shows the station, its region and its reception rule: what bumps the places'
# generation. Cards are dicts in the JSON form of StationOut, never changed once made.
_nearby_cards = tagged_cache.ProcessMemo(station_places.GENERATION_KEY)


def _load_cards(station_ids: list[int]) -> dict[int, dict | None]:
    found = list(db.session.scalars(db.select(Station).where(Station.id.in_(station_ids))))
    chains = regions.lineages(s.region for s in found)
    rules = reception.rules_for(found, chains)
    cards = dict.fromkeys(station_ids)
    cards.update((s.id, station_out(s, [r.name for r in chains[s.region_id]], rules[s.id]).model_dump(mode="json"))
                 for s in found)
    return cards


def _station_url(station) -> str:
    return station_codes.station_url(current_app.config["PUBLIC_BASE_URL"], station.scene)


def _download(data: bytes, mimetype: str, filename: str) -> Response:
    response = Response(data, mimetype=mimetype)
    # A printed code changes only with its scene: let browsers and proxies keep it a day.
    response.headers["Cache-Control"] = "public, max-age=86400"
    response.headers["Content-Disposition"] = f"inline; filename={filename}"
    return response


@bp.get("/stations/<int:station_id>/qrcode.png", errors=["station_not_found"],
        produces={"image/png": "二维码 PNG"})
def qrcode_png(station_id: int):
    """联络站二维码（PNG），内容为 https://<域名>/s/<scene>"""
    station = get_station(station_id)
    return _download(station_codes.qr_png(_station_url(station)), "image/png", f"station-{station.scene}.png")


@bp.get("/stations/<int:station_id>/qrcode.svg", errors=["station_not_found"],
        produces={"image/svg+xml": "二维码 SVG"})
def qrcode_svg(station_id: int):
    """联络站二维码（SVG 矢量，适合印刷）"""
    station = get_station(station_id)
    return _download(station_codes.qr_svg(_station_url(station)), "image/svg+xml", f"station-{station.scene}.svg")


@bp.get("/stations/<int:station_id>/poster.pdf", errors=["station_not_found"],
        produces={"application/pdf": "A4 海报"})
def poster_pdf(station_id: int):
    """A4 海报：联络站、二维码、接待日和使用方法"""
    station = get_station(station_id)
    return _download(stations.station_poster(station), "application/pdf", f"station-{station.scene}-poster.pdf")


def _follow_out(station_id: int, follow) -> FollowOut:
    return FollowOut(follow=FollowDetail(station_id=station_id, following=follow is not None,
                                         followed_at=follow.created_at if follow else None))


@bp.post("/stations/<int:station_id>/follow", response=FollowOut, auth=True,
         errors=["station_not_found", "rate_limited"])
def follow(caller: Caller, station_id: int):
    """关注联络站：接待日前提醒我（再次关注不会重复）"""
    station = get_station(station_id)
    return _follow_out(station.id, follows.follow_station(caller.user, station))


@bp.delete("/stations/<int:station_id>/follow", response=FollowOut, auth=True,
           errors=["station_not_found", "rate_limited"])
def unfollow(caller: Caller, station_id: int):
    """取消关注联络站"""
    station = get_station(station_id)
    follows.unfollow_station(caller.user, station)
    return _follow_out(station.id, None)
