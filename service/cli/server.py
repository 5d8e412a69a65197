"""``vsm serve``, ``vsm worker``, ``vsm beat``, ``vsm db upgrade``, ``vsm keys``: run the service.

These commands are composition roots: they read ``Settings`` from ``VSM_*`` variables. Input and
environment errors end with one line ``vsm: error: ...`` on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from connectors.errors import DumpError
from service.domain.utc import utc_seconds

# the database, settings and pydantic stack load in the handlers: every `vsm` command registers
# these subcommands, and `vsm import` should not pay for SQLAlchemy
if TYPE_CHECKING:
    from celery import Celery
    from sqlalchemy.engine import Engine

    from service.settings import Settings

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "examples"
# The March file is a later revision of the first board: the demo starts with a trend, a
# "since the last workshop" report and a recurring problem in the portfolio.
DEMO_FILES = ("miro-abo-workshop.json", "mural-app-release.json", "miro-abo-workshop-march.json")
# labels the demo boards get, by external board id (the portfolio filters by them)
DEMO_LABELS = {
    "uXjVN4pQ2kE=": {"client": "allied-medien", "team": "digital-abo"},
    "acme7380.1754493659737": {"client": "acme-mobility", "team": "app"},
}
DEMO_WORKSPACE = "demo"
_SCHEDULE_HELP = "beat's file of last run times (default: in the temporary directory)"


class CommandError(Exception):
    """A user-facing failure: printed as one line, exit status 2."""


def register(subparsers: Any) -> None:
    serve = subparsers.add_parser(
        "serve",
        help="run the REST API (with an in-process worker unless VSM_BROKER_URL is set)",
        description=(
            "Run the REST API. Without VSM_BROKER_URL jobs run on a thread of this process and "
            "the database is migrated on start."
        ),
        epilog="example: vsm serve --demo --port 8001",
    )
    serve.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8000, help="port (default 8000)")
    serve.add_argument(
        "--workers", type=int, default=1, help="API processes (default 1; see docs/service.md)"
    )
    serve.add_argument(
        "--demo",
        action="store_true",
        help="create workspace 'demo' with a new key, import the example boards, print curls",
    )
    serve.set_defaults(handler=_guarded(run_serve))

    worker = subparsers.add_parser(
        "worker",
        help="run a Celery worker for import jobs (needs VSM_BROKER_URL)",
        description="Run a Celery worker consuming import jobs from VSM_BROKER_URL.",
        epilog="example: VSM_BROKER_URL=redis://127.0.0.1:6379/0 vsm worker --concurrency 2",
    )
    worker.add_argument("--concurrency", type=int, default=None, help="worker processes")
    worker.add_argument(
        "--pool", choices=("prefork", "solo", "threads"), default="prefork", help="Celery pool"
    )
    worker.add_argument("--loglevel", default=None, help="default: VSM_LOG_LEVEL")
    worker.add_argument(
        "--beat",
        action="store_true",
        help="also run Celery beat (the live boards' polls): exactly one process of a "
        "deployment may do this, else every poll runs once per beat",
    )
    worker.add_argument("--schedule", default=None, help=_SCHEDULE_HELP)
    worker.set_defaults(handler=_guarded(run_worker))

    beat = subparsers.add_parser(
        "beat",
        help="run Celery beat: sends the live boards' periodic polls (needs VSM_BROKER_URL)",
        description="Run Celery beat, which publishes boards.poll and murals.poll on "
        "VSM_BROKER_URL for the workers. Run exactly one beat per deployment.",
        epilog="example: VSM_BROKER_URL=redis://127.0.0.1:6379/0 vsm beat",
    )
    beat.add_argument("--loglevel", default=None, help="default: VSM_LOG_LEVEL")
    beat.add_argument("--schedule", default=None, help=_SCHEDULE_HELP)
    beat.set_defaults(handler=_guarded(run_beat))

    health = subparsers.add_parser(
        "health",
        help="exit 0 when this host's worker answers a ping, or beat's broker answers",
        description="A container health check: `worker` pings the Celery workers of this host "
        "over the broker; `beat` checks that the broker it publishes to answers.",
        epilog="example: vsm health worker   (docker-compose runs it as the healthcheck)",
    )
    health.add_argument("role", choices=("worker", "beat"))
    health.add_argument("--timeout", type=float, default=5.0, help="seconds (default 5)")
    health.set_defaults(handler=_guarded(run_health))

    db = subparsers.add_parser(
        "db", help="database administration", epilog="example: vsm db upgrade"
    )
    db_commands = db.add_subparsers(dest="db_command", metavar="COMMAND", required=True)
    upgrade = db_commands.add_parser("upgrade", help="migrate the database to the newest schema")
    upgrade.set_defaults(handler=_guarded(run_db_upgrade))

    keys = subparsers.add_parser(
        "keys",
        help="API keys of workspaces",
        epilog="example: vsm keys create --workspace acme --label 'CI pipeline'",
    )
    key_commands = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    create = key_commands.add_parser(
        "create", help="create a key (and the workspace if new); prints the key once"
    )
    create.add_argument("--workspace", required=True, help="workspace name")
    create.add_argument("--label", default="", help="a note to recognise the key by")
    create.set_defaults(handler=_guarded(run_keys_create))
    listing = key_commands.add_parser("list", help="list keys (prefix, workspace, state)")
    listing.add_argument("--json", action="store_true", help="print JSON lines")
    listing.set_defaults(handler=_guarded(run_keys_list))
    revoke = key_commands.add_parser("revoke", help="revoke a key by its prefix")
    revoke.add_argument("prefix", help="the key's prefix, as `vsm keys list` shows it")
    revoke.set_defaults(handler=_guarded(run_keys_revoke))


def _guarded(handler: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn expected failures into one stderr line and exit status 2 (no traceback)."""

    def run(args: argparse.Namespace) -> int:
        from pydantic import ValidationError
        from sqlalchemy.exc import SQLAlchemyError

        from service.usecases.errors import UseCaseError

        try:
            return handler(args)
        except (CommandError, UseCaseError, DumpError, ValueError) as exc:
            return _fail(str(exc))
        except ValidationError as exc:
            first = exc.errors()[0]
            field = "VSM_" + "__".join(str(p) for p in first["loc"]).upper()
            return _fail(f"invalid setting {field}: {first['msg']}")
        except SQLAlchemyError as exc:
            reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
            return _fail(f"database error: {reason}")
        except OSError as exc:
            return _fail(f"{exc.strerror or exc}")

    return run


