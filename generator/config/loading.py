"""Reading ``site_config.yml``: safe YAML, validation into ``SiteConfig``, cross-references, and
one readable line per problem naming the file and the dotted path of the bad value.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, Field, ValidationError
from pydantic_core import ErrorDetails

from generator.config.base import StrictModel
from generator.config.render import RenderSection, basemap_crs_problem
from generator.config.sections import (
    AnimationSection,
    CacheSection,
    CollectionSection,
    ExecutorSection,
    RegionSection,
    SiteSection,
    SourceSection,
)
from generator.core.errors import ConfigError, quote_value
from generator.core.redaction import REDACTED, redact_urls_in_text


class SiteConfig(StrictModel):
    site: SiteSection
    sources: dict[str, SourceSection] = Field(min_length=1)
    collections: list[CollectionSection] = Field(min_length=1)
    regions: list[RegionSection] = Field(min_length=1)
    animations: list[AnimationSection] | None = None
    render: RenderSection = RenderSection()
    cache: CacheSection = CacheSection()
    executor: ExecutorSection = ExecutorSection()


@dataclass(frozen=True)
class LoadedConfig:
    """A validated config plus where it came from (paths in it are relative to ``base_dir``)."""

    model: SiteConfig
    path: Path

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def dotted_path(loc: tuple[int | str, ...]) -> str:
    """``("collections", 1, "style", "rescale")`` → ``collections[1].style.rescale``."""
    text = ""
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text or "(top level)"


def _known_keys(loc: tuple[int | str, ...]) -> list[str]:
    """Field names allowed at the mapping that holds ``loc``'s last key (for 'unknown key' hints)."""
    model: Any = SiteConfig
    for part in loc[:-1]:
        if isinstance(part, int) or model is None:
            continue
        field = model.model_fields.get(part) if hasattr(model, "model_fields") else None
        if field is None:
            # Dict-valued sections (sources) are keyed by user names: stay on the value model.
            continue
        model = _model_of(field.annotation)
    return sorted(model.model_fields) if model is not None and hasattr(model, "model_fields") else []


def _model_of(annotation: Any) -> Any:
    """Find the pydantic model inside ``X | None``, ``list[X]`` or ``dict[str, X]``."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    for arg in getattr(annotation, "__args__", ()):
        found = _model_of(arg)
        if found is not None:
            return found
    return None


#: How many values the YAML document may hold once its aliases are expanded. A real config holds
#: a few thousand; an "alias bomb" (aliases of aliases) reaches billions from a few lines and would
#: exhaust memory when validated or quoted in a message.
MAX_EXPANDED_VALUES = 200_000




class _ConfigLoader(yaml.SafeLoader):
    """PyYAML's safe loader, refusing a key given twice in one mapping (YAML says keys are unique;
    PyYAML silently keeps the last one, so a second ``site:`` would hide the first)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        lines: dict[tuple[str, str], int] = {}
        for key_node, _ in node.value:
            if not isinstance(key_node, yaml.ScalarNode) or key_node.value == "<<":
                continue
            key, line = (key_node.tag, key_node.value), key_node.start_mark.line + 1
            if key in lines:
                raise _DuplicateKey(f"key {key_node.value!r} appears twice in one mapping (lines {lines[key]} and {line})")
            lines[key] = line
        return super().construct_mapping(node, deep=deep)


class _DuplicateKey(Exception):
    pass


def _expanded_size(node: yaml.Node, sizes: dict[int, int]) -> int:
    """How many values ``node`` stands for with every alias expanded (shared nodes counted once each use)."""
    known = sizes.get(id(node))
    if known is not None:
        return known
    size = 1
    if isinstance(node, yaml.SequenceNode):
        size += sum(_expanded_size(child, sizes) for child in node.value)
    elif isinstance(node, yaml.MappingNode):
        size += sum(_expanded_size(key, sizes) + _expanded_size(value, sizes) for key, value in node.value)
    sizes[id(node)] = size = min(size, MAX_EXPANDED_VALUES + 1)
    return size


def _load_yaml(text: str, path: Path) -> Any:
    loader = _ConfigLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        if _expanded_size(node, {}) > MAX_EXPANDED_VALUES:
            raise ConfigError(
                f"{path}: the YAML expands to more than {MAX_EXPANDED_VALUES:,} values through its aliases "
                "(`*name`); write the repeated parts out or use fewer nested aliases"
            )
        return loader.construct_document(node)
    except _DuplicateKey as error:
        raise ConfigError(f"{path}: {error}: remove one of them") from None
    except RecursionError:
        raise ConfigError(f"{path}: the YAML is nested too deeply to be a site config") from None
    finally:
        loader.dispose()


