"""`fcompile_project.yml`: the project's name and targets, with `{{ env_var() }}` rendered.

Only the selected target is rendered, so a developer without production secrets can still validate.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fcompile.connection_text import credentials_outside_netloc
from fcompile.diagnostics import Code, DiagnosticSink, Position, clipped, did_you_mean, known_names_hint
from fcompile.graph import ProjectInfo, Target
from fcompile.parser.positioned_yaml import PathKey, YamlDocument, load_yaml
from fcompile.parser.structure import check_structure
from fcompile.parser.values import identifier_problems

PROJECT_FILE_NAMES = ("fcompile_project.yml", "fcompile_project.yaml")


@dataclass(frozen=True)
class ProjectFile:
    info: ProjectInfo
    document: YamlDocument


# The largest YAML file (a spec file or the project file) fcompile reads: ten times a 1,000-view project in one
# file. A larger one is refused before it is read, so a mistaken or hostile file cannot fill the memory.
MAX_YAML_FILE_BYTES = 10 * 1024 * 1024


def find_project_file(root: Path) -> Path | None:
    """The project file of `root`: a name of PROJECT_FILE_NAMES that is a file, or that is there but is not one
    (a FIFO, a device): `read_text` then refuses it with a diagnostic rather than the folder seeming empty."""
    found = [root / n for n in PROJECT_FILE_NAMES if os.path.lexists(root / n) and not (root / n).is_dir()]
    return next((p for p in found if p.is_file()), found[0] if found else None)


def read_text(path: Path, sink: DiagnosticSink) -> str | None:
    """The UTF-8 text of a YAML file, or None with an FC004: only a regular file (a symlink to one is followed)
    of at most MAX_YAML_FILE_BYTES is read - a FIFO, a device (/dev/zero, /dev/urandom) or a folder named
    *.yml is refused without waiting on it."""
    where = Position(str(path))
    try:
        # O_NONBLOCK: opening a FIFO does not wait for a writer; the descriptor's own stat then decides
        descriptor = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except OSError as exc:
        sink.error(Code.FILE_UNREADABLE, f"cannot read file: {exc.strerror}", where)
        return None
    with os.fdopen(descriptor, "rb") as handle:
        try:
            status = os.fstat(descriptor)
            if not stat.S_ISREG(status.st_mode):
                sink.error(Code.FILE_UNREADABLE, f"not a regular file ({_file_kind(status.st_mode)}); not read", where,
                           "a YAML file of the project must be a plain file (or a symlink to one): move or rename it")
                return None
            if status.st_size > MAX_YAML_FILE_BYTES:
                sink.error(Code.FILE_UNREADABLE, _TOO_LARGE, where, _TOO_LARGE_HINT)
                return None
            if hasattr(os, "set_blocking"):
                os.set_blocking(descriptor, True)
            data = handle.read(MAX_YAML_FILE_BYTES + 1)  # a file still growing is cut off here, not read on
        except OSError as exc:
            sink.error(Code.FILE_UNREADABLE, f"cannot read file: {exc.strerror}", where)
            return None
    if len(data) > MAX_YAML_FILE_BYTES:
        sink.error(Code.FILE_UNREADABLE, _TOO_LARGE, where, _TOO_LARGE_HINT)
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        sink.error(Code.FILE_UNREADABLE, f"file is not UTF-8 text ({exc.reason})", where, "save the file as UTF-8")
    return None


_TOO_LARGE = f"file is larger than {MAX_YAML_FILE_BYTES // (1024 * 1024)} MiB; not read"
_TOO_LARGE_HINT = "split it into several files; a file this large is not an fcompile spec (is it data?)"


def _file_kind(mode: int) -> str:
    for test, kind in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISSOCK, "a socket"), (stat.S_ISDIR, "a folder")):
        if test(mode):
            return kind
    return "not a plain file"


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


class _EnvRenderer:
    """Renders `{{ env_var('NAME') }}` and `{{ env_var('NAME', 'default') }}` in string values.

    The template is parsed by Jinja but never run: text outside `{{ }}` is kept, and each `{{ }}` must be one
    `env_var()` call with literal arguments, which is evaluated here. Anything else - another name or
    function, an operator, a filter, a `{% %}` statement - is an FC081, so no template can loop, build a
    huge string or reach an object's attributes."""

    def __init__(self, doc: YamlDocument, environ: Any, sink: DiagnosticSink):
        self.doc = doc
        self.environ = environ
        self.sink = sink

    def render(self, value: Any, path: PathKey) -> Any:
        if isinstance(value, dict):
            return {k: self.render(v, path + (k,)) for k, v in value.items()}
        if isinstance(value, list):
            return [self.render(v, path + (i,)) for i, v in enumerate(value)]
        if isinstance(value, str) and ("{{" in value or "{%" in value):
            return self._render_string(value, path)
        return value

    def _render_string(self, text: str, path: PathKey) -> Any:
        import jinja2
        from jinja2 import nodes

        where = self.doc.position(path)
        try:
            tree = _template_parser().parse(text)
        except jinja2.TemplateSyntaxError as exc:
            self._bad(f"invalid template: {clipped(exc.message or exc)}", where)
            return text
        except (jinja2.TemplateError, RecursionError, MemoryError):
            self._bad("invalid template: it does not parse", where)
            return text
        parts: list[str] = []
        for node in tree.body:
            if not isinstance(node, nodes.Output):
                self._bad("invalid template: '{% %}' statements are not supported", where)
                return text
            for child in node.nodes:
                if isinstance(child, nodes.TemplateData):
                    parts.append(child.data)
                    continue
                problem = _env_var_call_problem(child)
                if problem is not None:
                    self._bad(f"invalid template: {problem}", where)
                    return text
                name = child.args[0].value
                if name in self.environ:
                    parts.append(self.environ[name])
                elif len(child.args) > 1:
                    parts.append(str(child.args[1].value))
                else:
                    self.sink.error(Code.ENV_VAR_UNSET, f"environment variable '{clipped(name)}' is not set", where,
                                    f"export {clipped(name)}=..., or give a default: env_var('{clipped(name)}', "
                                    "'value')")
                    return text
        return "".join(parts)

    def _bad(self, message: str, where: Position) -> None:
        self.sink.error(Code.BAD_TEMPLATE, message, where,
                        "only {{ env_var('NAME') }} and {{ env_var('NAME', 'default') }} are available")


def _env_var_call_problem(node: Any) -> str | None:
    """Why an expression between `{{ }}` is not `env_var('NAME')` or `env_var('NAME', default)` with a
    literal text name and a literal default (None when it is one)."""
    from jinja2 import nodes

    if isinstance(node, nodes.Name):
        return f"'{clipped(node.name)}' is not available" if node.name != "env_var" else "env_var must be called"
    if not isinstance(node, nodes.Call) or not isinstance(node.node, nodes.Name):
        return "'{{ }}' may hold only a call of env_var()"
    if node.node.name != "env_var":
        return f"'{clipped(node.node.name)}' is not available"
    literal = all(isinstance(arg, nodes.Const) for arg in node.args)
    if (not 1 <= len(node.args) <= 2 or node.kwargs or node.dyn_args or node.dyn_kwargs or not literal
            or not isinstance(node.args[0].value, str)
            or (len(node.args) == 2 and not isinstance(node.args[1].value, (str, int, float)))):
        return "env_var() takes a quoted variable name and, optionally, a quoted default"
    return None


def _template_parser() -> Any:
    """A Jinja environment used only to parse a template (never to run one)."""
    import jinja2

    return jinja2.Environment(autoescape=False)
