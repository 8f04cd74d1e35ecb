"""A believable demo county (安吉县): townships, stations, four levels of deputies, staff, invites.

Everything but the staff passwords and invite codes follows from the seed, so two demos built
with one seed show the same stations, scenes and names; the credentials come from `secrets`
because anyone can read the seed.
"""
from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from datetime import date, time

from backend.services.accounts.signin import create_invite, hash_password
from models import (
    DEPUTY_LEVEL_ORDER,
    Deputy,
    DeputyLevel,
    DeputySeat,
    ReceptionRule,
    ReceptionRuleKind,
    Region,
    RegionLevel,
    StaffAccount,
    StaffRole,
    Station,
    StationKind,
    StationMembership,
    TopicGroup,
    User,
    db,
)

COUNTY_CODE = "330523000000"
COUNTY_NAME = "安吉县"
# Every demo station lies in this box (GCJ-02), around 递铺 where the county seat is.
COUNTY_CENTER = (30.63, 119.68)
COUNTY_SPREAD_DEG = 0.2

SCENE_PREFIX = "aj"
SCENE_ALPHABET = "abcdefghijklmnopqrstuvwxyz234567"  # lowercase base32
PASSWORD_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no 0/o, 1/l/i: read off a printout
PASSWORD_LENGTH = 10


class DemoAlreadySeeded(RuntimeError):
    """The demo county is already in the database; seeding again would duplicate it."""


@dataclass(frozen=True)
class Term:
    level: DeputyLevel
    congress: str
    term: int
    started_on: date
    ended_on: date | None = None


NATIONAL = Term(DeputyLevel.national, "全国人民代表大会", 14, date(2023, 3, 5))
PROVINCIAL = Term(DeputyLevel.provincial, "浙江省人民代表大会", 14, date(2023, 1, 13))
MUNICIPAL = Term(DeputyLevel.municipal, "湖州市人民代表大会", 9, date(2022, 1, 6))
COUNTY = Term(DeputyLevel.county, "安吉县人民代表大会", 18, date(2021, 12, 28))
COUNTY_PREVIOUS = Term(DeputyLevel.county, "安吉县人民代表大会", 17, date(2016, 12, 27), date(2021, 12, 27))
TOWNSHIP_TERM_START = date(2021, 12, 15)


@dataclass(frozen=True)
class TownshipData:
    code: str
    name: str
    pinyin: str  # the station manager's username
    congress_term: int | None  # 街道 have no people's congress of their own, only 乡镇 do
    lat: float
    lng: float
    road: str
    communities: tuple[tuple[str, str], ...]  # (last three code digits, name); 0xx 社区, 2xx 村
    community_stations: int


TOWNSHIPS = (
    TownshipData("330523001000", "递铺街道", "dipu", None, 30.6385, 119.6802, "胜利西路36号街道党群服务中心三楼",
                 (("001", "胜利社区"), ("201", "古城村"), ("202", "鹤鹿溪村")), 2),
    TownshipData("330523002000", "昌硕街道", "changshuo", None, 30.6270, 119.6985, "昌硕东路158号街道便民服务中心二楼",
                 (("001", "凤凰社区"), ("002", "浦源社区"), ("201", "双一村")), 2),
    TownshipData("330523003000", "灵峰街道", "lingfeng", None, 30.6050, 119.6460, "灵峰大道299号街道办事处一楼",
                 (("001", "剑山社区"), ("201", "横山坞村"), ("202", "大竹园村")), 2),
    TownshipData("330523101000", "孝丰镇", "xiaofeng", 18, 30.5685, 119.5560, "城东路88号镇便民服务中心二楼",
                 (("001", "孝丰社区"), ("201", "横溪坞村"), ("202", "横柏村")), 2),
    TownshipData("330523102000", "报福镇", "baofu", 18, 30.5180, 119.5320, "报福街1号镇政府大楼一楼",
                 (("201", "深溪村"), ("202", "石岭村"), ("203", "景溪村")), 2),
    TownshipData("330523103000", "天荒坪镇", "tianhuangping", 17, 30.5230, 119.6380, "天荒坪路8号镇便民服务中心二楼",
                 (("201", "余村"), ("202", "大溪村"), ("203", "银坑村")), 2),
    TownshipData("330523104000", "梅溪镇", "meixi", 18, 30.7510, 119.7620, "梅溪大道120号镇党群服务中心二楼",
                 (("001", "梅溪社区"), ("201", "荆湾村"), ("202", "红庙村")), 2),
    TownshipData("330523105000", "杭垓镇", "hanggai", 18, 30.5350, 119.5050, "杭垓路66号镇政府东侧一楼",
                 (("001", "杭垓社区"), ("201", "文岭村"), ("202", "桐坑村")), 2),
    TownshipData("330523106000", "鄣吴镇", "zhangwu", 17, 30.6280, 119.5130, "鄣吴路18号镇便民服务中心一楼",
                 (("201", "鄣吴村"), ("202", "景坞村"), ("203", "上吴村")), 1),
    TownshipData("330523200000", "山川乡", "shanchuan", 16, 30.5060, 119.7350, "山川路5号乡党群服务中心二楼",
                 (("201", "山川村"), ("202", "大里村"), ("203", "船村村")), 1),
)

