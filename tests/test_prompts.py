"""Prompt templates: shipped ones render, a user folder overrides by name, errors are clear."""

from __future__ import annotations

import pytest

from llm_explore.errors import ConfigError, UnknownNameError
from llm_explore.llm import parse_bullets
from llm_explore.templates import PromptLibrary


def test_shipped_ellm_template_renders_like_the_reference():
    text = PromptLibrary().render("ellm/suggest", caption="You see cow. You are facing cow.")
    assert text.startswith("Valid actions: sleep, eat, attack, chop, drink, place, make, mine")
    assert text.count("What do you do?") == 3  # two worked examples + the query
    # lm.py BulletPrompt: the caption, " What do you do?" and a newline (ellm/suggest_dash adds "-")
    assert text.endswith("You see cow. You are facing cow. What do you do?\n")
    dash = PromptLibrary().render("ellm/suggest_dash", caption="You see cow.")
    assert dash.endswith("You see cow. What do you do?\n-")
    examples, _ = parse_bullets(text)
    assert "Chop tree" in examples


def test_variables_are_documented_and_required():
    lib = PromptLibrary()
    info = lib.info("ellm/suggest")
    assert "caption" in info.variables and info.source == "shipped" and info.description
    with pytest.raises(ConfigError, match="caption"):
        lib.render("ellm/suggest")


def test_user_folder_overrides_by_name(tmp_path):
    (tmp_path / "ellm").mkdir()
    (tmp_path / "ellm" / "suggest.j2").write_text("{#- Mine. -#}\nCUSTOM {{ caption }}")
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "new.j2").write_text("Hello {{ who }}")
    lib = PromptLibrary(tmp_path)
    assert lib.render("ellm/suggest", caption="x") == "CUSTOM x"
    assert lib.info("ellm/suggest").source == "user"
    assert "extra/new" in lib.names() and lib.render("extra/new", who="you") == "Hello you"


def test_unknown_template_lists_valid_names():
    with pytest.raises(UnknownNameError, match="ellm/suggest"):
        PromptLibrary().render("ellm/nope")


def test_bad_prompts_dir_and_syntax(tmp_path):
    with pytest.raises(ConfigError, match="not a folder"):
        PromptLibrary(tmp_path / "missing")
    (tmp_path / "broken.j2").write_text("{% if %}")
    with pytest.raises(ConfigError, match="broken"):
        PromptLibrary(tmp_path).info("broken")


def test_parse_bullets_counts_bad_lines():
    items, bad = parse_bullets("- Chop tree\n* Drink water.\n1. Mine stone\nI think so\n\n")
    assert items == ["Chop tree", "Drink water", "Mine stone"] and bad == ["I think so"]
