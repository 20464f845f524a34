"""The column mapping of a legacy export (a YAML file).

```yaml
kind: members            # members | stores | vouchers
language: zh             # zh | en: the language of the error report
columns:                 # Peony field: the file's column header
  card_number: 会员卡号
  name: 姓名
  ...
tiers:    {普通: regular, 银卡: silver}        # legacy tier label -> Peony tier id
services: {面部护理: facial}                   # legacy package item -> services/{id}
date_formats: ["%Y-%m-%d", "%Y/%m/%d"]
```
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path

import yaml

SHIPPED = Path(__file__).parent / "mappings"

# Peony fields a file of each kind may map, and which of them it must map.
FIELDS = {
    "members": (
        "card_number",
        "legacy_card_number",
        "name",
        "phone",
        "birthday",
        "tier",
        "principal",
        "bonus",
        "points",
        "points_expire",
        "packages",
        "store",
        "notes",
    ),
    "stores": ("store_id", "name", "time_zone", "address"),
    "vouchers": ("card_number", "code", "name", "amount", "min_spend", "valid_until"),
}
REQUIRED = {
    "members": ("card_number", "name", "phone", "store"),
    "stores": ("store_id", "name"),
    "vouchers": ("card_number", "code", "amount"),
}
LANGUAGES = ("zh", "en")
DEFAULT_DATE_FORMATS = ("%Y-%m-%d", "%Y/%m/%d", "%Y.%m.%d", "%Y%m%d")


class MappingError(Exception):
    """The mapping file (or the file's header against it) is unusable; nothing was imported."""


@dataclass(frozen=True)
class Mapping:
    kind: str
    language: str
    columns: dict[str, str]  # Peony field -> header
    tiers: dict[str, str] = field(default_factory=dict)
    services: dict[str, str] = field(default_factory=dict)
    date_formats: tuple[str, ...] = DEFAULT_DATE_FORMATS

    def fitted(self, header: list[str]) -> Mapping:
        """The mapping for a file with this header: a required field's column must be there; an
        optional column the file lacks is left out (its cells read as empty)."""
        present = set(header)
        missing = [self.columns[f] for f in REQUIRED[self.kind] if self.columns[f] not in present]
        if missing:
            raise MappingError(f"required columns are not in the file: {', '.join(missing)}")
        return replace(self, columns={f: h for f, h in self.columns.items() if h in present})


def shipped(name: str) -> Path:
    return SHIPPED / f"{name}.yaml"


def load_mapping(path: Path, kind: str) -> Mapping:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise MappingError(f"cannot read mapping {path}: {exc}") from exc
    return parse_mapping(text, kind, str(path))


def parse_mapping(text: str, kind: str, path: str = "(inline)") -> Mapping:
    """A mapping from its YAML text (a file's, or the ImportService's inline `mapping_yaml`)."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise MappingError(f"cannot read mapping {path}: {exc}") from exc
    if not isinstance(data, dict):
        raise MappingError(f"mapping {path} must be a YAML mapping")
    problems: list[str] = []
    unknown = set(data) - {"kind", "language", "columns", "tiers", "services", "date_formats"}
    if unknown:
        problems.append(f"unknown keys {sorted(unknown)}")
    if data.get("kind", kind) != kind:
        problems.append(f"the mapping is for kind {data.get('kind')!r}, not {kind!r}")
    language = data.get("language", "en")
    if language not in LANGUAGES:
        problems.append(f"language must be one of {LANGUAGES}")
    columns = data.get("columns") or {}
    if not isinstance(columns, dict) or not all(
        isinstance(k, str) and isinstance(v, str) and v.strip() for k, v in columns.items()
    ):
        problems.append("columns must map Peony fields to column headers (text)")
        columns = {}
    bad = set(columns) - set(FIELDS[kind])
    if bad:
        problems.append(f"unknown fields for {kind}: {sorted(bad)} (known: {', '.join(FIELDS[kind])})")
    missing = [f for f in REQUIRED[kind] if f not in columns]
    if missing:
        problems.append(f"required fields not mapped: {', '.join(missing)}")
    maps = {}
    for key in ("tiers", "services"):
        value = data.get(key) or {}
        if not isinstance(value, dict) or not all(
            isinstance(k, str | int) and isinstance(v, str) for k, v in value.items()
        ):
            problems.append(f"{key} must map legacy labels to ids")
            value = {}
        maps[key] = {str(k).strip(): v.strip() for k, v in value.items()}
    formats = data.get("date_formats") or list(DEFAULT_DATE_FORMATS)
    if not isinstance(formats, list) or not all(isinstance(f, str) for f in formats):
        problems.append("date_formats must be a list of strptime formats")
        formats = list(DEFAULT_DATE_FORMATS)
    if problems:
        raise MappingError(f"mapping {path}: " + "; ".join(problems))
    return Mapping(
        kind=kind,
        language=language,
        columns={k: v.strip() for k, v in columns.items()},
        tiers=maps["tiers"],
        services=maps["services"],
        date_formats=tuple(formats),
    )
