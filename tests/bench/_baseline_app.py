"""The bare-framework baseline B: Litestar with nothing of ours, served like the service.

Two routes, the least a JSON API can do: `GET /json` returns a small JSON body
and `POST /echo` decodes a small JSON body into a msgspec Struct and returns
it. Every benchmark divides its figure by B measured in the same run, so the
ratio says what our code costs on top of the framework and the server,
whatever the machine.

Run as a module to serve it (the runner does this in a subprocess):

    python -m tests.bench._baseline_app granian --port 8001 --workers 2
    python -m tests.bench._baseline_app uvicorn --port 8002 --workers 2

granian is started with the parameters `consent serve` uses (ASGI, uvloop, no
access log, same backlog), so the only difference from the service is our code.
"""

from __future__ import annotations

import argparse
import importlib.util

import msgspec
from litestar import Litestar, get, post

__all__ = ["BODY", "ECHO_PATH", "JSON_PATH", "app"]

# Import string for the servers' workers: this module runs as __main__ in the parent process.
_TARGET = "tests.bench._baseline_app:app"
JSON_PATH = "/json"
ECHO_PATH = "/echo"
# About the size of a single consent check: a subject, a purpose list, two flags.
BODY = {"subject": {"user_id": "u-42"}, "purposes": ["personalisation"], "jurisdiction": "gdpr", "gpc": False}


class Status(msgspec.Struct, kw_only=True, frozen=True):
    status: str


class Subject(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    user_id: str


class Echo(msgspec.Struct, kw_only=True, frozen=True, forbid_unknown_fields=True):
    subject: Subject
    purposes: list[str]
    jurisdiction: str
    gpc: bool


@get(JSON_PATH)
async def json_status() -> Status:
    return Status(status="ok")


@post(ECHO_PATH, status_code=200)
async def echo(data: Echo) -> Echo:
    return data


app = Litestar(route_handlers=[json_status, echo], debug=False, openapi_config=None)


def _serve_granian(port: int, workers: int) -> None:
    from granian import Granian  # noqa: PLC0415 (only the chosen server is imported)
    from granian.constants import Interfaces, Loops  # noqa: PLC0415

    Granian(
        _TARGET,
        address="127.0.0.1",
        port=port,
        interface=Interfaces.ASGI,
        workers=workers,
        loop=Loops.uvloop,
        log_access=False,
        backlog=2048,
    ).serve()


def uvicorn_http() -> str:
    """uvicorn's fastest HTTP parser available here (httptools is optional)."""
    return "httptools" if importlib.util.find_spec("httptools") else "h11"


def _serve_uvicorn(port: int, workers: int) -> None:
    import uvicorn  # noqa: PLC0415

    uvicorn.run(
        _TARGET,
        host="127.0.0.1",
        port=port,
        workers=workers,
        loop="uvloop",
        http=uvicorn_http(),
        access_log=False,
        log_level="warning",
        backlog=2048,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("server", choices=["granian", "uvicorn"])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, required=True)
    args = parser.parse_args()
    serve = _serve_granian if args.server == "granian" else _serve_uvicorn
    serve(args.port, args.workers)


if __name__ == "__main__":
    main()
