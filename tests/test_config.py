"""Config validation: every bad input gets one clear line naming the file and the dotted path."""

from __future__ import annotations

from pathlib import Path

import pytest

from generator.cli.main import main
from generator.config import load_config, parse_config
from generator.core.dates import parse_interval
from generator.core.errors import ConfigError
from generator.core.slugs import animation_slug
from generator.plan.animations import plan_animations

GOOD = """\
site: {title: Test}
sources: {demo: {catalog: cat/catalog.json}}
collections:
  - {id: no2, source: demo, datetime: 2021-01-01/2021-12-31, style: {rescale: [0, 1.5e16]}}
  - {id: lst, source: demo}
regions:
  - {id: fr, geometry: fr.geojson}
  - {id: box, bbox: [0, 40, 10, 50]}
"""


def problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        parse_config(text, Path("site_config.yml"))
    return caught.value.problems


def test_a_good_config_loads_and_defaults_to_every_pair():
    config = parse_config(GOOD, Path("/tmp/x/site_config.yml"))
    specs = plan_animations(config)
    assert [spec.id for spec in specs] == ["no2--fr", "no2--box", "lst--fr", "lst--box"]
    assert specs[0].render.size == 512 and specs[0].render.date_format == "%Y-%m"
    assert config.model.collections[0].style.rescale == (0.0, 1.5e16)


def test_yaml_syntax_error_shows_line_and_column():
    (line,) = problems("site:\n  title: [unclosed\nsources: {}\n")
    assert line.startswith("site_config.yml: YAML syntax error at line 3, column")


def test_unknown_key_names_the_dotted_path_and_the_allowed_keys():
    text = GOOD.replace("style: {rescale: [0, 1.5e16]}", "style: {rescale: [0, 1.5e16], colour: red}")
    (line,) = problems(text)
    assert line.startswith("site_config.yml: collections[0].style.colour: unknown key")
    assert "rescale" in line and "colormap" in line


def test_missing_required_key():
    (line,) = problems(GOOD.replace("site: {title: Test}", "site: {description: x}"))
    assert line == "site_config.yml: site.title: required key is missing"


def test_bad_values_name_their_path():
    text = GOOD.replace("[0, 1.5e16]", "[1, 1]").replace("bbox: [0, 40, 10, 50]", "bbox: [0, 40, 10]")
    lines = problems(text)
    assert any(line.startswith("site_config.yml: collections[0].style.rescale: ") and "empty" in line for line in lines)
    assert "site_config.yml: regions[1].bbox: too few values" in lines


def test_unknown_references_are_listed_together():
    text = GOOD.replace("{id: lst, source: demo}", "{id: lst, source: veda}") + (
        "animations:\n  - {collection: nope, region: fr}\n  - {collection: no2, region: mars}\n"
    )
    lines = problems(text)
    assert "site_config.yml: collections[1].source: unknown source 'veda' (defined sources: demo)" in lines
    assert any(line.startswith("site_config.yml: animations[0].collection: unknown collection 'nope'") for line in lines)
    assert any(line.startswith("site_config.yml: animations[1].region: unknown region 'mars'") for line in lines)


def test_duplicate_ids_and_colliding_slugs_are_errors():
    text = GOOD + "animations:\n  - {id: A, collection: no2, region: fr}\n  - {id: a, collection: lst, region: fr}\n"
    config = parse_config(text, Path("site_config.yml"))
    with pytest.raises(ConfigError, match=r"animations\[1\]\.id: .*both become the folder name 'a'"):
        plan_animations(config)


def test_region_needs_exactly_one_shape():
    (line,) = problems(GOOD.replace("{id: box, bbox: [0, 40, 10, 50]}", "{id: box}"))
    assert line.startswith("site_config.yml: regions[1]: give exactly one of `geometry`")


@pytest.mark.parametrize("text", ["../../etc", "a/b", "..", "x\\y", "Ünïcode id!"])
def test_slugs_never_escape_the_output_folder(text):
    slug = animation_slug(text)
    assert "/" not in slug and "\\" not in slug and ".." not in slug and not slug.startswith(".")


def test_datetime_intervals():
    interval = parse_interval("2021-01-01/2022-12-31")
    assert interval.start.isoformat() == "2021-01-01T00:00:00+00:00"
    assert interval.end.isoformat() == "2022-12-31T23:59:59.999999+00:00"  # an end date covers its day
    assert parse_interval("../2021-06-30T12:00:00Z").start is None
    assert parse_interval("2021-06-01T00:00:00+02:00/..").start.hour == 22  # normalised to UTC
    with pytest.raises(ValueError, match="ends before it starts"):
        parse_interval("2022-01-01/2021-01-01")
    (line,) = problems(GOOD.replace("2021-01-01/2021-12-31", "last year"))
    assert line.startswith("site_config.yml: collections[0].datetime: not a date")


def test_cli_prints_one_line_per_problem_and_exits_2(tmp_path, capsys):
    config = tmp_path / "site_config.yml"
    config.write_text(GOOD.replace("site: {title: Test}", "site: {title: Test, colour: 1}"))
    assert main(["build", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: {config}: site.colour: unknown key (allowed keys here: base_url, description, templates, title)"]


def test_missing_config_file(tmp_path, capsys):
    assert main(["build", "--config", str(tmp_path / "nope.yml")]) == 2
    assert "config file not found" in capsys.readouterr().err


def test_load_config_resolves_relative_to_the_file(tmp_path):
    path = tmp_path / "conf" / "site_config.yml"
    path.parent.mkdir()
    path.write_text(GOOD)
    assert load_config(path).base_dir == path.parent.resolve()


def test_a_key_given_twice_is_an_error_naming_the_key_and_both_lines():
    assert problems("site: {title: A}\nsite: {title: B}\n" + GOOD.split("\n", 1)[1]) == [
        "site_config.yml: key 'site' appears twice in one mapping (lines 1 and 2): remove one of them"
    ]
    nested = GOOD.replace("{id: lst, source: demo}", "{id: lst, source: demo, id: lst2}")
    assert problems(nested) == [
        "site_config.yml: key 'id' appears twice in one mapping (lines 5 and 5): remove one of them"
    ]


def test_aliases_work_but_an_alias_bomb_fails_fast_with_one_line():
    shared = GOOD.replace("style: {rescale: [0, 1.5e16]}", "style: &no2_style {rescale: [0, 1.5e16]}")
    shared = shared.replace("{id: lst, source: demo}", "{id: lst, source: demo, style: *no2_style}")
    config = parse_config(shared, Path("/tmp/x/site_config.yml"))
    assert config.model.collections[1].style.rescale == (0.0, 1.5e16)

    levels = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    for previous, name in zip("abcdefgh", "bcdefghi", strict=True):
        levels.append(f"{name}: &{name} [{', '.join([f'*{previous}'] * 10)}]")
    bomb = "\n".join(levels) + "\nsite: {title: *i}\n"  # 10^9 values once expanded
    (problem,) = problems(bomb)
    assert "expands to more than 200,000 values through its aliases" in problem


def test_deep_nesting_and_huge_values_give_one_short_line():
    (problem,) = problems("[" * 50_000 + "]" * 50_000)
    assert problem == "site_config.yml: the YAML is nested too deeply to be a site config"
    long_title = GOOD.replace("title: Test", "title: [" + ", ".join(["'" + "y" * 500 + "'"] * 100) + "]")
    (problem,) = problems(long_title)
    assert problem.startswith("site_config.yml: site.title: Input should be a valid string (got [")
    assert len(problem) < 300