def _fail(message: str) -> int:
    one_line = " ".join(message.split())
    print(f"vsm: error: {one_line}", file=sys.stderr)
    return 2


def _safe_url(url: str) -> str:
    import sqlalchemy as sa

    return sa.engine.make_url(url).render_as_string(hide_password=True)


def _engine(settings: Settings, *, migrate: bool) -> Engine:
    from service.db.engine import create_db_engine
    from service.db.migrate import upgrade_database

    engine = create_db_engine(settings.database_url, pool_size=2)
    if migrate:
        upgrade_database(engine, upload_dir=settings.upload_path)
    return engine


def run_db_upgrade(args: argparse.Namespace) -> int:
    from service.settings import Settings

    settings = Settings()
    engine = _engine(settings, migrate=True)
    engine.dispose()
    print(f"database {_safe_url(settings.database_url)} is at the newest schema")
    return 0


def run_keys_create(args: argparse.Namespace) -> int:
    from service.db.engine import create_session_factory
    from service.settings import Settings
    from service.usecases.keys import create_api_key

    settings = Settings()
    engine = _engine(settings, migrate=settings.embedded_worker)
    with create_session_factory(engine)() as session:
        new = create_api_key(session, args.workspace, label=args.label)
        session.commit()
    engine.dispose()
    print(new.secret)
    print(
        f"created key {new.key.prefix} for workspace {new.workspace.name!r}; "
        "it is shown only now: store it in a secret manager",
        file=sys.stderr,
    )
    return 0


def run_keys_list(args: argparse.Namespace) -> int:
    from service.db.engine import create_session_factory
    from service.settings import Settings
    from service.usecases.keys import list_api_keys

    settings = Settings()
    engine = _engine(settings, migrate=settings.embedded_worker)
    with create_session_factory(engine)() as session:
        rows = list_api_keys(session)
    engine.dispose()
    for key, workspace in rows:
        state = "revoked" if key.revoked_at else "active"
        if args.json:
            print(
                json.dumps(
                    {
                        "prefix": key.prefix,
                        "workspace": workspace.name,
                        "label": key.name,
                        "state": state,
                        "created_at": utc_seconds(key.created_at),
                    }
                )
            )
        else:
            created = utc_seconds(key.created_at)
            print(f"{key.prefix}\t{workspace.name}\t{state}\t{created}\t{key.name}")
    return 0


