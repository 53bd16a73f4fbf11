"""Generates ``hooks/REFERENCE.md`` from the host spec's signatures and docstrings."""
from __future__ import annotations

import inspect
import re
from dataclasses import dataclass
from pathlib import Path

from progress_plugin import hookspecs

DEFAULT_PATH = Path("hooks") / "REFERENCE.md"
FIELD_RE = re.compile(r"^:(param (?P<param>\w+)|return|returns|raises (?P<exc>\w+)):\s*(?P<text>.*)$")
FIRSTRESULT_PHRASE = "stops at first non-none result"


@dataclass(frozen=True)
class Hook:
    name: str
    argnames: tuple[str, ...]
    firstresult: bool
    description: str
    params: dict[str, str]
    returns: str | None
    raises: dict[str, str]

    @property
    def signature(self) -> str:
        return f"{self.name}({', '.join(self.argnames)})"


def hooks(module=hookspecs) -> list[Hook]:
    """Every hook spec in ``module``, in source order."""
    marker = f"{hookspecs.PROJECT}_spec"
    out = []
    for name, fn in vars(module).items():
        opts = getattr(fn, marker, None)
        if opts is None or not inspect.isfunction(fn):
            continue
        description, params, returns, raises = parse(inspect.getdoc(fn) or "")
        out.append(Hook(name, tuple(inspect.signature(fn).parameters), bool(opts.get("firstresult")),
                        description, params, returns, raises))
    return out


def parse(doc: str) -> tuple[str, dict[str, str], str | None, dict[str, str]]:
    """Split a docstring into its description, ``:param:`` texts, ``:return:`` text and ``:raises:`` texts."""
    description: list[str] = []
    params: dict[str, str] = {}
    raises: dict[str, str] = {}
    returns: str | None = None
    current: list[str] | None = None
    for line in doc.splitlines():
        m = FIELD_RE.match(line.strip()) if not line.startswith(" ") else None
        if m:
            current = [m.group("text")]
            if m.group("param"):
                params[m.group("param")] = current
            elif m.group("exc"):
                raises[m.group("exc")] = current
            else:
                returns = current
        elif current is not None and line.strip():
            current.append(line.strip())
        elif current is None:
            description.append(line)
    join = " ".join
    return ("\n".join(description).strip(), {k: join(v) for k, v in params.items()},
            join(returns) if returns is not None else None, {k: join(v) for k, v in raises.items()})


def problems(module=hookspecs) -> list[str]:
    """What a hook's docstring lacks to be a reference entry."""
    out = []
    for hook in hooks(module):
        for arg in hook.argnames:
            if arg not in hook.params:
                out.append(f"{hook.name}: no ':param {arg}:'")
        for extra in set(hook.params) - set(hook.argnames):
            out.append(f"{hook.name}: ':param {extra}:' names no argument")
        if hook.returns is None:
            out.append(f"{hook.name}: no ':return:'")
        said = FIRSTRESULT_PHRASE in hook.description.lower()
        if hook.firstresult and not said:
            out.append(f"{hook.name}: firstresult, but the docstring does not say it stops at first non-None result")
        if said and not hook.firstresult:
            out.append(f"{hook.name}: says it stops at first non-None result, but is not firstresult")
    return out


def md(text: str) -> str:
    """reStructuredText bits used in the docstrings, as Markdown."""
    text = re.sub(r":(?:func|class|mod|meth):`~?([\w.]+)`",
                  lambda m: f"[`{m.group(1)}`](#{m.group(1)})" if "." not in m.group(1) else f"`{m.group(1)}`", text)
    return text.replace("``", "`")


def generate(module=hookspecs) -> str:
    """The Markdown reference for every hook in ``module``."""
    entries = hooks(module)
    lines = [
        "# Extension points: hook reference",
        "",
        f"<!-- Generated from {module.__name__.replace('.', '/')}.py by "
        "`progress-plugin hooks reference`. Do not edit by hand. -->",
        "",
        md(inspect.getdoc(module) or ""),
        "",
        f"- pluggy project name: `{hookspecs.PROJECT}`",
        f"- entry point group: `{hookspecs.ENTRY_POINT_GROUP}`",
        "",
        "| hook | results |",
        "| --- | --- |",
    ]
    lines += [f"| [`{h.signature}`](#{h.name}) | {'first non-None' if h.firstresult else 'one per plugin'} |"
              for h in entries]
    for h in entries:
        lines += ["", f'<a id="{h.name}"></a>', "", f"## {h.signature}", ""]
        lines += ["*firstresult: stops at the first non-None result.*" if h.firstresult
                  else "*Returns a list: one result per plugin that returned something other than None.*", ""]
        lines += [md(h.description), "", "**Parameters**", ""]
        lines += [f"- `{arg}`: {md(h.params.get(arg, ''))}" for arg in h.argnames]
        lines += ["", f"**Returns:** {md(h.returns or '')}"]
        for exc, text in h.raises.items():
            lines += ["", f"**Raises** `{exc}`: {md(text)}"]
    return "\n".join(lines).rstrip() + "\n"


def write(path: Path = DEFAULT_PATH) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(generate(), encoding="utf-8")
    return path


def stale(path: Path = DEFAULT_PATH) -> bool:
    """True when ``path`` is missing or differs from what the code generates now."""
    return not path.is_file() or path.read_text(encoding="utf-8") != generate()
