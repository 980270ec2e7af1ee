"""``python -m tools.devstack COMMAND``: manage the local Kafka / Mongo / SMTP stack."""

from __future__ import annotations

import argparse
import sys
import time

from tools.devstack import procs

_USAGE = """\
commands:
  up [SERVICE...]          start kafka, keycloak, mongo, smtp (or the named ones) unless
                           running
  down [SERVICE...]        stop them (SIGTERM, then SIGKILL after a grace period)
  restart [SERVICE...]     down + up
  status                   state of each server (exit 3 if any is not running)
  reset [SERVICE...]       stop and DELETE data (kafka topics, mongo data, stored mail,
                           keycloak's database: the realm files are imported again)
  prune                    delete the topics and databases earlier test and bench runs
                           left in the running stack (run-prefixed names only)
  smoke                    end-to-end checks with real clients against the running stack
  kafka-up|kafka-down, mongo-up|mongo-down, smtp-up|smtp-down, keycloak-up|keycloak-down
                           single-service shortcuts
  smtp-mode accept|reject|tempfail
                           make the SMTP sink accept, refuse 550, or refuse 451
  resolve-kafka            only resolve the Kafka jars with Maven (.cache/kafka/libs)
  resolve-keycloak         only fetch Keycloak's server distribution with Maven
                           (.cache/keycloak/dist)
  build-rust-mongo [--force]
                           cargo install secantus-mdb into .cache/secantus-rs (minutes)
services: kafka, keycloak, mongo, smtp
environment: DEVSTACK_MONGO_BACKEND=auto|rust|python, DEVSTACK_BUILD_RUST_MONGO=1,
             DEVSTACK_SMTP_MODE=accept|reject|tempfail (sink default when var/mail/.mode
             is absent)
"""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    parser = argparse.ArgumentParser(
        prog="python -m tools.devstack",
        description="Local dev/test stack: Kafka (KRaft), SecantusDB (MongoDB protocol), "
        "SMTP sink, Keycloak (staff OpenID provider).",
        epilog=_USAGE,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("command")
    parser.add_argument("args", nargs="*")
    parser.add_argument("--force", action="store_true", help="build-rust-mongo: rebuild")
    opts = parser.parse_args(argv)

    # imported lazily so `--help` works even when the venv lacks the client libraries
    from tools.devstack import mongo, stack

    cmd, args = opts.command, opts.args
    started = time.monotonic()
    try:
        if cmd.endswith(("-up", "-down", "-restart")) and cmd.split("-", 1)[0] in stack.ALL:
            service, _, action = cmd.partition("-")
            cmd, args = action, [service]
        if cmd == "up":
            stack.up(args or None)
            print(f"[devstack] up in {time.monotonic() - started:.1f}s")
        elif cmd == "down":
            stack.down(args or None)
        elif cmd == "restart":
            stack.restart(args or None)
        elif cmd == "status":
            return 0 if stack.status(args or None) else 3
        elif cmd == "reset":
            stack.reset(args or None)
        elif cmd == "prune":
            from tools.devstack.prune import prune

            prune()
        elif cmd == "smoke":
            from tools.devstack import smoke

            return 0 if smoke.run_all() else 1
        elif cmd == "smtp-mode":
            from tools.devstack.paths import MAIL_DIR
            from tools.devstack.smtp_sink import MODES, MailStore

            if len(args) != 1 or args[0] not in MODES:
                parser.error(f"smtp-mode needs one of {', '.join(MODES)}")
            MailStore(MAIL_DIR).set_mode(args[0])
            print(f"[smtp] mode set to {args[0]}")
        elif cmd == "resolve-kafka":
            from tools.devstack import kafka

            kafka.resolve_jars(force=opts.force)
            print(f"[kafka] jars ready: Kafka {kafka.kafka_version()}")
        elif cmd == "resolve-keycloak":
            from tools.devstack import keycloak

            keycloak.resolve_dist(force=opts.force)
            print(f"[keycloak] distribution ready: Keycloak {keycloak.keycloak_version()}")
        elif cmd == "build-rust-mongo":
            mongo.build_rust_mongo(force=opts.force)
        else:
            parser.error(f"unknown command {cmd!r}")
    except procs.DevstackError as exc:
        print(f"devstack: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
