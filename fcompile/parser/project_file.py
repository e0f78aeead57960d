"""`fcompile_project.yml`: the project's name and targets, with `{{ env_var() }}` rendered.

Only the selected target is rendered, so a developer without production secrets can still validate.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcompile.connection_text import credentials_outside_netloc
from fcompile.diagnostics import Code, DiagnosticSink, Position, did_you_mean, known_names_hint
from fcompile.graph import ProjectInfo, Target
from fcompile.parser.positioned_yaml import PathKey, YamlDocument, load_yaml
from fcompile.parser.structure import check_structure
from fcompile.parser.values import identifier_problems

PROJECT_FILE_NAMES = ("fcompile_project.yml", "fcompile_project.yaml")


@dataclass(frozen=True)
class ProjectFile:
    info: ProjectInfo
    document: YamlDocument


def find_project_file(root: Path) -> Path | None:
    return next((root / n for n in PROJECT_FILE_NAMES if (root / n).is_file()), None)


def read_text(path: Path, sink: DiagnosticSink) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        sink.error(Code.FILE_UNREADABLE, f"file is not UTF-8 text ({exc.reason})", Position(str(path)),
                   "save the file as UTF-8")
    except OSError as exc:
        sink.error(Code.FILE_UNREADABLE, f"cannot read file: {exc.strerror}", Position(str(path)))
    return None


def load_project_file(root: Path, target: str | None, sink: DiagnosticSink,
                      environ: dict[str, str] | None = None) -> ProjectFile | None:
    if not root.is_dir():
        sink.error(Code.PROJECT_FILE_MISSING, f"project folder {root} does not exist", Position(str(root)),
                   "pass --project-dir with the folder holding fcompile_project.yml")
        return None
    path = find_project_file(root)
    if path is None:
        sink.error(Code.PROJECT_FILE_MISSING, f"no fcompile_project.yml in {root}", Position(str(root)),
                   "run 'fcompile init DIR' to start a project, or pass --project-dir")
        return None
    text = read_text(path, sink)
    if text is None:
        return None
    doc, problems = load_yaml(str(path), text)
    sink.extend(problems)
    if doc is None:
        return None
    if doc.data is None:
        doc.data = {}
    structural, _ = check_structure(doc, "project")
    sink.extend(structural)
    if structural:
        return None
    data = doc.data
    for problem in identifier_problems(data["name"]):
        sink.error(problem.code, f"project name {problem.message}", doc.position(("name",)), problem.hint)

    targets: dict[str, Any] = data["targets"]
    names = tuple(targets)
    chosen, where = target, None
    if chosen is None:
        chosen = data.get("default_target") or names[0]
        where = doc.position(("default_target",)) if "default_target" in data else None
    if chosen not in targets:
        hint = did_you_mean(chosen, names) or known_names_hint("target", names)
        sink.error(Code.UNKNOWN_TARGET, f"unknown target '{chosen}'", where or Position(str(path)), hint)
        return None

    for name, settings in targets.items():
        _check_secrets(doc, settings, ("targets", name), sink)
    env = os.environ if environ is None else environ
    renderer = _EnvRenderer(doc, env, sink)
    offline = renderer.render(targets[chosen]["offline"], ("targets", chosen, "offline"))
    online = renderer.render(targets[chosen]["online"], ("targets", chosen, "online"))
    info = ProjectInfo(
        name=data["name"],
        root=str(root),
        target=Target(chosen, freeze_settings(offline), freeze_settings(online)),
        target_names=names,
        location=doc.position(("name",)),
    )
    return ProjectFile(info, doc)


def render_serving_block(project: ProjectFile, sink: DiagnosticSink,
                         environ: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The selected target's `serving:` block with `{{ env_var() }}` rendered, or None when it has none.
    Only `fcompile serve` calls this, so the other commands never need the server's secrets."""
    chosen = project.info.target.name
    block = project.document.data["targets"][chosen].get("serving")
    if block is None:
        return None
    env = os.environ if environ is None else environ
    return _EnvRenderer(project.document, env, sink).render(block, ("targets", chosen, "serving"))


SECRET_KEYS = frozenset({"password", "private_key_passphrase", "token"})
URL_KEYS = frozenset({"url"})
_CONNINFO_PASSWORD = re.compile(r"(?:^|\s)password\s*=", re.IGNORECASE)  # libpq's key=value form


