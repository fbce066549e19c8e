"""``xfer profile add/list/show/rm/test``: saved connections, built from the option declarations."""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from typing import Annotated, Any, Optional

import typer

from ..errors import ConfigError, UnsupportedOperation
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
    printable,
    warn,
)

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
                help_text += " (reference)"
            if option.choices:
                help_text += f" [{'|'.join(option.choices)}]"
            decl: Any = typer.Option(f"{flag}/--no-{flag[2:]}" if option.type is bool else flag,
                                     help=help_text, rich_help_panel=f"[{section}]", show_default=False)
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
    profile = Profile.from_mapping(name, data)
    profile.check_files()
    path = save_profile(profile, overwrite=force)
    info(f"saved profile {name} to {path}", quiet=quiet)


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
                         "identity": item.values.get("identity"), "source": str(item.source)})
    if json_output:
        emit_json(rows)
        return
    if not rows:
        info("no profiles yet; create one with `xfer profile add NAME URL --identity FILE.p12`")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table(box=None, pad_edge=False)
    for column in ("name", "protocol", "url", "identity"):
        table.add_column(column)
    for row in rows:
        if row.get("error"):
            warn(str(row["error"]))
            continue
        # Text, not str: a cell would otherwise be read as rich markup.
        table.add_row(*(Text(printable(row[key] or "")) for key in ("name", "protocol", "url", "identity")))
    Console(highlight=False).print(table)


@app.command("show")
def show(
    name: Annotated[str, typer.Argument(help="Profile name.")],
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
def rm(name: Annotated[str, typer.Argument(help="Profile name.")], quiet: QuietFlag = False) -> None:
    """Delete a profile from the config folder."""
    from ..profiles import remove_profile

    path = remove_profile(name)
    info(f"removed {path}", quiet=quiet)


@app.command("test")
def test(name: Annotated[str, typer.Argument(help="Profile name.")], json_output: JsonFlag = False) -> None:
    """Connect with a profile and report what happened (TLS, certificate, SSH host key and login, listing)."""
    from ..adapters.base import Capability
    from ..client import connect

    with connect(name, warn=warn) as remote:
        result: dict[str, Any] = {"profile": name, "server": remote.settings.server,
                                  "protocol": remote.settings.scheme, **remote.connection_facts()}
        if Capability.LS in remote.capabilities:
            try:
                entries = remote.ls("/")
                result["entries"] = len(entries)
            except UnsupportedOperation as exc:
                result["listing"] = exc.message
        elif remote.settings.tls is not None:  # a protocol without TLS has no handshake to probe
            from ..tls import probe_handshake

            result.update(probe_handshake(remote.settings.tls.context, remote.settings.host,
                                          remote.settings.port, timeout=remote.settings.timeout))
    result["ok"] = True
    if json_output:
        emit_json(result)
    else:
        for key, value in result.items():
            echo(f"{key}: {value}")
