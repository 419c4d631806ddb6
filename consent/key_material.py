"""Loading the key material the service needs, from the environment or key files, never the database.

Four kinds of key (see docs/security.md): the master key ring that wraps
subjects' data keys, the blind-index root key, the receipt signing keys and the
audit checkpoint signing keys. Each comes from a variable (`CONSENT_MASTER_KEYS`,
`CONSENT_INDEX_KEY`, `CONSENT_SIGNING_KEYS`, `CONSENT_AUDIT_KEYS`) or a file
(`CONSENT_MASTER_KEY_FILE`, `..._KEY_FILE`), never both. In development a missing key is generated once into
`$CONSENT_HOME/keys/` with mode 0600, and the operator is told; in production (the
default: `CONSENT_ENV` unset) a missing key stops the service. `CONSENT_MASTER_KEY_CURRENT` pins the master key
version that wraps new data keys (default: the highest), so a new version can
reach every instance before anything is wrapped under it.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import msgspec

from consent.config import ConfigError, Environment, Settings
from crypto import (
    IndexKey,
    KeyMaterialError,
    LocalKeyProvider,
    MasterKeyRing,
    SigningKeyRing,
    generate_audit_key_file_text,
    generate_index_key_text,
    generate_master_key_file_text,
    generate_signing_key_file_text,
    parse_index_key,
    parse_master_key_file,
    parse_master_keys,
    parse_signing_key_file,
    parse_signing_keys,
)

__all__ = ["KeyMaterial", "development_key_path", "load_key_material", "reload_master_keys"]

log = logging.getLogger(__name__)
K = TypeVar("K")


class KeyMaterial(msgspec.Struct, kw_only=True, frozen=True):
    provider: LocalKeyProvider
    index_key: IndexKey
    signing_keys: SigningKeyRing
    audit_keys: SigningKeyRing
    """Signs audit checkpoints; a ring of its own, published at /.well-known/audit-keys.json."""
    master_key_file: Path | None
    """Where the master ring was read from, so a rotation can re-read it; None for the variable."""
    master_key_current: int | None = None
    """The pinned current master key version (`CONSENT_MASTER_KEY_CURRENT`); None: the highest."""


def development_key_path(settings: Settings, name: str) -> Path:
    return settings.home / "keys" / name


def _write_secret(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return  # another process of this instance created it first; read theirs
    with os.fdopen(fd, "w") as file:
        file.write(text)


def _load(
    settings: Settings,
    *,
    variable: str,
    file_variable: str,
    inline: str | None,
    file: Path | None,
    dev_name: str,
    parse_inline: Callable[[str], K],
    parse_file: Callable[[str], K],
    generate: Callable[[], str],
    announce: Callable[[str], None],
) -> tuple[K, Path | None]:
    if inline and file is not None:
        raise ConfigError(f"{variable} and {file_variable} are both set: configure the key in one place only")
    if inline:
        source, parse, path = variable, parse_inline, None
    else:
        if file is None:
            if settings.env is Environment.PRODUCTION:
                raise ConfigError(
                    f"{variable}: required in production (or {file_variable}); production is the default, "
                    "set CONSENT_ENV=development to generate development keys under $CONSENT_HOME/keys"
                )
            file = development_key_path(settings, dev_name)
            if not file.exists():
                _write_secret(file, generate())
                announce(f"created the development key file {file} (mode 0600); production needs {variable}")
        source, parse, path = str(file), parse_file, file
        try:
            inline = file.read_text()
        except OSError as exc:
            raise ConfigError(f"{variable}: cannot read {file}: {exc.strerror}") from None
    try:
        return parse(inline), path
    except KeyMaterialError as exc:
        raise ConfigError(f"{variable} ({source}): {exc}") from None


def load_key_material(settings: Settings, *, announce: Callable[[str], None] = log.warning) -> KeyMaterial:
    """Read (in development: create if missing) every key; raises ConfigError naming the variable."""
    pin = settings.master_key_current
    ring, ring_file = _load(
        settings,
        variable="CONSENT_MASTER_KEYS",
        file_variable="CONSENT_MASTER_KEY_FILE",
        inline=settings.master_keys,
        file=settings.master_key_file,
        dev_name="master.keys",
        parse_inline=lambda text: _pinned(parse_master_keys, text, pin),
        parse_file=lambda text: _pinned(parse_master_key_file, text, pin),
        generate=generate_master_key_file_text,
        announce=announce,
    )
    index_key, _ = _load(
        settings,
        variable="CONSENT_INDEX_KEY",
        file_variable="CONSENT_INDEX_KEY_FILE",
        inline=settings.index_key,
        file=settings.index_key_file,
        dev_name="index.key",
        parse_inline=parse_index_key,
        parse_file=lambda text: parse_index_key(_first_line(text)),
        generate=lambda: (
            "# consent blind-index root key (base64). Keep it secret.\n" + generate_index_key_text() + "\n"
        ),
        announce=announce,
    )
    # Receipt and audit keys share a format, never a ring: a receipt key must not sign a checkpoint.
    signing = _ed25519_ring(
        settings,
        "SIGNING",
        inline=settings.signing_keys,
        file=settings.signing_key_file,
        generate=generate_signing_key_file_text,
        announce=announce,
    )
    audit = _ed25519_ring(
        settings,
        "AUDIT",
        inline=settings.audit_keys,
        file=settings.audit_key_file,
        generate=generate_audit_key_file_text,
        announce=announce,
    )
    return KeyMaterial(
        provider=LocalKeyProvider(ring),
        index_key=index_key,
        signing_keys=signing,
        audit_keys=audit,
        master_key_file=ring_file,
        master_key_current=pin,
    )


def _ed25519_ring(
    settings: Settings,
    kind: str,
    *,
    inline: str | None,
    file: Path | None,
    generate: Callable[[], str],
    announce: Callable[[str], None],
) -> SigningKeyRing:
    """`CONSENT_{kind}_KEYS` or `CONSENT_{kind}_KEY_FILE`: Ed25519 `KID:BASE64` entries, the first signs."""
    ring, _ = _load(
        settings,
        variable=f"CONSENT_{kind}_KEYS",
        file_variable=f"CONSENT_{kind}_KEY_FILE",
        inline=inline,
        file=file,
        dev_name=f"{kind.lower()}.keys",
        parse_inline=parse_signing_keys,
        parse_file=parse_signing_key_file,
        generate=generate,
        announce=announce,
    )
    return ring


def reload_master_keys(material: KeyMaterial) -> MasterKeyRing | None:
    """Re-read the master key file (after a version was added); None when keys come from the variable.

    The pinned current version, if any, stays pinned. Raises `KeyMaterialError`.
    """
    if material.master_key_file is None:
        return None
    return _pinned(parse_master_key_file, material.master_key_file.read_text(), material.master_key_current)


def _pinned(parse: Callable[..., MasterKeyRing], text: str, current: int | None) -> MasterKeyRing:
    """Parse a master key ring whose current version is `current` (None: the highest)."""
    ring: MasterKeyRing = parse(text)
    if current is None or current == ring.current_version:
        return ring
    if current not in ring.versions:
        held = ", ".join(map(str, ring.versions))
        raise KeyMaterialError(f"CONSENT_MASTER_KEY_CURRENT is {current}, which is not a version of the ring ({held})")
    pinned: MasterKeyRing = parse(text, current_version=current)
    return pinned


def _first_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    if len(lines) != 1:
        raise KeyMaterialError("the index key file holds exactly one base64 key")
    return lines[0]