def _check_secrets(doc: YamlDocument, value: Any, path: PathKey, sink: DiagnosticSink) -> None:
    """FC082 for a credential written into the file (every target's, rendered or not): a `password`,
    `private_key_passphrase` or `token`, or a URL's password, must come from `{{ env_var() }}` - the
    project file is committed, its secrets are not."""
    from urllib.parse import urlsplit

    if isinstance(value, dict):
        for key, item in value.items():
            _check_secrets(doc, item, path + (key,), sink)
        return
    if isinstance(value, list):
        for index, item in enumerate(value):
            _check_secrets(doc, item, path + (index,), sink)
        return
    key = path[-1]
    if not isinstance(value, str) or not value or "env_var(" in value or not isinstance(key, str):
        return
    if key in SECRET_KEYS:
        what = f"`{key}`"
    elif key in URL_KEYS:
        try:
            parts = urlsplit(value)
            written = (bool(parts.password) or credentials_outside_netloc(parts)
                       or _CONNINFO_PASSWORD.search(value) is not None)
        except ValueError:
            written = False
        if not written:
            return
        what = f"the password in `{key}`"
    else:
        return
    variable = "_".join(str(p) for p in path[1:2] + path[-1:]).upper().replace("-", "_")
    sink.error(Code.LITERAL_SECRET, f"{what} is written into the project file: credentials must come from the "
               "environment", doc.position(path), f"write {key}: \"{{{{ env_var('{variable}') }}}}\" and export "
               f"{variable} where fcompile runs (the file is committed; the secret must not be)")


@dataclass(frozen=True)
class EnvVarUse:
    """An `{{ env_var('NAME') }}` in the project file: the variable, whether it has a default, and where."""

    name: str
    has_default: bool
    path: PathKey


def env_var_uses(value: Any, path: PathKey = ()) -> list[EnvVarUse]:
    """Every `env_var()` call with a literal name in the string values of `value` (settings as written,
    not rendered), in order; templates that do not parse are left to the renderer's FC081."""
    import jinja2
    from jinja2 import nodes

    if isinstance(value, dict):
        return [use for key, item in value.items() for use in env_var_uses(item, path + (key,))]
    if isinstance(value, list):
        return [use for index, item in enumerate(value) for use in env_var_uses(item, path + (index,))]
    if not isinstance(value, str) or "env_var" not in value:
        return []
    try:
        tree = jinja2.Environment().parse(value)
    except jinja2.TemplateError:
        return []
    return [EnvVarUse(call.args[0].value, len(call.args) > 1 or bool(call.kwargs), path)
            for call in tree.find_all(nodes.Call)
            if isinstance(call.node, nodes.Name) and call.node.name == "env_var" and call.args
            and isinstance(call.args[0], nodes.Const) and isinstance(call.args[0].value, str)]


def freeze_settings(value: Any) -> Any:
    """Turn nested mappings into sorted tuples of pairs so targets stay immutable."""
    if isinstance(value, dict):
        return tuple(sorted((k, freeze_settings(v)) for k, v in value.items()))
    if isinstance(value, list):
        return tuple(freeze_settings(v) for v in value)
    return value


class _UnsetVariable(Exception):
    def __init__(self, name: str):
        self.name = name


class _EnvRenderer:
    """Renders `{{ env_var('NAME') }}` and `{{ env_var('NAME', 'default') }}` in string values."""

    def __init__(self, doc: YamlDocument, environ: Any, sink: DiagnosticSink):
        self.doc = doc
        self.environ = environ
        self.sink = sink
        self._env: Any = None

    def render(self, value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {k: self.render(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self._render_string(value, path)
        return value

    def _jinja(self) -> Any:
        if self._env is None:
            from jinja2 import StrictUndefined
            from jinja2.sandbox import SandboxedEnvironment

            env = SandboxedEnvironment(undefined=StrictUndefined, autoescape=False)
            env.globals["env_var"] = self._env_var
            self._env = env
        return self._env

    def _env_var(self, name: str, default: Any = None) -> str:
        if name in self.environ:
            return self.environ[name]
        if default is not None:
            return str(default)
        raise _UnsetVariable(name)

    def _render_string(self, text: str, path: PathKey) -> Any:
        import jinja2

        where = self.doc.position(path)
        try:
            return self._jinja().from_string(text).render()
        except _UnsetVariable as unset:
            self.sink.error(Code.ENV_VAR_UNSET, f"environment variable '{unset.name}' is not set", where,
                            f"export {unset.name}=..., or give a default: env_var('{unset.name}', 'value')")
        except jinja2.TemplateError as exc:
            self.sink.error(Code.BAD_TEMPLATE, f"invalid template: {exc.message or exc}", where,
                            "only {{ env_var('NAME') }} and {{ env_var('NAME', 'default') }} are available")
        except Exception as exc:  # a sandbox refusal or a bad call inside the template
            self.sink.error(Code.BAD_TEMPLATE, f"invalid template: {exc}", where,
                            "only {{ env_var('NAME') }} and {{ env_var('NAME', 'default') }} are available")
        return text
