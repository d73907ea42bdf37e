"""`StrictModel`, the base of every config section (its own module so that section modules in
sub-packages can import it without importing the root config, which imports them)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class StrictModel(BaseModel):
    """Base for config sections: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)
