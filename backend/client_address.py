"""The client's address: the socket's peer, or, when that peer is a trusted proxy
(TRUSTED_PROXIES), the address the proxy reports in X-Forwarded-For.

Behind nginx every request's socket peer is nginx: the sign-in lockout and the rate limits by
address would see one client. Trusting X-Forwarded-For from anyone would be worse — a client
could name any address, someone else's to lock them out or a fresh one for every guess. So the
header is read only from the proxies named, right to left (each proxy appends the address it
got the request from), skipping the trusted ones: the first address that is not a trusted
proxy is the client.
"""
from __future__ import annotations

import ipaddress
from functools import lru_cache

from flask import current_app, request


@lru_cache(maxsize=16)
def _networks(trusted: tuple[str, ...]) -> tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...]:
    return tuple(ipaddress.ip_network(entry, strict=False) for entry in trusted)


def _parse(text: str):
    try:
        return ipaddress.ip_address(text.strip())
    except ValueError:
        return None


def _trusted(address, networks) -> bool:
    return address is not None and any(address in network for network in networks)


def client_address() -> str | None:
    """The address of the client of the current request (see the module's docstring)."""
    peer = request.remote_addr
    networks = _networks(tuple(current_app.config.get("TRUSTED_PROXIES") or ()))
    if not networks or not _trusted(_parse(peer or ""), networks):
        return peer
    hops = [hop.strip() for value in request.headers.getlist("X-Forwarded-For") for hop in value.split(",")]
    hops = [hop for hop in hops if hop]
    client = peer
    for hop in reversed(hops):
        address = _parse(hop)
        if address is None:
            break  # garbage before it was written by nobody we trust
        client = str(address)
        if not _trusted(address, networks):
            break
    return client
