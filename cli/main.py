"""The `peony` command."""

from __future__ import annotations

import argparse
import importlib
import sys

from cli.dlq import add_parser as add_dlq_parser
from cli.outbox import add_parser as add_outbox_parser
from cli.roles import roles_help
from kit.auth import ROLE_PERMISSIONS
from kit.config import DEFAULT_GRPC_PORTS

# Services that exist today, and the module whose `main()` runs each one.
SERVICE_MODULES = {
    "members": "services.members.entrypoints.app",
    "notify": "services.notify.entrypoints.app",
    "wallet": "services.wallet.entrypoints.app",
    "booking": "services.booking.entrypoints.app",
    "insights": "services.insights.entrypoints.app",
}


def _role(value: str) -> str:
    """Validated when minting: the services reject a token with an unknown role anyway."""
    if value not in ROLE_PERMISSIONS:
        raise argparse.ArgumentTypeError(
            f"unknown role {value!r}; valid roles: {', '.join(ROLE_PERMISSIONS)}"
        )
    return value


def _version() -> str:
    """The installed distribution's version (pyproject's `version`)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("peony")
    except PackageNotFoundError:  # running from a checkout without `pip install -e .`
        return "unknown (not installed)"


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="peony", description="Peony: membership, wallet, booking and notify for chains"
    )
    p.add_argument("--version", action="version", version=f"peony {_version()}")
    sub = p.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="start PostgreSQL, NATS, every service and the gateway (development)")
    up.add_argument(
        "--var-dir", default="var", help="where embedded servers keep data and logs (default ./var)"
    )
    up.add_argument("--services", nargs="*", default=None, help="services to start (default: all)")
    up.add_argument("--no-gateway", action="store_true", help="do not start the REST gateway")
    up.add_argument(
        "--replicas",
        type=int,
        default=None,
        help="processes of each service, each on its own port, balanced by the clients "
        "(default PEONY_UP_REPLICAS or 1; at most 8)",
    )

    serve = sub.add_parser("serve", help="run one service in the foreground (as a Kubernetes pod does)")
    serve.add_argument("service", choices=sorted(SERVICE_MODULES))

    sub.add_parser("gateway", help="run the REST/JSON gateway in the foreground")
    sub.add_parser(
        "dev-providers",
        help="run the local SMS/e-mail/WeChat/push provider servers (development; --help for options)",
        add_help=False,
    )

    migrate = sub.add_parser("migrate", help="apply a service's database migrations and exit")
    migrate.add_argument("service", choices=sorted(SERVICE_MODULES))

    token = sub.add_parser(
        "token",
        help="mint a development JWT (HS256, PEONY_JWT_SECRET or the dev secret)",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=roles_help(),
    )
    token.add_argument("--tenant", default="demo")
    token.add_argument("--subject", default="user:dev-admin")
    token.add_argument(
        "--role",
        action="append",
        dest="roles",
        type=_role,
        metavar="ROLE",
        help=f"repeatable; default hq_admin; one of: {', '.join(ROLE_PERMISSIONS)}",
    )
    token.add_argument(
        "--store",
        action="append",
        dest="stores",
        help="store scope (stores/<id>), repeatable; store-bound roles see only these stores",
    )
    token.add_argument("--ttl", type=int, default=86400, help="lifetime in seconds")

    from cli.notify import add_parser as add_notify_parser

    add_notify_parser(sub)
    from cli.insights import add_parser as add_insights_parser

    add_insights_parser(sub)
    from cli.importer.run import add_parser as add_import_parser

    add_import_parser(sub)
    add_outbox_parser(sub, SERVICE_MODULES)
    add_dlq_parser(sub, SERVICE_MODULES)

    demo = sub.add_parser("demo", help="load a demo chain (3 stores in two time zones, 200 members)")
    demo.add_argument("--tenant", default="demo")
    demo.add_argument("--members", type=int, default=200)
    demo.add_argument("--addr", default=f"127.0.0.1:{DEFAULT_GRPC_PORTS['members']}")
    demo.add_argument(
        "--history",
        action="store_true",
        help="instead: publish months of a chain's history as events (members, wallet, booking) "
        "for insights; PEONY_NATS_URL, --members, --days",
    )
    demo.add_argument("--days", type=int, default=365, help="with --history: days of history")
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["dev-providers"]:  # its own options, parsed by its own parser
        from services.notify.devproviders.__main__ import main as dev_providers_main

        return dev_providers_main(argv[1:])
    args = _parser().parse_args(argv)
    if args.command == "up":
        from cli.up import run_up

        return run_up(args)
    if args.command == "serve":
        return importlib.import_module(SERVICE_MODULES[args.service]).main()
    if args.command == "gateway":
        from gateway.app import main as gateway_main

        return gateway_main() or 0
    if args.command == "migrate" and args.service == "insights":  # ClickHouse DDL, not Alembic
        from cli.insights import migrate_insights

        return migrate_insights()
    if args.command == "migrate":
        from kit.service import migrate

        return migrate(args.service)
    if args.command == "token":
        import os

        from kit.auth import is_store_scoped, mint_dev_token

        roles = args.roles or ["hq_admin"]
        if is_store_scoped(roles) and not args.stores:
            print(
                f"peony token: warning: role(s) {', '.join(roles)} are store-bound and no --store was "
                "given; this token sees no store's data (add --store stores/<id>)",
                file=sys.stderr,
            )
        print(
            mint_dev_token(
                tenant=args.tenant,
                subject=args.subject,
                roles=roles,
                stores=args.stores,
                ttl_seconds=args.ttl,
                secret=os.environ.get("PEONY_JWT_SECRET") or None,
                issuer=os.environ.get("PEONY_JWT_ISSUER", "peony"),
                audience=os.environ.get("PEONY_JWT_AUDIENCE", "peony"),
            )
        )
        return 0
    if args.command == "insights":
        from cli.insights import run as run_insights

        return run_insights(args)
    if args.command == "notify":
        from cli.notify import run as run_notify

        return run_notify(args)
    if args.command == "outbox":
        from cli.outbox import run as run_outbox

        return run_outbox(args)
    if args.command == "dlq":
        from cli.dlq import run as run_dlq

        return run_dlq(args)
    if args.command == "import":
        from cli.importer.run import run as run_import

        return run_import(args)
    if args.command == "demo":
        from cli.demo import run_demo

        return run_demo(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