TOPIC_GROUPS = ("城乡建设组", "教育文化组", "医疗卫生组", "农业农村组", "社会治理组", "经济发展组")

SURNAMES = ("王李张陈刘杨黄赵吴周徐孙朱胡沈钱潘何俞汪施姚程许章叶蒋吕郑邵方金丁严范陆鲍宋夏余费凌"
            "庞任")
MALE_CHARS = "建国明伟强军华平林荣海忠杰斌峰勇良春新文志宏永福金根德卫东涛坚浩宇凯晨俊磊"
FEMALE_CHARS = "秀英芳丽敏静燕红玲萍霞娟梅琴慧婷雅蕾晓琳洁佳颖月美兰凤雪瑶莉"

# Follow the community's name in an address: 胜利社区 + 党群服务中心二楼.
COMMUNITY_PLACES = ("党群服务中心二楼", "邻里中心一楼", "居委会办公楼一楼")
VILLAGE_PLACES = ("党群服务中心二楼", "文化礼堂一楼", "村民委员会办公楼一楼", "便民服务中心二楼")
FIRM_NAMES = ("竹韵", "天目", "绿源", "溪谷", "茗山", "恒盛", "远景", "和美", "云鸿", "竹乡")
FIRM_KINDS = (  # (kind of firm, its trade, topic group)
    ("竹木制品有限公司", "竹木加工", "经济发展组"),
    ("椅业有限公司", "座椅制造", "经济发展组"),
    ("家居有限公司", "家居制造", "经济发展组"),
    ("白茶专业合作社", "白茶产销", "农业农村组"),
    ("旅游开发有限公司", "乡村旅游", "经济发展组"),
    ("建设工程有限公司", "建筑施工", "城乡建设组"),
)
OCCUPATION_WEIGHTS = (
    ("secretary", "director", "teacher", "doctor", "business", "shop", "farmer", "homestay", "grid", "lawyer",
     "veteran"),
    (14, 10, 10, 8, 12, 8, 14, 6, 6, 3, 3),
)
SHOPS = ("农家乐", "超市", "五金店", "小餐馆", "民宿", "农资店")


@dataclass
class _Person:
    name: str
    gender: str
    home: TownshipData
    terms: list[Term] = field(default_factory=list)
    occupation: str = ""
    bio: str = ""
    groups: list[str] = field(default_factory=list)
    deputy: Deputy | None = None


