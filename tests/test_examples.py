"""Every example config validates, method sections included."""

from pathlib import Path

import pytest

from llm_explore.config import load_config

EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples").glob("*.yaml"))


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_config_validates(path):
    from llm_explore.learner.shaping import CountConfig, RNDConfig
    from llm_explore.methods.deckard.shaper import DeckardConfig
    from llm_explore.methods.ellm.shaper import EllmConfig
    from llm_explore.methods.ige.config import search_config
    from llm_explore.methods.tango.config import TangoConfig

    cfg = load_config(path)
    models = {
        "ellm": EllmConfig,
        "count": CountConfig,
        "rnd": RNDConfig,
        "deckard": DeckardConfig,
        "tango": TangoConfig,
        "tango_template": TangoConfig,
    }
    for section, data in cfg.method.items():
        if section in models:
            models[section].model_validate(data)
        else:  # the search methods: ige, go_explore, llm_agent, random_agent
            search_config(section.replace("_", "-"), cfg)


def test_a_bad_method_section_is_caught():
    from llm_explore.config import RunConfig
    from llm_explore.errors import ConfigError
    from llm_explore.methods.ige.config import search_config

    cfg = RunConfig.model_validate({"method": {"ige": {"trials": 0}}})
    with pytest.raises(ConfigError, match="method.ige.*trials"):
        search_config("ige", cfg)
