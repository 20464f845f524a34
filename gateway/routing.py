"""HTTP routes compiled from the ``google.api.http`` annotations of gRPC service descriptors.

Nothing here knows about a particular service: :func:`compile_routes` walks every method of every
registered service, reads its ``HttpRule`` (plus ``additional_bindings``) and turns each binding
into a :class:`Route` with a pre-compiled matcher. :class:`Router` answers "which route serves
``METHOD /raw/path``" with one dict lookup and one regex match on the hot path.

Path template grammar (from ``google/api/http.proto``)::

    Template = "/" Segments [ Verb ] ;
    Segments = Segment { "/" Segment } ;
    Segment  = "*" | "**" | LITERAL | Variable ;
    Variable = "{" FieldPath [ "=" Segments ] "}" ;
    FieldPath = IDENT { "." IDENT } ;
    Verb     = ":" LITERAL ;

Matching happens on the raw (still percent-encoded) path so an encoded ``/`` (``%2F``) inside a
resource id never splits a segment. Captured values are decoded afterwards: single-segment
variables fully, multi-segment variables except ``%2F``/``%2f`` (as the spec requires).

Custom verbs: a request path whose last segment contains ``:`` is first tried, with the verb split
off, against the routes that declare that verb (``/v1/{name=members/*}:replace``). Only if no
verb route matches that path (for any HTTP method) is the full path, colon included, tried
against the verb-less routes - so ``POST /v1/members/abc:replace`` reaches ``Replace``,
``GET /v1/members/abc`` reaches ``Get``, and ``GET /v1/members/abc:replace`` is a 405 rather than a
``Get`` of a member called ``abc:replace``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from urllib.parse import unquote

from google.api import annotations_pb2, http_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message_factory

__all__ = [
    "MethodNotAllowed",
    "PathTemplate",
    "Route",
    "RouteConfigError",
    "RouteMatch",
    "Router",
    "TemplateSyntaxError",
    "Variable",
    "compile_routes",
    "parse_template",
]

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*\Z")
_KINDS = ("get", "put", "post", "delete", "patch")


class TemplateSyntaxError(ValueError):
    """A path template that does not follow the HttpRule grammar."""


class RouteConfigError(ValueError):
    """An HttpRule that cannot be served (bad field path, conflicting routes, ...)."""


class MethodNotAllowed(Exception):
    """The path matches at least one route, but not for this HTTP method."""

    def __init__(self, allowed: Sequence[str], template: str):
        super().__init__(f"method not allowed; allowed: {', '.join(allowed)}")
        self.allowed = tuple(allowed)
        self.template = template


# --------------------------------------------------------------------------------------------
# Template parsing


@dataclass(frozen=True)
class Variable:
    field_path: tuple[str, ...]
    segments: tuple[str, ...]  # each "*", "**" or a literal

    @property
    def dotted(self) -> str:
        return ".".join(self.field_path)

    @property
    def multi_segment(self) -> bool:
        return len(self.segments) > 1 or self.segments == ("**",)


@dataclass(frozen=True)
class PathTemplate:
    source: str
    items: tuple[str | Variable, ...]  # top-level segments: "*", "**", literal, or a Variable
    verb: str | None

    @property
    def variables(self) -> tuple[Variable, ...]:
        return tuple(i for i in self.items if isinstance(i, Variable))

    def flat_segments(self) -> list[str]:
        out: list[str] = []
        for item in self.items:
            out.extend(item.segments if isinstance(item, Variable) else (item,))
        return out

    @property
    def first_literal(self) -> str | None:
        """The first path segment when it is a literal (the router's bucket key)."""
        first = self.flat_segments()[0]
        return None if first in ("*", "**") else first

    def specificity(self) -> tuple[int, ...]:
        """Sort key: at each position a literal beats ``*`` which beats ``**``."""
        rank = {"*": 1, "**": 2}
        return tuple(rank.get(s, 0) for s in self.flat_segments())

    def shape(self) -> str:
        """The template with variable names erased: two routes with one shape are ambiguous."""
        return "/" + "/".join(self.flat_segments()) + (f":{self.verb}" if self.verb else "")

    def regex_source(self, group_names: Sequence[str]) -> str:
        """Regex for the raw path *without* the verb, one named group per variable."""
        out: list[str] = []
        names = iter(group_names)
        for index, item in enumerate(self.items):
            if isinstance(item, Variable):
                out.append("/(?P<" + next(names) + ">" + _segments_regex(item.segments) + ")")
            elif item == "**" and index > 0:
                out.append(r"(?:/[^/]+)*")
            else:
                out.append("/" + _segments_regex((item,)))
        return "".join(out)


def _segments_regex(segments: Sequence[str]) -> str:
    out: list[str] = []
    for i, seg in enumerate(segments):
        if seg == "**":
            out.append(r"(?:[^/]+(?:/[^/]+)*)?" if i == 0 else r"(?:/[^/]+)*")
            continue
        if i > 0:
            out.append("/")
        out.append(r"[^/]+" if seg == "*" else re.escape(seg))
    return "".join(out)


def _split_top_level(text: str, sep: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch == "{":
            depth += 1
            if depth > 1:
                raise TemplateSyntaxError("nested '{' in path template")
        elif ch == "}":
            depth -= 1
            if depth < 0:
                raise TemplateSyntaxError("unbalanced '}' in path template")
        elif ch == sep and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    if depth != 0:
        raise TemplateSyntaxError("unbalanced '{' in path template")
    parts.append(text[start:])
    return parts


def _check_segment(seg: str, template: str) -> str:
    if not seg:
        raise TemplateSyntaxError(f"empty segment in path template {template!r}")
    if seg in ("*", "**"):
        return seg
    if any(c in seg for c in "{}=*:?#") or any(c.isspace() for c in seg):
        raise TemplateSyntaxError(f"invalid literal segment {seg!r} in path template {template!r}")
    return seg


def parse_template(template: str) -> PathTemplate:
    """Parse an HttpRule path template; raises :class:`TemplateSyntaxError`."""
    if not template.startswith("/"):
        raise TemplateSyntaxError(f"path template {template!r} must start with '/'")
    body = template[1:]
    verb: str | None = None
    # The verb is the text after the last top-level ':' that follows the last top-level '/'.
    top = _split_top_level(body, "/")
    last = top[-1]
    tail = last[last.rfind("}") + 1 :]
    if ":" in tail:
        verb = tail[tail.index(":") + 1 :]
        if not verb or any(c in verb for c in "/{}*:"):
            raise TemplateSyntaxError(f"invalid custom verb in path template {template!r}")
        top[-1] = last[: len(last) - len(tail)] + tail[: tail.index(":")]
    items: list[str | Variable] = []
    for raw in top:
        if raw.startswith("{"):
            if not raw.endswith("}"):
                raise TemplateSyntaxError(f"variable {raw!r} must be a whole segment in {template!r}")
            inner = raw[1:-1]
            path_part, eq, pattern = inner.partition("=")
            field_path = tuple(path_part.split("."))
            if not all(_IDENT.match(p) for p in field_path):
                raise TemplateSyntaxError(f"invalid field path {path_part!r} in {template!r}")
            segs = tuple(_check_segment(s, template) for s in pattern.split("/")) if eq else ("*",)
            items.append(Variable(field_path, segs))
        else:
            items.append(_check_segment(raw, template))
    flat = [s for i in items for s in (i.segments if isinstance(i, Variable) else (i,))]
    if "**" in flat[:-1]:
        raise TemplateSyntaxError(f"'**' must be the last segment in {template!r}")
    seen: set[tuple[str, ...]] = set()
    for var in (i for i in items if isinstance(i, Variable)):
        if var.field_path in seen:
            raise TemplateSyntaxError(f"field {var.dotted!r} bound twice in {template!r}")
        seen.add(var.field_path)
    return PathTemplate(source=template, items=tuple(items), verb=verb)


# --------------------------------------------------------------------------------------------
# Routes


@dataclass(frozen=True)
class BoundVariable:
    group: str
    variable: Variable
    fields: tuple[_descriptor.FieldDescriptor, ...]


@dataclass(eq=False)
class Route:
    http_method: str  # upper case
    template: PathTemplate
    method: _descriptor.MethodDescriptor
    backend: str  # key into config.service_addrs
    body: str  # "", "*" or a top-level request field name
    response_body: str
    variables: tuple[BoundVariable, ...] = ()
    request_class: type = field(default=None, repr=False)  # type: ignore[assignment]
    response_class: type = field(default=None, repr=False)  # type: ignore[assignment]

    @property
    def grpc_path(self) -> str:
        return f"/{self.method.containing_service.full_name}/{self.method.name}"

    @property
    def path_template(self) -> str:
        return self.template.source

    @property
    def body_field(self) -> _descriptor.FieldDescriptor | None:
        if self.body in ("", "*"):
            return None
        return self.method.input_type.fields_by_name[self.body]

    def __repr__(self) -> str:
        return f"Route({self.http_method} {self.template.source} -> {self.grpc_path})"


@dataclass(frozen=True)
class RouteMatch:
    route: Route
    path_params: dict[str, str]  # dotted field path -> decoded value


def _resolve_field_path(
    message: _descriptor.Descriptor, path: Sequence[str], what: str
) -> tuple[_descriptor.FieldDescriptor, ...]:
    fields = []
    current: _descriptor.Descriptor | None = message
    for i, name in enumerate(path):
        if current is None:
            raise RouteConfigError(f"{what}: {'.'.join(path[:i])} is not a message field")
        f = current.fields_by_name.get(name)
        if f is None:
            raise RouteConfigError(f"{what}: {current.full_name} has no field {name!r}")
        if f.is_repeated and i < len(path) - 1:
            raise RouteConfigError(f"{what}: {name!r} is repeated and cannot be traversed")
        fields.append(f)
        current = f.message_type
    return tuple(fields)


def _rule_bindings(rule: http_pb2.HttpRule) -> tuple[str, str]:
    pattern = rule.WhichOneof("pattern")
    if pattern is None:
        raise RouteConfigError("HttpRule has no pattern")
    if pattern == "custom":
        kind = rule.custom.kind.strip().upper()
        if not kind or not re.fullmatch(r"[A-Z][A-Z0-9_-]*", kind):
            raise RouteConfigError(f"invalid custom HTTP method {rule.custom.kind!r}")
        return kind, rule.custom.path
    return pattern.upper(), getattr(rule, pattern)


def _build_route(
    rule: http_pb2.HttpRule, method: _descriptor.MethodDescriptor, backend: str, classes: tuple[type, type]
) -> Route:
    http_method, path = _rule_bindings(rule)
    where = f"{method.full_name} {http_method} {path}"
    try:
        template = parse_template(path)
    except TemplateSyntaxError as exc:
        raise RouteConfigError(f"{where}: {exc}") from exc
    request = method.input_type
    bound = []
    for i, var in enumerate(template.variables):
        fields = _resolve_field_path(request, var.field_path, where)
        leaf = fields[-1]
        if leaf.is_repeated or leaf.message_type is not None:
            raise RouteConfigError(f"{where}: path variable {var.dotted!r} must be a singular scalar field")
        bound.append(BoundVariable(group=f"v{i}", variable=var, fields=fields))
    body = rule.body
    # A path variable inside the body field ({member.name=members/*} with body "member") is the
    # AIP-134 update shape: the path value wins over the body's.
    if body not in ("", "*") and body not in request.fields_by_name:
        raise RouteConfigError(f"{where}: body field {body!r} is not a top-level request field")
    response_body = rule.response_body
    if response_body and response_body not in method.output_type.fields_by_name:
        raise RouteConfigError(f"{where}: response_body field {response_body!r} does not exist")
    return Route(
        http_method=http_method,
        template=template,
        method=method,
        backend=backend,
        body=body,
        response_body=response_body,
        variables=tuple(bound),
        request_class=classes[0],
        response_class=classes[1],
    )


def routes_for_service(service: _descriptor.ServiceDescriptor, backend: str) -> list[Route]:
    """Every HTTP binding of every annotated method of ``service`` (unannotated methods are skipped)."""
    routes: list[Route] = []
    for method in service.methods:
        if method.client_streaming or method.server_streaming:
            continue  # the gateway forwards unary calls only
        options = method.GetOptions()
        if not options.HasExtension(annotations_pb2.http):
            continue
        rule = options.Extensions[annotations_pb2.http]
        classes = (
            message_factory.GetMessageClass(method.input_type),
            message_factory.GetMessageClass(method.output_type),
        )
        routes.append(_build_route(rule, method, backend, classes))
        for extra in rule.additional_bindings:
            if extra.additional_bindings:
                raise RouteConfigError(f"{method.full_name}: nested additional_bindings are not allowed")
            routes.append(_build_route(extra, method, backend, classes))
    return routes


def compile_routes(services: Iterable[tuple[_descriptor.ServiceDescriptor, str]]) -> Router:
    """Compile every binding of every ``(service descriptor, backend key)`` into a :class:`Router`."""
    routes: list[Route] = []
    for service, backend in services:
        routes.extend(routes_for_service(service, backend))
    return Router(routes)


# --------------------------------------------------------------------------------------------
# Matching


def _decode(value: str, multi_segment: bool) -> str:
    if "%" not in value:
        return value  # nothing encoded (the common case): what unquote would return
    if not multi_segment:
        return unquote(value, errors="strict")
    # Multi-segment variables keep an encoded '/' encoded (reserved expansion).
    return "%2F".join(unquote(part, errors="strict") for part in re.split("%2[Ff]", value))


class _Group:
    """Routes that share a bucket (first literal segment) and a custom verb (or none)."""

    __slots__ = ("by_method", "captures", "routes")

    def __init__(self, routes: list[Route]):
        self.routes = sorted(routes, key=lambda r: r.template.specificity())
        methods: dict[str, list[Route]] = {}
        for r in self.routes:
            methods.setdefault(r.http_method, []).append(r)
        self.by_method = {m: _combine(rs) for m, rs in methods.items()}
        # Per method, per alternative: (dotted field path, regex group, multi-segment) of each
        # variable, computed once rather than per request.
        self.captures = {
            m: [
                tuple((b.variable.dotted, f"r{i}{b.group}", b.variable.multi_segment) for b in r.variables)
                for i, r in enumerate(rs)
            ]
            for m, (_, rs) in self.by_method.items()
        }

    def match(self, method: str, path: str) -> RouteMatch | None:
        entry = self.by_method.get(method)
        if entry is None:
            return None
        regex, routes = entry
        m = regex.fullmatch(path)
        if m is None:
            return None
        index = int(m.lastgroup[2:])  # type: ignore[index]
        route = routes[index]
        params = {
            dotted: _decode(m.group(group), multi_segment)
            for dotted, group, multi_segment in self.captures[method][index]
        }
        return RouteMatch(route, params)

    def allowed(self, path: str) -> list[str]:
        return sorted(m for m, (regex, _) in self.by_method.items() if regex.fullmatch(path))


def _combine(routes: list[Route]) -> tuple[re.Pattern[str], list[Route]]:
    alternatives = []
    for i, r in enumerate(routes):
        source = r.template.regex_source([f"r{i}{b.group}" for b in r.variables])
        # The empty marker group closes last, so ``lastgroup`` names the alternative that matched.
        alternatives.append(f"{source}(?P<_m{i}>)")
    return re.compile("|".join(f"(?:{a})" for a in alternatives)), routes


class Router:
    """Pre-compiled route table. ``match`` is safe to call concurrently (read-only)."""

    def __init__(self, routes: Iterable[Route]):
        self.routes: list[Route] = list(routes)
        shapes: dict[tuple[str, str], Route] = {}
        for r in self.routes:
            key = (r.http_method, r.template.shape())
            if key in shapes:
                raise RouteConfigError(
                    f"{r.http_method} {r.template.source} ({r.method.full_name}) conflicts with "
                    f"{shapes[key].template.source} ({shapes[key].method.full_name})"
                )
            shapes[key] = r
        buckets: dict[tuple[str | None, str | None], list[Route]] = {}
        for r in self.routes:
            buckets.setdefault((r.template.first_literal, r.template.verb), []).append(r)
        self._groups = {key: _Group(rs) for key, rs in buckets.items()}
        self._verbs = {r.template.verb for r in self.routes if r.template.verb}

    def _candidates(self, path: str, verb: str | None) -> list[_Group]:
        end = path.find("/", 1)
        first = path[1:] if end < 0 else path[1:end]
        out = []
        for key in ((first, verb), (None, verb)):
            group = self._groups.get(key)
            if group is not None:
                out.append(group)
        return out

    def match(self, method: str, raw_path: str) -> RouteMatch | None:
        """The route for ``method raw_path`` (raw = still percent-encoded, no query string).

        Returns ``None`` when no route has this path; raises :class:`MethodNotAllowed` when some do
        but not for ``method``; raises ``UnicodeDecodeError`` for undecodable path variables.
        """
        if not raw_path.startswith("/"):
            return None
        slash = raw_path.rfind("/")
        colon = raw_path.rfind(":")
        attempts: list[tuple[str, str | None]] = []
        if colon > slash + 1:
            verb = raw_path[colon + 1 :]
            if verb in self._verbs:
                attempts.append((raw_path[:colon], verb))
        attempts.append((raw_path, None))
        for path, verb in attempts:
            groups = self._candidates(path, verb)
            for group in groups:
                found = group.match(method, path)
                if found is not None:
                    return found
            allowed = sorted({m for g in groups for m in g.allowed(path)})
            if allowed:
                raise MethodNotAllowed(allowed, self._template_for(groups, allowed[0], path))
        return None

    @staticmethod
    def _template_for(groups: list[_Group], method: str, path: str) -> str:
        for g in groups:
            found = g.match(method, path)
            if found is not None:
                return found.route.template.source
        return ""