def run_keys_revoke(args: argparse.Namespace) -> int:
    from service.db.engine import create_session_factory
    from service.settings import Settings
    from service.usecases.keys import revoke_api_key

    settings = Settings()
    engine = _engine(settings, migrate=settings.embedded_worker)
    with create_session_factory(engine)() as session:
        key = revoke_api_key(session, args.prefix)
        session.commit()
    engine.dispose()
    print(f"revoked {key.prefix}")
    return 0


def _celery_for(command: str) -> tuple[Celery, Settings]:
    from service.bootstrap import worker_celery
    from service.logs import configure_logging
    from service.settings import Settings

    settings = Settings()
    if not settings.broker_url:
        raise CommandError(
            f"VSM_BROKER_URL is not set: without a broker, `vsm serve` runs the jobs itself "
            f"and needs no `vsm {command}`"
        )
    configure_logging(settings.log_level, settings.log_format)
    return worker_celery(settings), settings


def _schedule_file(path: str | None) -> str:
    """Beat's file of last run times. The polls are plain intervals, so losing it only makes
    the first polls run at once: a temporary directory is writable by the image's user."""
    return path or os.path.join(tempfile.gettempdir(), "vsm-celerybeat-schedule")


def run_health(args: argparse.Namespace) -> int:
    import socket

    app, _ = _celery_for("health")
    if args.role == "beat":
        with app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1, timeout=args.timeout)
        return 0
    host = socket.gethostname()
    replies = app.control.inspect(timeout=args.timeout).ping() or {}
    if any(name.endswith(f"@{host}") for name in replies):
        return 0
    raise CommandError(f"no worker of host {host} answered within {args.timeout:g} s")


def run_beat(args: argparse.Namespace) -> int:
    app, settings = _celery_for("beat")
    app.start(
        [
            "beat",
            f"--loglevel={args.loglevel or settings.log_level}",
            f"--schedule={_schedule_file(args.schedule)}",
        ]
    )
    return 0


