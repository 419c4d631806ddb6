"""Rate limits and the client's address, decided once for every route, the express lane included.

Three checks, each a token bucket of this process's share (`consent.service.rate_limits`):

- :func:`admit_network`, before anything else (before the body is read, before
  the key is looked up): the client network (IPv4 /24, IPv6 /48) of every
  request, unless it carries the token of a secret key this process already
  knows (a backend's checks are charged to its key, not to its data centre);
- :func:`admit_key`, from `consent.api.auth.authenticate`: the API key;
- :func:`admit_new_subject` / :func:`spend_new_subject`, around a recording
  made with a publishable key: the subjects that key creates per minute.

Each refusal is a 429 problem document with `Retry-After` (whole seconds).

The client's address is the peer's, unless the peer is a trusted proxy
(`CONSENT_TRUSTED_PROXIES`): then `X-Forwarded-For` is read from the right,
skipping trusted proxies, and the first other address is the client's. Entries
left of it are whatever the client sent, so they are never believed.
"""

from __future__ import annotations

import functools
import ipaddress
import math

from litestar.exceptions import TooManyRequestsException
from litestar.types import Scope

from consent.config import Settings
from consent.runtime import Runtime
from consent.service.api_keys.issuing import ApiKey
from consent.service.rate_limits import TokenBuckets

__all__ = ["admit_key", "admit_network", "admit_new_subject", "client_address", "network_of", "spend_new_subject"]

_Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@functools.lru_cache(maxsize=65_536)
def network_of(address: str) -> str | None:
    """The client network of `address` as text (`203.0.113.0/24`, `2001:db8:1::/48`); None if not an address."""
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return None
    if isinstance(parsed, ipaddress.IPv6Address) and parsed.ipv4_mapped is not None:
        parsed = parsed.ipv4_mapped
    prefix = 24 if parsed.version == 4 else 48
    return str(ipaddress.ip_network((parsed, prefix), strict=False))


def _trusted(address: str, proxies: tuple[_Network, ...]) -> bool:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(parsed in network for network in proxies)


def client_address(scope: Scope, settings: Settings) -> str | None:
    """The client's IP address: the peer's, or from `X-Forwarded-For` when the peer is a trusted proxy."""
    client = scope.get("client")
    peer: str | None = client[0] if client else None
    proxies = settings.trusted_proxy_networks
    if peer is None or not proxies or not _trusted(peer, proxies):
        return peer
    # Every X-Forwarded-For header, in order, as one list (a proxy may add a header or append to one).
    hops = [hop.strip() for name, value in scope["headers"] if name == b"x-forwarded-for"
            for hop in value.decode("latin-1").split(",")]  # fmt: skip
    for hop in reversed(hops):
        if network_of(hop) is None:
            break  # a proxy we trust wrote nonsense: the last proxy is all we know
        if not _trusted(hop, proxies):
            return hop
        peer = hop
    return peer


def _refuse(wait: float, detail: str) -> TooManyRequestsException:
    return TooManyRequestsException(detail, headers={"Retry-After": str(max(1, math.ceil(wait)))})


def _known_secret_key(runtime: Runtime, scope: Scope) -> bool:
    for name, value in scope["headers"]:
        if name == b"authorization":
            token = value.decode("latin-1").partition(" ")[2].strip()
            key = runtime.api_keys.known(token) if token.startswith("sk_") else None
            return key is not None and not key.publishable
    return False


def admit_network(runtime: Runtime, scope: Scope) -> None:
    """Charge the request to its client network; 429 when that network is over its limit."""
    buckets = runtime.limits.networks
    if not buckets.enabled or _known_secret_key(runtime, scope):
        return
    address = client_address(scope, runtime.settings)
    network = network_of(address) if address is not None else None
    if network is not None and (wait := buckets.take(network)):
        raise _refuse(wait, "too many requests from this network; retry after the time in Retry-After")


def _key_buckets(runtime: Runtime, key: ApiKey) -> TokenBuckets:
    return runtime.limits.publishable_keys if key.publishable else runtime.limits.secret_keys


def admit_key(runtime: Runtime, key: ApiKey) -> None:
    """Charge the request to its API key; 429 when the key is over its limit."""
    if wait := _key_buckets(runtime, key).take(key.id):
        raise _refuse(wait, "too many requests with this API key; retry after the time in Retry-After")


def admit_new_subject(runtime: Runtime, key: ApiKey) -> None:
    """Before a publishable key's recording: 429 when the key has used up its new subjects for now.

    Every recording of the key is refused then, whether its device is new or not, so that the
    answer never tells whether a device id existed.
    """
    if key.publishable and (wait := runtime.limits.new_subjects.wait(key.id)):
        raise _refuse(wait, "this key has created too many new subjects; retry after the time in Retry-After")


def spend_new_subject(runtime: Runtime, key: ApiKey) -> None:
    """After a publishable key's recording created a subject: count it."""
    if key.publishable:
        runtime.limits.new_subjects.spend(key.id)
