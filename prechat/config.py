"""The ``[webchat]`` section: the widgets' pre-chat surveys.

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

These fields are the default widget's. Other widgets (a site, a product, a
language) have their own, and pass their ``id`` (``/chat?widget=shop``):

```toml
[[webchat.widgets]]
id = "shop"
[[webchat.widgets.prechat]]
name = "order"
label = "Order number"
required = true
```

With no fields the widget shows no survey and sessions take any answers.
"""

from __future__ import annotations

from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

FieldType = Literal["text", "email", "choice", "number", "boolean"]
# Answers are read in intake rules as prechat.<name>: keep names plain words.
NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]{0,63}$"
WIDGET_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$"
DEFAULT_WIDGET = "default"
"""The widget of ``[[webchat.prechat]]``, and of sessions that name none."""


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


def _unique_fields(fields: list[PrechatField], where: str) -> None:
    names = [f.name for f in fields]
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"{where}: prechat fields defined twice: {twice}")


class WidgetConfig(BaseModel):
    """One ``[[webchat.widgets]]`` entry: a widget's own pre-chat survey."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: Annotated[str, Field(pattern=WIDGET_PATTERN)]
    prechat: list[PrechatField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_fields(self.prechat, f"widget {self.id!r}")
        return self


class WebchatConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    prechat: list[PrechatField] = Field(default_factory=list)
    """The default widget's fields."""
    widgets: list[WidgetConfig] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique(self) -> Self:
        _unique_fields(self.prechat, "webchat.prechat")
        ids = [w.id for w in self.widgets]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"widgets defined twice: {twice}")
        if DEFAULT_WIDGET in ids and self.prechat:
            raise ValueError(
                f"the {DEFAULT_WIDGET!r} widget is defined twice: by [[webchat.prechat]]"
                f" and by [[webchat.widgets]] id = {DEFAULT_WIDGET!r}; keep one"
            )
        return self

    def widget(self, widget_id: str | None) -> WidgetConfig | None:
        """The widget with this id (None: the default one), or None when
        there is no such widget."""
        wanted = DEFAULT_WIDGET if widget_id is None else widget_id
        for widget in self.widgets:
            if widget.id == wanted:
                return widget
        if wanted == DEFAULT_WIDGET:
            return WidgetConfig(id=DEFAULT_WIDGET, prechat=self.prechat)
        return None

    def widget_ids(self) -> list[str]:
        ids = [w.id for w in self.widgets]
        return ids if DEFAULT_WIDGET in ids else [DEFAULT_WIDGET, *ids]