def seed_demo(seed: int = 2026) -> dict:
    """Create the demo county in the current session (added and flushed, not committed).

    :raise DemoAlreadySeeded: the county's region code is already taken.
    """
    if db.session.scalar(db.select(Region.id).where(Region.code == COUNTY_CODE)) is not None:
        raise DemoAlreadySeeded(f"演示数据已存在：{COUNTY_NAME}（{COUNTY_CODE}）已在数据库中，未重复生成。")
    usernames = ["admin"] + [t.pinyin for t in TOWNSHIPS]
    taken = db.session.scalars(db.select(StaffAccount.username).where(StaffAccount.username.in_(usernames))).all()
    if taken:
        raise RuntimeError(f"演示数据无法生成：用户名 {'、'.join(taken)} 已被占用。")

    rng = random.Random(seed)
    rules = _rules()
    regions = _regions(rules["fengliu"])
    stations = _stations(rng, regions, rules)
    people = _people(rng)
    _persist_deputies(people)
    _memberships(rng, people, stations)
    db.session.flush()
    staff = _staff(regions, stations)
    invites = {p.deputy.id: create_invite(p.deputy).code for p in people}  # flushes each
    return _summary(stations, people, invites, staff)


def _rules() -> dict[str, ReceptionRule]:
    # 逢六 may already be the default of another county's data; one default is enough.
    default = db.session.scalar(db.select(ReceptionRule).where(ReceptionRule.is_default.is_(True))
                                .order_by(ReceptionRule.id).limit(1))
    fengliu = ReceptionRule(kind=ReceptionRuleKind.monthly_days, days=[6, 16, 26],
                            label="逢六（每月6日、16日、26日）", is_default=default is None)
    weekly = ReceptionRule(kind=ReceptionRuleKind.weekly, days=[3], label="每周三")
    twice = ReceptionRule(kind=ReceptionRuleKind.monthly_days, days=[10, 25], label="每月10日、25日")
    db.session.add_all([fengliu, weekly, twice])
    return {"fengliu": fengliu, "weekly": weekly, "twice": twice}


@dataclass
class _Regions:
    county: Region
    townships: dict[str, Region]  # by township name
    communities: dict[tuple[str, str], Region]  # by (township name, community name)


def _regions(fengliu: ReceptionRule) -> _Regions:
    def existing_or_new(code: str, name: str, level: RegionLevel, parent: Region | None) -> Region:
        region = db.session.scalar(db.select(Region).where(Region.code == code))
        if region is None:
            region = Region(code=code, name=name, level=level, parent=parent)
            db.session.add(region)
        return region

    # The province and city may exist already (another county's data); the county cannot.
    province = existing_or_new("330000000000", "浙江省", RegionLevel.province, None)
    city = existing_or_new("330500000000", "湖州市", RegionLevel.city, province)
    county = Region(code=COUNTY_CODE, name=COUNTY_NAME, level=RegionLevel.county, parent=city,
                    reception_rule=fengliu)
    db.session.add(county)
    townships, communities = {}, {}
    for t in TOWNSHIPS:
        township = Region(code=t.code, name=t.name, level=RegionLevel.township, parent=county)
        townships[t.name] = township
        for suffix, name in t.communities:
            communities[(t.name, name)] = Region(code=t.code[:9] + suffix, name=name,
                                                 level=RegionLevel.community, parent=township)
    db.session.add_all([*townships.values(), *communities.values()])
    return _Regions(county, townships, communities)


@dataclass
class _Stations:
    center: dict[str, Station]  # by township name
    local: dict[str, list[Station]]  # community stations by township name
    park: Station

    def all(self) -> list[Station]:
        result = []
        for t in TOWNSHIPS:
            result += [self.center[t.name], *self.local[t.name]]
        return result + [self.park]

    def of_township(self, name: str) -> list[Station]:
        return [self.center[name], *self.local[name]]


