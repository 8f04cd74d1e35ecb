"""A small steady load on the served app — residents submitting issues with Idempotency-Keys,
scanning the station and reading their own issues — recording every answer with its timing."""
from __future__ import annotations

import itertools
import random
import threading
import time
from dataclasses import dataclass
from typing import Self

import requests

from backend.auth import issue_token
from models import User, db
from tests.faults.world import SCENE, auth, issue_body

# A resident may submit 10 issues an hour (the rate limit): each client moves on to the next
# resident before that.
PER_RESIDENT = 9


@dataclass
class Outcome:
    kind: str  # submit, scan, mine
    started: float  # time.monotonic()
    ended: float
    status: int | None  # None: no answer at all (connection refused or reset, client timeout)
    body: dict | None
    key: str | None = None
    error: str | None = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


def make_residents(app, count: int, prefix: str) -> list[str]:
    """`count` residents signed in (their tokens), made directly in the database: signing in
    over HTTP is not what these tests are about."""
    with app.app_context():
        users = [User(openid=f"fake-{prefix}-{n}") for n in range(count)]
        db.session.add_all(users)
        db.session.commit()
        return [issue_token(user)[0] for user in users]


class Load:
    """`clients` threads, each looping: submit (with a fresh key), scan, read its own issues."""

    def __init__(self, base_url: str, residents: list[str], clients: int = 4, pause: float = 0.04,
                 timeout: float = 20.0):
        self.base_url = base_url
        self.pause = pause
        self.timeout = timeout
        self.outcomes: list[Outcome] = []
        self.bodies: dict[str, tuple[str, dict]] = {}  # key → (resident token, body)
        self._lock = threading.Lock()
        self._stop = threading.Event()
        per_client = len(residents) // clients
        self._threads = [threading.Thread(target=self._client, args=(n, residents[n * per_client:(n + 1) * per_client]),
                                          daemon=True) for n in range(clients)]

    def __enter__(self) -> Self:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=self.timeout + 5)

    def _client(self, number: int, residents: list[str]) -> None:
        rng = random.Random(number)
        submissions = itertools.count()
        with requests.Session() as http:
            while not self._stop.is_set():
                n = next(submissions)
                token = residents[min(n // PER_RESIDENT, len(residents) - 1)]
                if n // PER_RESIDENT < len(residents):
                    key = f"load-{number}-{n}"
                    body = issue_body(f"第{number}-{n}条")
                    with self._lock:
                        self.bodies[key] = (token, body)
                    self._record(http, "submit", "POST", "/api/v1/issues", key=key, json=body,
                                 headers=auth(token, key))
                if rng.random() < 0.5:
                    self._record(http, "scan", "GET", f"/api/v1/stations/scan/{SCENE}")
                else:
                    self._record(http, "mine", "GET", "/api/v1/issues/mine", headers=auth(token))
                time.sleep(self.pause)

    def _record(self, http: requests.Session, kind: str, method: str, path: str, key: str | None = None,
                **kwargs) -> None:
        started = time.monotonic()
        status = body = error = None
        try:
            response = http.request(method, self.base_url + path, timeout=self.timeout, **kwargs)
            status = response.status_code
            try:
                body = response.json()
            except ValueError:
                body = {"raw": response.text[:300]}
        except requests.RequestException as exc:
            error = type(exc).__name__
        with self._lock:
            self.outcomes.append(Outcome(kind, started, time.monotonic(), status, body, key, error))

    def snapshot(self) -> list[Outcome]:
        with self._lock:
            return list(self.outcomes)
