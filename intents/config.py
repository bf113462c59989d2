"""The ``[skill_finder]`` section of the config file, validated at start.

```toml
[skill_finder]
model = "skill_finder.npz"     # from `switchboard skills train`; absent: off
min_confidence = 0.5           # below it, intake rules decide alone

[skill_finder.intents.card_arrival]
skills = { cards = 2 }         # added to the item's requirements
queue = "cards"                # optional
priority = 1                   # optional
```

Whether the model file exists, and knows the intents named here, is checked
when the server starts (the filesystem is not config).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from router.items import MAX_LEVEL, MIN_LEVEL

Level = Annotated[int, Field(ge=MIN_LEVEL, le=MAX_LEVEL)]


class IntentRoute(BaseModel):
    """Where a confidently found intent sends the conversation."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    skills: dict[str, Level] = Field(default_factory=dict)
    queue: str | None = None
    priority: int | None = None


class SkillFinderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    model: Path | None = None
    """The model file; None turns the skill finder off."""
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    """Confidence (0-1) below which the intent is not used."""
    intents: dict[str, IntentRoute] = Field(default_factory=dict)
    """Skills, queue and priority per intent; intents not listed only set
    the ``intent`` variable for intake rules."""