def _stations(rng: random.Random, regions: _Regions, rules: dict[str, ReceptionRule]) -> _Stations:
    used_scenes = set(db.session.scalars(db.select(Station.scene).where(Station.scene.startswith(SCENE_PREFIX))))

    def scene() -> str:
        while True:
            value = SCENE_PREFIX + "".join(rng.choice(SCENE_ALPHABET) for _ in range(8))
            if value not in used_scenes:
                used_scenes.add(value)
                return value

    def phone() -> str:
        return f"0572-5{rng.randrange(100000, 1000000):06d}"

    def near(lat: float, lng: float, spread: float) -> tuple[float, float]:
        box = COUNTY_SPREAD_DEG - 0.005
        lat = min(max(lat + rng.uniform(-spread, spread), COUNTY_CENTER[0] - box), COUNTY_CENTER[0] + box)
        lng = min(max(lng + rng.uniform(-spread, spread), COUNTY_CENTER[1] - box), COUNTY_CENTER[1] + box)
        return round(lat, 6), round(lng, 6)

    centers: dict[str, Station] = {}
    for t in TOWNSHIPS:
        scope = "街道" if t.congress_term is None else t.name[-1]
        lat, lng = near(t.lat, t.lng, 0.002)
        centers[t.name] = Station(
            scene=scene(), name=f"{t.name}人大代表联络站", kind=StationKind.center,
            address=f"浙江省湖州市安吉县{t.name}{t.road}", lat=lat, lng=lng, region=regions.townships[t.name],
            opens_at=rng.choice((time(8, 30), time(9, 0))), closes_at=rng.choice((time(17, 0), time(17, 30))),
            phone=phone(),
            intro=rng.choice((
                f"{t.name}中心联络站，统筹全{scope}各级人大代表进站履职，逢接待日代表轮流值守，当面听取群众意见。",
                f"设在{t.name}党群服务中心，是{t.name}人大代表联系群众的主阵地，群众诉求在这里登记、交办、反馈。",
                f"{t.name}人大代表联络站，代表定期进站接待，收集民情民意，跟踪办理到底。",
            )),
        )
    db.session.add_all(centers.values())
    db.session.flush()  # community stations point at their center by id

    local: dict[str, list[Station]] = {}
    for t in TOWNSHIPS:
        center = centers[t.name]
        local[t.name] = []
        for _suffix, name in t.communities[:t.community_stations]:
            is_village = name.endswith("村")
            place = rng.choice(VILLAGE_PLACES if is_village else COMMUNITY_PLACES)
            lat, lng = near(t.lat, t.lng, 0.02)
            station = Station(
                scene=scene(), name=f"{name}代表之家" if is_village else f"{name}人大代表联络站",
                kind=StationKind.community, address=f"浙江省湖州市安吉县{t.name}{name}{place}", lat=lat, lng=lng,
                region=regions.communities[(t.name, name)], parent_station_id=center.id,
                opens_at=time(9, 0), closes_at=time(17, 0), phone=phone(),
                intro=(f"{name}代表之家设在{place[:-2]}，本村代表和联系本村的上级代表在这里听民声、解民忧。"
                       if is_village else
                       f"{name}人大代表联络站，就近服务社区居民，小区改造、养老托幼等身边事可在此反映。"),
            )
            local[t.name].append(station)
    # Rules are data: one village receives twice a month, the park every Wednesday.
    local["天荒坪镇"][0].reception_rule = rules["twice"]
    dipu = TOWNSHIPS[0]
    lat, lng = near(dipu.lat + 0.012, dipu.lng + 0.015, 0.003)
    park = Station(
        scene=scene(), name="安吉经济开发区人大代表联络站", kind=StationKind.other,
        address="浙江省湖州市安吉县递铺街道天目路1号经济开发区企业服务中心一楼", lat=lat, lng=lng,
        region=regions.townships[dipu.name], parent_station_id=centers[dipu.name].id,
        opens_at=time(8, 30), closes_at=time(17, 30), phone=phone(), reception_rule=rules["weekly"],
        intro="设在开发区企业服务中心，主要联系园区企业和职工，收集营商环境、用工保障、安全生产方面的意见建议。",
    )
    db.session.add_all([s for stations in local.values() for s in stations] + [park])
    return _Stations(centers, local, park)


