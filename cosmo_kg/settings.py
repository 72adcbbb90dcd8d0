"""Settings: one definition per setting (name, default, help) feeding CLI options, environment
variables, the config file and ``docs/settings.md``.

Precedence: command-line option > environment variable > config file > default. The config
file is ``cosmo-kg.toml`` in the working directory, or the path in ``COSMO_CONFIG``; each
settings group is a table named after its ``section`` (``[neo4j]``, ``[local_neo4j]``, ...).
A bad value is reported with its key and value.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar, get_type_hints

import click

from cosmo_kg.errors import ConfigError, CosmoKGError

CONFIG_ENV = "COSMO_CONFIG"
DEFAULT_CONFIG_FILE = "cosmo-kg.toml"


def setting(default: Any, help: str, *, env: str, secret: bool = False) -> Any:
    """Declare one setting field of a settings group."""
    return dataclasses.field(default=default, metadata={"help": help, "env": env, "secret": secret})


class SettingsGroup:
    """Base of the frozen settings dataclasses; ``section`` names the config-file table."""

    section: ClassVar[str]

    @classmethod
    def fields(cls) -> Iterator[tuple[dataclasses.Field[Any], type]]:
        hints = get_type_hints(cls)
        for f in dataclasses.fields(cls):  # type: ignore[arg-type]
            yield f, hints[f.name]

    @classmethod
    def option_name(cls, field_name: str) -> str:
        return f"--{cls.section.replace('_', '-')}-{field_name.replace('_', '-')}"

    @classmethod
    def param_name(cls, field_name: str) -> str:
        return f"{cls.section}_{field_name}"

    def bad_value(self, name: str, hint: str, error: type[CosmoKGError] = ConfigError) -> CosmoKGError:
        """The error for this group's setting ``name``, naming its key and value (raise it)."""
        return bad_value(f"{self.section}.{name}", getattr(self, name), hint, error)


def bad_value(key: str, value: Any, hint: str, error: type[CosmoKGError] = ConfigError) -> CosmoKGError:
    """The one message of a setting with a bad value: ``setting KEY has a bad value VALUE``."""
    return error(f"setting {key} has a bad value {value!r}", hint=hint)


G = TypeVar("G", bound=SettingsGroup)


def _config_file() -> dict[str, Any]:
    path = Path(os.environ.get(CONFIG_ENV, DEFAULT_CONFIG_FILE))
    if not path.exists():
        if CONFIG_ENV in os.environ:
            raise ConfigError(f"config file {path} does not exist", hint=f"fix {CONFIG_ENV}")
        return {}
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc


def _convert(kind: type, key: str, value: Any) -> Any:
    if isinstance(value, kind):
        return value
    try:
        if kind is bool:
            text = str(value).strip().lower()
            if text not in {"1", "0", "true", "false", "yes", "no", "on", "off"}:
                raise ValueError(text)
            return text in {"1", "true", "yes", "on"}
        return kind(value)
    except (TypeError, ValueError):
        raise bad_value(key, value, f"expected a {kind.__name__}") from None


def load_settings(group: type[G], overrides: Mapping[str, Any] | None = None) -> G:
    """Build one settings group from overrides (field name → value, None = unset), env, file, defaults."""
    overrides = overrides or {}
    from_file = _config_file().get(group.section, {})
    values: dict[str, Any] = {}
    for f, kind in group.fields():
        key = f"{group.section}.{f.name}"
        raw: Any = overrides.get(f.name)
        if raw is None:
            raw = os.environ.get(f.metadata["env"])
        if raw is None:
            raw = from_file.get(f.name)
        values[f.name] = f.default if raw is None else _convert(kind, key, raw)
    instance = group(**values)
    validate = getattr(instance, "validate", None)
    if validate is not None:
        validate()
    return instance


def settings_options(group: type[SettingsGroup]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Click decorator adding one ``--section-field`` option per setting of ``group``.

    Options default to None so that unset options fall through to env, file and default.
    """

    def decorate(command: Callable[..., Any]) -> Callable[..., Any]:
        for f, kind in reversed(list(group.fields())):
            shown = "(hidden)" if f.metadata["secret"] else repr(f.default)
            command = click.option(
                group.option_name(f.name),
                group.param_name(f.name),
                type=kind,
                default=None,
                help=f"{f.metadata['help']} [env {f.metadata['env']}; default {shown}]",
            )(command)
        return command

    return decorate


def pop_settings(group: type[G], params: dict[str, Any]) -> G:
    """Take the options ``settings_options`` added out of click's params and load the group."""
    overrides = {f.name: params.pop(group.param_name(f.name), None) for f, _ in group.fields()}
    return load_settings(group, overrides)


def settings_markdown(groups: list[type[SettingsGroup]]) -> str:
    """The reference table of every setting, as written to docs/settings.md."""
    lines = [
        "# Settings",
        "",
        "Generated by `cosmo-kg settings --markdown`; a test fails when this file drifts.",
        "",
        "Precedence: command-line option > environment variable > config file "
        f"(`{DEFAULT_CONFIG_FILE}` or `${CONFIG_ENV}`) > default.",
        "",
    ]
    for group in groups:
        lines += [
            f"## [{group.section}]",
            "",
            "| key | option | env | default | meaning |",
            "|---|---|---|---|---|",
        ]
        for f, _ in group.fields():
            default = "(hidden)" if f.metadata["secret"] else f"`{f.default!r}`"
            lines.append(
                f"| {f.name} | `{group.option_name(f.name)}` | `{f.metadata['env']}` "
                f"| {default} | {f.metadata['help']} |"
            )
        lines.append("")
    return "\n".join(lines)