def _describe(error: ErrorDetails) -> str:
    loc = tuple(part for part in error["loc"] if not str(part).startswith(("function-", "tagged-union")))
    # pydantic reports union members as extra loc parts (e.g. 'str', 'list[str]'); drop them.
    loc = tuple(part for part in loc if not (isinstance(part, str) and ("[" in part or part in {"str", "int", "float", "dict"})))
    path = dotted_path(loc)
    kind = error["type"]
    if kind == "extra_forbidden":
        known = _known_keys(loc)
        hint = f" (allowed keys here: {', '.join(known)})" if known else ""
        return f"{path}: unknown key{hint}"
    if kind == "missing":
        if loc and isinstance(loc[-1], int):
            return f"{dotted_path(loc[:-1])}: too few values"
        return f"{path}: required key is missing"
    message = str(error["msg"]).removeprefix("Value error, ")
    if kind == "value_error":
        return f"{path}: {message}"
    # A header's value is a secret (a token, a key) even when it is the wrong type.
    got = REDACTED if "headers" in loc else redact_urls_in_text(quote_value(error["input"]))
    return f"{path}: {message} (got {got})"


def _unique(items: list[Any], what: str, section: str) -> list[str]:
    seen: dict[str, int] = {}
    problems = []
    for index, item in enumerate(items):
        if item.id in seen:
            problems.append(
                f"{section}[{index}].id: duplicate {what} id {item.id!r} "
                f"(also {section}[{seen[item.id]}]); ids must be unique"
            )
        seen.setdefault(item.id, index)
    return problems


def _cross_check(config: SiteConfig) -> list[str]:
    problems = [
        f"{problem} (to show one STAC collection twice, give each entry its own `id` and the same `stac_collection`)"
        for problem in _unique(config.collections, "collection", "collections")
    ]
    problems += _unique(config.regions, "region", "regions")
    source_names = sorted(config.sources)
    for index, collection in enumerate(config.collections):
        if collection.source not in config.sources:
            problems.append(
                f"collections[{index}].source: unknown source {collection.source!r} "
                f"(defined sources: {', '.join(source_names)})"
            )
    for index, collection in enumerate(config.collections):
        source = config.sources.get(collection.source)
        if collection.filter is not None and source is not None and source.api is None:
            problems.append(
                f"collections[{index}].filter: collection {collection.id!r} reads source {collection.source!r}, "
                "which is not a STAC API; a CQL2 `filter` is evaluated by STAC APIs that declare the filter "
                "extension only — use `query` (evaluated here for any source)"
            )
    for index, animation in enumerate(config.animations or []):
        merged = config.render.merged(animation.render)
        problem = basemap_crs_problem(merged.crs, merged.basemap)
        if problem:
            problems.append(f"animations[{index}].{problem}")
    collection_ids = [collection.id for collection in config.collections]
    region_ids = [region.id for region in config.regions]
    for index, animation in enumerate(config.animations or []):
        if animation.collection not in collection_ids:
            problems.append(
                f"animations[{index}].collection: unknown collection {animation.collection!r} "
                f"(defined under collections: {', '.join(collection_ids)})"
            )
        if animation.region not in region_ids:
            problems.append(
                f"animations[{index}].region: unknown region {animation.region!r} "
                f"(defined under regions: {', '.join(region_ids)})"
            )
    return problems


def parse_config(text: str, path: Path) -> LoadedConfig:
    """Validate YAML text as a site config; ``path`` is used for messages and relative paths."""
    try:
        data = _load_yaml(text, path)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = error.problem or error.context or "invalid YAML"
        raise ConfigError(f"{path}: YAML syntax error{where}: {problem}") from None
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: YAML error: {error}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping with `site`, `sources`, `collections` and `regions` at the top level")
    try:
        model = SiteConfig.model_validate(data)
    except ValidationError as error:
        raise ConfigError([f"{path}: {_describe(item)}" for item in error.errors()]) from None
    problems = _cross_check(model)
    if problems:
        raise ConfigError([f"{path}: {problem}" for problem in problems])
    return LoadedConfig(model=model, path=path.resolve())


def load_config(path: Path) -> LoadedConfig:
    """Read and validate ``site_config.yml``; raises ``ConfigError`` listing every problem."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file not found (pass --config PATH)") from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read config file: {error}") from None
    return parse_config(text, path)
