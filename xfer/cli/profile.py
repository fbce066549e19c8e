"""``xfer profile add/list/show/rm/test``: saved connections, built from the option declarations."""

from __future__ import annotations

import functools
import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer

from ..errors import ConfigError, UsageError, XferError
from ..options import CORE, Option, sections
from ..registry import supported_text
from .common import (
    JsonFlag,
    QuietFlag,
    absolute_paths,
    connection_parameters,
    echo,
    emit_json,
    info,
    option_metavar,
    printable,
    secret_help,
    warn,
    writing_stdout,
)
from .completion import complete_profile
from .doctor import WarnDays, run_doctor

if TYPE_CHECKING:
    from ..profiles import Profile

__all__ = ["app"]

app = typer.Typer(help="Saved connections (TOML files holding secret references only).", no_args_is_help=True)


def _section_flag(section: str, option: Option) -> tuple[str, str]:
    """(parameter name, flag) for a protocol option: [as2] as2_from -> --as2-from."""
    name = option.name if option.name.startswith(section + "_") else f"{section}_{option.name}"
    return f"opt__{section}__{option.name}", "--" + name.replace("_", "-")


def _section_parameters() -> list[inspect.Parameter]:
    params = []
    for section, options in sections().items():
        for option in options.values():
            pname, flag = _section_flag(section, option)
            help_text = f"[{section}] {option.help}"
            if option.secret:
                help_text = secret_help(help_text)
            if option.choices:
                help_text += f" [{'|'.join(option.choices)}]"
            decl: Any = typer.Option(f"{flag}/--no-{flag[2:]}" if option.type is bool else flag,
                                     help=help_text, rich_help_panel=f"[{section}]", show_default=False,
                                     metavar=None if option.type is bool else option_metavar(option))
            annotation = Annotated[Optional[option.type], decl]  # type: ignore[name-defined]  # noqa: UP045
            params.append(inspect.Parameter(pname, inspect.Parameter.KEYWORD_ONLY, default=None,
                                            annotation=annotation))
    return params


def _with_profile_options(func: Callable[..., None]) -> Callable[..., None]:
    """Give ``profile add`` one flag per declared option (top-level and per protocol)."""
    signature = inspect.signature(func, eval_str=True)
    extra = [*connection_parameters(exclude={"url"}), *_section_parameters()]

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> None:
        data: dict[str, Any] = {}
        for param in extra:
            value = kwargs.pop(param.name, None)
            if value is None:
                continue
            if param.name.startswith("opt__"):
                _, section, key = param.name.split("__", 2)
                data.setdefault(section, {})[key] = value
            else:
                data[param.name] = value
        func(*args, settings=data, **kwargs)

    own = [p for p in signature.parameters.values() if p.name != "settings"]
    wrapper.__signature__ = signature.replace(parameters=[*own, *extra])  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in [*own, *extra]}
    return wrapper


@app.command("add")
@_with_profile_options
def add(
    name: Annotated[str, typer.Argument(help="Profile name (2-64 letters, digits, . - _).")],
    url: Annotated[str, typer.Argument(help=f"{supported_text(notes=False)} URL.")],
    settings: dict[str, Any],
    force: Annotated[bool, typer.Option("--force", help="Replace an existing profile.")] = False,
    quiet: QuietFlag = False,
) -> None:
    """Save a profile.  Relative paths (and file: references) are stored as absolute paths."""
    from ..profiles import Profile, save_profile

    declared = sections()
    data: dict[str, Any] = {"url": url, **absolute_paths(
        {k: v for k, v in settings.items() if k not in declared}, CORE)}
    for section, table in settings.items():
        if section in declared:
            data[section] = absolute_paths(table, declared[section])
    try:
        profile = Profile.from_mapping(name, data)
    except ConfigError as exc:
        # Every value here was typed on this command line: a value that does not fit is a usage
        # error (2), as for any command's flags; the same value in a profile file stays 3.
        raise UsageError(exc.message, hint=exc.hint, cli_hint=exc.cli_hint) from None
    profile.check_files()
    path = save_profile(profile, overwrite=force)
    info(f"saved profile {name} to {path}", quiet=quiet)
    _warn_shadowed(name, f"{{winner}} (in XFER_PROFILE_PATH) comes first: {name}: uses it, not the profile saved")