def _people(rng: random.Random) -> list[_Person]:
    """~150 deputies: who they are, where they live and which seats they hold.

    Seats: 2 national, 4 provincial, 14 municipal, 55 county and 75 township as first seats,
    plus 8 county deputies who also sit in their town's congress and 2 municipal deputies who
    also sit in the county's: a county demo shows four levels and people holding two.
    """
    used_names: set[str] = set()
    towns = [t for t in TOWNSHIPS if t.congress_term is not None]
    streets = [t for t in TOWNSHIPS if t.congress_term is None]
    by_name = {t.name: t for t in TOWNSHIPS}

    def person(home: TownshipData, *terms: Term) -> _Person:
        while True:
            gender = "女" if rng.random() < 0.35 else "男"
            chars = FEMALE_CHARS if gender == "女" else MALE_CHARS
            given = rng.choice(chars) + (rng.choice(chars) if rng.random() < 0.75 else "")
            name = rng.choice(SURNAMES) + given
            if name not in used_names and (len(given) == 1 or given[0] != given[1]):
                used_names.add(name)
                return _Person(name, gender, home, list(terms))

    def town_term(t: TownshipData) -> Term:
        return Term(DeputyLevel.township, f"{t.name}人民代表大会", t.congress_term, TOWNSHIP_TERM_START)

    people = [
        person(by_name["天荒坪镇"], NATIONAL),
        person(by_name["递铺街道"], NATIONAL),
        *(person(by_name[n], PROVINCIAL) for n in ("递铺街道", "昌硕街道", "孝丰镇", "梅溪镇")),
    ]
    for i in range(14):
        home = TOWNSHIPS[i % len(TOWNSHIPS)]
        people.append(person(home, MUNICIPAL, COUNTY) if i < 2 else person(home, MUNICIPAL))
    # County constituencies: streets are populous and, having no congress of their own, send more.
    homes = [s for s in streets for _ in range(8)] + [towns[i % len(towns)] for i in range(31)]
    for i, home in enumerate(homes):
        in_town = i >= len(streets) * 8
        if in_town and (i - len(streets) * 8) % 4 == 0:  # 8 of the 31 also sit in their town's congress
            people.append(person(home, COUNTY, town_term(home)))
        else:
            people.append(person(home, COUNTY))
    for i in range(75):
        home = towns[i % len(towns)]
        people.append(person(home, town_term(home)))
    # 届次 history: a county deputy re-elected, holding the 17th term's ended seat too.
    veteran = next(p for p in people if p.terms == [COUNTY] and p.home.name == "昌硕街道")
    veteran.terms.insert(0, COUNTY_PREVIOUS)

    taken_roles: set[str] = set()
    for p in people:
        _describe(rng, p, taken_roles)
    return people


