"""The command line: a thin click shell over the library.

Only :func:`main` turns errors into exit codes: a user mistake (bad query,
bad frame reference, bad option) is one line on stderr and exit 2; a runtime
failure (catalogue unusable, disk trouble) is one line and exit 1.
Unexpected errors keep their traceback: they are bugs and should be reported.
"""

from __future__ import annotations

import logging
import sys

import click

from kino_catalog.cli.app import cli
from kino_catalog.errors import KinoError, QueryError, UsageError

# The command modules register their commands on `cli` when it first asks for
# them (cli/lazy.py): `kino-catalog --help` imports none of them.

__all__ = ["cli", "main"]


def _database_error(exc: BaseException) -> str | None:
    """The one-line reason of SQLAlchemy's OperationalError (disk full, server gone), else None.

    Looked up only if SQLAlchemy was loaded: a command that never touched a
    database cannot raise it, and importing it just to compare costs start-up.
    """
    sqlalchemy_exc = sys.modules.get("sqlalchemy.exc")
    if sqlalchemy_exc is None or not isinstance(exc, sqlalchemy_exc.OperationalError):
        return None
    orig = getattr(exc, "orig", None)
    return str(orig).strip().splitlines()[0] if orig else str(exc)


def _negation_hint(exc: click.ClickException, argv: list[str]) -> str | None:
    """For ``search -sketch``: click read a negated query term as options; say to use ``--``."""
    if not isinstance(exc, click.NoSuchOption) or exc.ctx is None:
        return None
    takes_query = any(
        isinstance(param, click.Argument) and param.name == "query"
        for param in exc.ctx.command.params
    )
    if not takes_query or exc.option_name.startswith("--"):
        return None
    term = next(
        (a for a in argv if a.startswith(exc.option_name) and not a.startswith("--")),
        exc.option_name,
    )
    return (
        f"Hint: a query term starting with '-' (a negation) needs `--` before the query: "
        f"{exc.ctx.command_path} -- {term}"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code (0 ok, 1 runtime failure, 2 bad usage)."""
    try:
        # Without standalone mode click returns the code of a command's ctx.exit(code).
        code = cli.main(args=argv, prog_name="kino-catalog", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        return 130
    except click.ClickException as exc:
        exc.show()
        hint = _negation_hint(exc, sys.argv[1:] if argv is None else argv)
        if hint:
            click.echo(hint, err=True)
        return 2
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except (QueryError, UsageError) as exc:
        click.echo(f"kino-catalog: {exc}", err=True)
        return 2
    except KinoError as exc:
        click.echo(f"kino-catalog: {exc}", err=True)
        return 1
    except BrokenPipeError:
        # `kino-catalog search ... | head`: the reader left; that is not an error.
        sys.stderr.close()
        return 0
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        reason = _database_error(exc)
        if reason is None:
            raise
        # disk full, server gone: not a bug, not fixable here
        click.echo(f"kino-catalog: database error: {reason}", err=True)
        return 1
    finally:
        logging.shutdown()
    return code if isinstance(code, int) else 0
