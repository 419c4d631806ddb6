"""The website side as static files, shipped with the package and served by `consent.api.web`.

- `sdk/`: the consent banner and SDK a site embeds (`consent.js`, `consent.css`; docs/website.md);
- `demo/`: the demo shop served at `/demo` in development;
- `viewer/`: RapiDoc, pinned, so that the API reference at `/schema` works offline and under a strict CSP.

Files are read once and kept with their ETag; nothing here knows HTTP.
"""

from __future__ import annotations

import hashlib
from importlib import resources

import msgspec

__all__ = ["SDK_VERSION", "VIEWER", "Asset", "asset"]

SDK_VERSION = "v1"
"""The versioned path of the snippet, `/sdk/v1/consent.js`."""
VIEWER = "rapidoc-min.js"
"""The API viewer's script (RapiDoc 9.3.8 from the npm registry, MIT; its licence beside it)."""

_MEDIA_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
    ".txt": "text/plain; charset=utf-8",
}


class Asset(msgspec.Struct, kw_only=True, frozen=True):
    body: bytes
    media_type: str
    etag: str
    """A strong validator: the first 16 bytes of the body's SHA-256, hex, quoted."""


def asset(folder: str, name: str) -> Asset | None:
    """The file `name` of `folder` (`sdk`, `demo` or `viewer`), or None when there is no such file."""
    found = _loaded.get((folder, name))
    if found is not None:
        return found
    suffix = name[name.rfind(".") :] if "." in name else ""
    if folder not in ("sdk", "demo", "viewer") or "/" in name or name.startswith(".") or suffix not in _MEDIA_TYPES:
        return None
    file = resources.files(__name__).joinpath(folder, name)
    if not file.is_file():
        return None
    body = file.read_bytes()
    found = Asset(body=body, media_type=_MEDIA_TYPES[suffix], etag=f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    _loaded[folder, name] = found  # only files that exist: a stranger's paths never grow this
    return found


_loaded: dict[tuple[str, str], Asset] = {}