def _describe(rng: random.Random, p: _Person, taken_roles: set[str]) -> None:
    """Occupation, bio and topic groups, fitting the person's home and level."""
    t = p.home
    top = min(p.terms, key=lambda term: DEPUTY_LEVEL_ORDER[term.level]).level
    kinds, weights = OCCUPATION_WEIGHTS
    if top in (DeputyLevel.national, DeputyLevel.provincial):
        kinds, weights = ("secretary", "business", "doctor", "teacher"), (4, 3, 1, 1)
    while True:
        kind = rng.choices(kinds, weights)[0]
        place = rng.choice(t.communities)[1]
        is_village = place.endswith("村")
        if kind not in ("secretary", "director"):
            break
        # One 书记 and one 主任 per village or community.
        role = place + {("secretary", True): "党总支书记", ("secretary", False): "党委书记",
                        ("director", True): "村委会主任", ("director", False): "居委会主任"}[kind, is_village]
        if role not in taken_roles:
            taken_roles.add(role)
            break

    if kind == "secretary":
        group = "农业农村组" if is_village else "社会治理组"
        bio = (f"扎根{place}工作多年，带领群众发展白茶和竹产业，推动人居环境整治和村集体经济增收。" if is_village
               else "长期从事社区工作，牵头推进老旧小区改造和“一老一小”服务。")
        occupation = role
    elif kind == "director":
        occupation, group = role, "城乡建设组"
        bio = f"负责{place}日常事务，关注道路、水利等基础设施建设和矛盾纠纷调解。"
    elif kind == "teacher":
        occupation, group = f"{t.name}{rng.choice(('中心小学', '初级中学', '中心幼儿园'))}教师", "教育文化组"
        bio = f"从教{rng.randrange(12, 30)}年，关注农村学生课后托管和校园周边交通安全。"
    elif kind == "doctor":
        hospital = rng.choice((f"{t.name}卫生院", "安吉县人民医院", "安吉县中医医院"))
        occupation, group = f"{hospital}医生", "医疗卫生组"
        bio = "关注基层医疗服务和慢性病管理，常年参加送医下乡活动。"
    elif kind == "business":
        firm_kind, industry, group = rng.choice(FIRM_KINDS)
        occupation = f"安吉{rng.choice(FIRM_NAMES)}{firm_kind}负责人"
        bio = f"从事{industry}{rng.randrange(10, 26)}年，关注中小企业融资、用工和营商环境。"
    elif kind == "shop":
        occupation, group = "个体工商户", "经济发展组"
        bio = f"在{t.name}经营{rng.choice(SHOPS)}多年，热心邻里事务，常为商户和居民反映诉求。"
    elif kind == "farmer":
        occupation, group = rng.choice(("农民", "白茶种植户", "家庭农场主")), "农业农村组"
        bio = f"种植安吉白茶{rng.randrange(8, 80)}亩，关注茶产业品牌保护和农村道路建设。"
    elif kind == "homestay":
        occupation, group = "民宿经营者", "经济发展组"
        bio = "返乡经营民宿，关注乡村旅游配套和生态环境保护。"
    elif kind == "grid":
        occupation, group = f"{place}网格员", "社会治理组"
        bio = "每天走村入户，熟悉群众急难愁盼，关注平安建设和邻里调解。"
    elif kind == "lawyer":
        occupation, group = "律师", "社会治理组"
        bio = "执业十余年，常年为村社提供法律咨询，关注基层依法治理。"
    else:
        occupation, group = "退役军人", "社会治理组"
        bio = "退役后回乡创业，关注退役军人就业和基层应急队伍建设。"
    p.occupation, p.bio, p.groups = occupation, bio, [group]
    if rng.random() < 0.35:
        p.groups.append(rng.choice([g for g in TOPIC_GROUPS if g != group]))


def _persist_deputies(people: list[_Person]) -> None:
    groups = {name: TopicGroup(name=name) for name in TOPIC_GROUPS}
    existing = db.session.scalars(db.select(TopicGroup).where(TopicGroup.name.in_(TOPIC_GROUPS)))
    groups.update({g.name: g for g in existing})
    for p in people:
        p.deputy = Deputy(
            name=p.name, gender=p.gender, occupation=p.occupation, bio=p.bio,
            seats=[DeputySeat(level=t.level, congress=t.congress, term=t.term, started_on=t.started_on,
                              ended_on=t.ended_on) for t in p.terms],
            topic_groups=[groups[g] for g in p.groups],
        )
    db.session.add_all(p.deputy for p in people)