@app.command("list")
def list_(json_output: JsonFlag = False) -> None:
    """List the profiles found (XFER_PROFILE_PATH first, then the config folder)."""
    from ..profiles import list_profiles

    rows: list[dict[str, Any]] = []
    for name, item in list_profiles():
        if isinstance(item, ConfigError):
            rows.append({"name": name, "error": item.message})
        else:
            rows.append({"name": item.name, "url": item.url, "protocol": item.scheme,
                         "identity": item.values.get("identity"), "days_left": _days_left(item),
                         "source": str(item.source)})
    if json_output:
        emit_json(rows)
        _refuse_unread(rows)
        return
    if not rows:
        info("no profiles yet; create one with `xfer profile add NAME URL --identity FILE.p12`")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for column in ("name", "protocol", "url", "identity", "days left"):
        table.add_column(column)
    for row in rows:
        if row.get("error"):
            warn(str(row["error"]))
            continue
        # Text, not str: a cell would otherwise be read as rich markup.
        # "?": the profile names an identity whose dates could not be read without asking (or at all).
        days = str(row["days_left"]) if row["days_left"] is not None else "?" if row["identity"] else ""
        table.add_row(*(Text(printable(row[key] or "")) for key in ("name", "protocol", "url", "identity")),
                      Text(days))
    # Piped, the table is as wide as its values: rich would cut them to 80 columns with "…",
    # and a grep or awk over the table would read the cut values.
    width = None if sys.stdout is not None and sys.stdout.isatty() else 1_000_000
    with writing_stdout():
        Console(highlight=False, width=width).print(table)
    _refuse_unread(rows)


def _refuse_unread(rows: list[dict[str, Any]]) -> None:
    """After the list: a profile that could not be read (each named in a warning, or in
    ``--json``) makes the command exit 3, as a script checking its profiles must see; with
    every profile broken it exited 0 on an empty table (review M-10)."""
    broken = [row for row in rows if row.get("error")]
    if broken:
        raise ConfigError(f"{len(broken)} of {len(rows)} profile(s) could not be read",
                          hint="fix or remove them; each is named above")


def _days_left(profile: Profile) -> int | None:
    """Days until the profile identity's certificate expires; None without one or when it cannot be
    opened without asking (a ``prompt`` password: listing never prompts) or at all."""
    if not profile.values.get("identity") or profile.get("identity_password") == "prompt":
        return None
    from ..client import load_identity
    from ..doctor.certs import utc_now
    from ..identity import days_left

    try:
        identity = load_identity(profile, check=False)
    except XferError:
        return None
    return None if identity is None else days_left(identity.not_after, now=utc_now())


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Profile name.", autocompletion=complete_profile)],
    json_output: JsonFlag = False,
) -> None:
    """Show a profile with every option; secrets appear only as their references."""
    from ..profiles import load_profile

    profile = load_profile(name)
    if json_output:
        emit_json(profile.describe())
        return
    # Valid TOML (a profile can be copied from here), with notes as comments.
    echo(f"# {profile.source}")
    for key, option in CORE.items():
        if key in profile.values:
            echo(f"{_toml_line(key, profile.values[key])}" + ("   # a reference" if option.secret else ""))
    for section in profile.sections:
        echo("")
        echo(f"[{section}]")
        for key, value in profile.section(section).items():
            if value is None:
                echo(f"# {key} is not set")
            else:
                marker = "" if key in profile.sections[section] else "   # default"
                echo(f"{_toml_line(key, value)}{marker}")


def _toml_line(key: str, value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({key: value}).strip()


@app.command("rm")
def rm(
    name: Annotated[str, typer.Argument(help="Profile name.", autocompletion=complete_profile)],
    quiet: QuietFlag = False,
) -> None:
    """Delete a profile from the config folder."""
    from ..profiles import remove_profile

    path = remove_profile(name)
    info(f"removed {path}", quiet=quiet)
    _warn_shadowed(name, f"{name}: still uses {{winner}} (in XFER_PROFILE_PATH), which xfer does not remove")


def _warn_shadowed(name: str, template: str) -> None:
    """Warn when ``name`` resolves to a file in XFER_PROFILE_PATH, not the config folder's that
    add writes and rm deletes (``{winner}`` in ``template`` is that file)."""
    from ..profiles import shadowing

    winner = shadowing(name)
    if winner is not None:
        warn(template.format(winner=winner))


@app.command("test", epilog="The same report as `xfer doctor partner`.")
def test(
    name: Annotated[str, typer.Argument(metavar="NAME", help="Profile name.", autocompletion=complete_profile)],
    json_output: JsonFlag = False,
    warn_days: WarnDays = None,
) -> None:
    """Diagnose a saved profile step by step (the `xfer doctor` report)."""
    from ..profiles import load_profile

    load_profile(name)  # an unknown name is a config error (exit 3), not a diagnosis
    code = run_doctor(name, None, json_output=json_output, warn_days=warn_days)
    if code:
        raise typer.Exit(code)