def _worker_metrics(settings: Settings) -> Callable[[], None] | None:
    """With ``VSM_WORKER_METRICS_PORT``: empty ``PROMETHEUS_MULTIPROC_DIR`` of the figures of
    earlier runs (before this process records any) and return what starts the port; the
    figures of every worker process (Celery's children) are summed there."""
    if settings.worker_metrics_port is None:
        return None
    from service.metrics import multiprocess_dir

    folder = multiprocess_dir()
    if folder is None:
        raise CommandError(
            "VSM_WORKER_METRICS_PORT needs PROMETHEUS_MULTIPROC_DIR: an empty folder for the "
            "worker processes' figures, set before `vsm worker` starts"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("*.db"):
        stale.unlink()
    port, host = settings.worker_metrics_port, settings.worker_metrics_host

    def serve() -> None:
        from prometheus_client import start_http_server

        from service.metrics import worker_registry

        start_http_server(port, addr=host, registry=worker_registry(folder))

    return serve


def run_worker(args: argparse.Namespace) -> int:
    from service.settings import Settings

    serve_metrics = _worker_metrics(Settings())
    app, settings = _celery_for("worker")
    if serve_metrics is not None:
        serve_metrics()
    argv = [
        "worker",
        f"--loglevel={args.loglevel or settings.log_level}",
        f"--pool={args.pool}",
        f"--hostname=vsm-{os.getpid()}@%h",
        f"--queues={settings.broker_queue}",
        "--without-gossip",
        "--without-mingle",
    ]
    if args.concurrency:
        argv.append(f"--concurrency={args.concurrency}")
    if args.beat:
        argv += ["--beat", f"--schedule={_schedule_file(args.schedule)}"]
    app.worker_main(argv)
    return 0


def _run_demo(settings: Settings, engine: Engine, base_url: str) -> list[str]:
    """Create the demo workspace with a fresh key and import the example boards right away."""
    from sqlmodel import col, select

    from service.db.engine import create_session_factory
    from service.db.tables import Board, RevisionStream, Stream
    from service.usecases.imports import parse_dump, run_import_job, submit_import
    from service.usecases.keys import create_api_key
    from service.usecases.portfolio import replace_labels
    from service.usecases.uploads import UploadFolder
    from service.usecases.web_login import create_login_ticket

    uploads = UploadFolder(settings.upload_path)
    sessions = create_session_factory(engine)
    with sessions() as session:
        new = create_api_key(session, DEMO_WORKSPACE, label="vsm serve --demo")
        assert new.key.id is not None
        ticket = create_login_ticket(session, new.key.id)
        session.commit()
        workspace_id = new.workspace.id
    assert workspace_id is not None
    job_ids: list[int] = []
    for name in DEMO_FILES:
        path = EXAMPLES_DIR / name
        raw = path.read_bytes()
        board = parse_dump(json.loads(raw))
        with sessions() as session:
            job, _ = submit_import(session, uploads, workspace_id, raw, board, trigger="demo")
            session.commit()
            assert job.id is not None
            job_ids.append(job.id)
    for job_id in job_ids:
        with sessions() as session:
            finished = run_import_job(session, uploads, job_id)
            if finished is None or finished.status == "failed":
                reason = finished.error if finished else "the job vanished"
                raise CommandError(f"the demo import failed: {reason}")
    with sessions() as session:
        boards = session.exec(select(Board).where(Board.workspace_id == workspace_id)).all()
        for board_row in boards:
            labels = DEMO_LABELS.get(board_row.external_id)
            if labels and board_row.id is not None:
                replace_labels(session, board_row.id, labels)
        session.commit()
    with sessions() as session:
        board_id = session.exec(
            select(Board.id).where(Board.workspace_id == workspace_id).order_by(col(Board.id))
        ).first()
        stream_id = session.exec(
            select(RevisionStream.stream_id)
            .join(Stream, col(Stream.id) == col(RevisionStream.stream_id))
            .where(Stream.board_id == board_id)
            .order_by(col(RevisionStream.revision_number).desc(), col(RevisionStream.position))
        ).first()
    auth = shlex.quote(f"Authorization: Bearer {new.secret}")
    return [
        f"API key for workspace 'demo' (shown once): {new.secret}",
        "",
        "Try:",
        f"  curl -s -H {auth} {base_url}/v1/boards",
        f"  curl -s -H {auth} {base_url}/v1/boards/{board_id}/streams",
        f"  curl -s -H {auth} {base_url}/v1/streams/{stream_id}",
        f"  curl -s -H {auth} {base_url}/v1/boards/{board_id}/report",
        f"  curl -s -H {auth} '{base_url}/v1/streams/{stream_id}/export?format=markdown'",
        f"  curl -s -H {auth} -H 'Content-Type: application/json' "
        f"--data-binary @{shlex.quote(str(EXAMPLES_DIR / DEMO_FILES[0]))} {base_url}/v1/imports",
        f"  curl -s -H {auth} '{base_url}/v1/portfolio?label=client:allied-medien'",
        f"  curl -s -H {auth} {base_url}/v1/portfolio/problems",
        f"  curl -s -H {auth} {base_url}/v1/boards/{board_id}/trends",
        f"  API docs: {base_url}/docs",
        "",
        "Open in a browser (this link signs you in once, for 30 minutes):",
        f"  {base_url}/web/login/{ticket}",
    ]


def _check_port_free(host: str, port: int) -> None:
    """Fail with one line before anything is printed or created when ``port`` is taken."""
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {host}:{port} ({exc.strerror or exc}); another program "
                "uses it: pick a free port with --port, e.g. --port 8001"
            ) from None


def _has_keys(engine: Engine) -> bool:
    from sqlmodel import Session, select

    from service.db.tables import ApiKey

    with Session(engine) as session:
        return session.exec(select(ApiKey.id).limit(1)).first() is not None


def run_serve(args: argparse.Namespace) -> int:
    import uvicorn

    from service.logs import configure_logging
    from service.settings import Settings

    settings = Settings()
    configure_logging(settings.log_level, settings.log_format)
    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    _check_port_free(args.host, args.port)
    from service.local_key import with_local_key

    settings = with_local_key(settings)  # made here once, before any API process starts
    host = "127.0.0.1" if args.host in ("0.0.0.0", "::") else args.host  # noqa: S104
    listen_url = f"http://{host}:{args.port}"
    # Links made without a request (webhook events) point where this server listens, unless
    # VSM_PUBLIC_BASE_URL says otherwise; the API processes read it from the environment.
    os.environ["VSM_LISTEN_URL"] = listen_url
    if args.demo or settings.embedded_worker:
        engine = _engine(settings, migrate=True)
        if args.demo:
            lines = _run_demo(settings, engine, listen_url)
            print("\n".join(lines), flush=True)
        elif not _has_keys(engine):
            print(
                "vsm: the database has no API key yet; create the first one with\n"
                "  vsm keys create --workspace NAME\n"
                f"then sign in at {listen_url}/web/ (or try `vsm serve --demo`)",
                file=sys.stderr,
                flush=True,
            )
        engine.dispose()
    uvicorn.run(
        "service.api.main:app_from_env",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        log_config=None,
        access_log=False,
        proxy_headers=True,
    )
    return 0