def _memberships(rng: random.Random, people: list[_Person], stations: _Stations) -> None:
    """Group every deputy into stations, one leader each, with one ended membership as history.

    Township deputies spread over their town's stations; county and higher deputies join the
    center station of their constituency, and some street county deputies also a community
    station or the park, since streets have no township deputies to staff those.
    """
    members: dict[int, list[tuple[_Person, StationMembership]]] = {}
    next_local: dict[str, int] = {}

    def join(p: _Person, station: Station, started_on: date, ended_on: date | None = None) -> None:
        joined = members.setdefault(id(station), [])
        if ended_on is None and any(q is p and m.ended_on is None for q, m in joined):
            return
        membership = StationMembership(station=station, deputy=p.deputy, started_on=started_on, ended_on=ended_on)
        joined.append((p, membership))
        db.session.add(membership)

    def current_start(p: _Person) -> date:
        return min(t.started_on for t in p.terms if t.ended_on is None)

    for p in people:
        t = p.home
        levels = {term.level for term in p.terms if term.ended_on is None}
        if levels & {DeputyLevel.national, DeputyLevel.provincial, DeputyLevel.municipal, DeputyLevel.county}:
            join(p, stations.center[t.name], current_start(p))
        if DeputyLevel.township in levels:
            own = stations.of_township(t.name)
            i = next_local.get(t.name, 0)
            next_local[t.name] = i + 1
            # Community stations first, so each gets a member before the center gets more.
            join(p, (own[1:] + own[:1])[i % len(own)], current_start(p))
        elif DeputyLevel.county in levels and t.congress_term is None:
            i = next_local.get(t.name, 0)
            next_local[t.name] = i + 1
            extra = [*stations.local[t.name], stations.park] if t.name == "递铺街道" else stations.local[t.name]
            if i < 2 * len(extra):  # two deputies for each, so none is left with one face
                join(p, extra[i % len(extra)], current_start(p))
    # History: the re-elected deputy was grouped elsewhere during the previous term.
    veteran = next(p for p in people if any(term.ended_on for term in p.terms))
    elsewhere = next(s for s in stations.center.values() if s is not stations.center[veteran.home.name])
    join(veteran, elsewhere, COUNTY_PREVIOUS.started_on, COUNTY_PREVIOUS.ended_on)

    # The 站长代表 is a local deputy with time to run the group, not the national one.
    preference = (DeputyLevel.county, DeputyLevel.township, DeputyLevel.municipal, DeputyLevel.provincial,
                  DeputyLevel.national)
    rank = {level: i for i, level in enumerate(preference)}
    for joined in members.values():
        current = [(p, m) for p, m in joined if m.ended_on is None]
        _p, leader = min(current, key=lambda pm: (min(rank[t.level] for t in pm[0].terms), rng.random()))
        leader.is_leader = True


def _staff(regions: _Regions, stations: _Stations) -> list[tuple[StaffAccount, str]]:
    accounts: list[tuple[StaffAccount, str]] = []

    def account(username: str, display_name: str, role: StaffRole, region: Region,
                managed: list[Station]) -> None:
        password = "".join(secrets.choice(PASSWORD_ALPHABET) for _ in range(PASSWORD_LENGTH))
        staff = StaffAccount(user=User(), username=username, password_hash=hash_password(password),
                             display_name=display_name, role=role, region=region, stations=managed)
        db.session.add(staff)
        accounts.append((staff, password))

    account("admin", "安吉县人大常委会代表工委", StaffRole.region_admin, regions.county, [])
    for t in TOWNSHIPS:
        managed = [s for s in stations.all() if s is stations.center[t.name]
                   or s.parent_station_id == stations.center[t.name].id]
        account(t.pinyin, f"{t.name}联络站站长", StaffRole.station_manager, regions.townships[t.name], managed)
    db.session.flush()
    return accounts


def _summary(stations: _Stations, people: list[_Person], invites: dict[int, str],
             staff: list[tuple[StaffAccount, str]]) -> dict:
    def levels(p: _Person) -> list[str]:
        current = sorted({t.level for t in p.terms if t.ended_on is None}, key=DEPUTY_LEVEL_ORDER.get)
        return [level.value for level in current]

    return {
        "county": COUNTY_NAME,
        "region_code": COUNTY_CODE,
        "stations": [{"id": s.id, "name": s.name, "scene": s.scene, "kind": s.kind.value, "url_path": f"/s/{s.scene}"}
                     for s in stations.all()],
        "deputy_count": len(people),
        # Which station a deputy serves: whoever signs in with an invite code finds that
        # station's inbox and duty, so the tester needs it beside the code.
        "deputies": [{"id": p.deputy.id, "name": p.name, "levels": levels(p), "invite_code": invites[p.deputy.id],
                      "stations": [{"id": m.station.id, "name": m.station.name, "scene": m.station.scene}
                                   for m in sorted(p.deputy.memberships, key=lambda m: m.station.id)
                                   if m.ended_on is None]}
                     for p in people],
        "staff": [{"username": a.username, "password": password, "role": a.role.value,
                   "display_name": a.display_name, "stations": [s.id for s in a.stations]}
                  for a, password in staff],
    }
