"""The ``[webchat]`` section: the widget's pre-chat survey.

```toml
[[webchat.prechat]]
name = "topic"                 # the answer's key: prechat.topic in intake rules
label = "What is it about?"
type = "choice"                # text | email | choice | number | boolean
choices = ["billing", "cards", "other"]
required = true

[[webchat.prechat]]
name = "order"
label = "Order number"
type = "text"
```

With no fields the widget shows no survey and sessions take any answers.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["text", "email", "choice", "number", "boolean"]
# Answers are read in intake rules as prechat.<name>: keep names plain words.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"


class PrechatField(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, Field(pattern=NAME_PATTERN)]
    label: Annotated[str, Field(max_length=200)] = ""
    type: FieldType = "text"
    required: bool = False
    choices: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(default_factory=list)
    max_length: Annotated[int, Field(ge=1, le=10_000)] = 500
    """Longest text answer, in characters (text and email)."""

    @model_validator(mode="after")
    def _choices(self) -> Self:
        if self.type == "choice" and not self.choices:
            raise ValueError(f"prechat field {self.name!r}: type 'choice' needs choices = [...]")
        if self.type != "choice" and self.choices:
            raise ValueError(f"prechat field {self.name!r}: choices are only for type 'choice'")
        if len(set(self.choices)) != len(self.choices):
            raise ValueError(f"prechat field {self.name!r}: a choice is listed twice")
        return self

    def to_wire(self) -> dict[str, object]:
        wire: dict[str, object] = {
            "name": self.name,
            "label": self.label or self.name,
            "type": self.type,
            "required": self.required,
        }
        if self.type == "choice":
            wire["choices"] = list(self.choices)
        if self.type in ("text", "email"):
            wire["max_length"] = self.max_length
        return wire


class WebchatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prechat: list[PrechatField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        names = [f.name for f in self.prechat]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"prechat fields defined twice: {twice}")
        return self
