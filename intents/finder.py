"""Apply a model and the ``[skill_finder]`` config to a customer's message.

The finding becomes intake attributes: ``intent`` (null when the model is
not sure enough, so rules fall back to their own conditions),
``intent_confidence`` and ``intent_guess`` (the best intent even when unsure),
plus the skills, queue and priority the config maps a sure intent to.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

from intents.config import IntentRoute, SkillFinderConfig
from intents.errors import ModelFileError
from intents.model import IntentModel, Prediction
from router.items import SkillRequirement, WorkItem


class Classifier(Protocol):
    """What the finder needs of a model: ``IntentModel`` (TF-IDF) or
    ``EmbeddingIntentModel`` (over a transformers encoder)."""

    @property
    def classes(self) -> tuple[str, ...]: ...

    def classify(self, text: str) -> Prediction: ...


@dataclass(frozen=True, slots=True)
class Finding:
    guess: str
    confidence: float
    sure: bool
    route: IntentRoute | None
    """The configured route of a sure intent, if any."""

    @property
    def intent(self) -> str | None:
        return self.guess if self.sure else None

    def attributes(self) -> dict[str, Any]:
        """Variables for intake-rule conditions."""
        return {
            "intent": self.intent,
            "intent_confidence": round(self.confidence, 4),
            "intent_guess": self.guess,
        }

    def to_wire(self) -> dict[str, Any]:
        return {
            "name": self.intent,
            "guess": self.guess,
            "confidence": round(self.confidence, 4),
            "applied": self.route is not None,
        }


class SkillFinder:
    def __init__(
        self,
        model: Classifier,
        config: SkillFinderConfig,
        queues: Collection[str] | None = None,
    ) -> None:
        """Raises ``ModelFileError`` when the config names an intent the model
        does not know, or a queue routing does not have."""
        unknown = sorted(set(config.intents) - set(model.classes))
        if unknown:
            raise ModelFileError(
                f"skill_finder.intents names intents the model does not know: {unknown}"
                f" (the model has {len(model.classes)}, e.g. {list(model.classes[:5])})"
            )
        if queues is not None:
            for name, route in config.intents.items():
                if route.queue is not None and route.queue not in queues:
                    raise ModelFileError(
                        f"skill_finder.intents.{name}.queue: unknown queue {route.queue!r}"
                        f" (queues: {sorted(queues)})"
                    )
        self.model = model
        self.config = config
        self.inline = isinstance(model, IntentModel)
        """Cheap enough for the event loop (TF-IDF: about 0.1 ms); an encoder
        runs a neural network, which the server runs on a thread."""

    def find(self, text: str) -> Finding:
        prediction = self.model.classify(text)
        sure = prediction.confidence >= self.config.min_confidence
        route = self.config.intents.get(prediction.intent) if sure else None
        return Finding(prediction.intent, prediction.confidence, sure, route)

    def find_in(self, messages: Sequence[str]) -> Finding:
        """The most confident finding over the customer's first messages:
        the latest one alone, and all of them together (a question spread
        over "hi" and "my card never came" reads best whole)."""
        if not messages:
            raise ValueError("no messages to read")
        found = self.find(messages[-1])
        if len(messages) > 1:
            whole = self.find("\n".join(messages))
            if whole.confidence > found.confidence:
                found = whole
        return found


def apply_finding(item: WorkItem, found: Finding) -> WorkItem:
    """The item as intake should see it: the finding's variables in its
    attributes, and, for a sure intent with a route, its skills added and
    its queue and priority set (intake rules may still override them)."""
    attributes = {**item.attributes, **found.attributes()}
    route = found.route
    if route is None:
        return replace(item, attributes=attributes)
    skills = item.skills + tuple(SkillRequirement(n, lvl) for n, lvl in route.skills.items())
    return replace(
        item,
        attributes=attributes,
        skills=skills,
        queue=route.queue if route.queue is not None and item.queue is None else item.queue,
        priority=route.priority if route.priority is not None else item.priority,
    )


def load_skill_finder(
    config: SkillFinderConfig, queues: Collection[str] | None = None
) -> SkillFinder | None:
    """The configured skill finder, or None when ``model`` is not set.
    Raises ``ModelFileError`` for a missing or foreign file, or a config the
    model does not fit (the server does not start)."""
    if config.model is None:
        return None
    if config.backend == "transformers":
        from intents.embedded import EmbeddingIntentModel  # torch: only when configured
        from intents.encoder import load_encoder

        assert config.encoder is not None  # checked by the config
        try:
            encoder = load_encoder(config.encoder)
        except ModelFileError as exc:
            raise ModelFileError(f"skill_finder.encoder: {exc}") from None
        model: Classifier = EmbeddingIntentModel.load(config.model, encoder)
    else:
        model = IntentModel.load(config.model)
    return SkillFinder(model, config, queues)


def check_skill_finder(
    config: SkillFinderConfig, queues: Collection[str], skills: Collection[str] = ()
) -> None:
    """At config load: the model file loads, the intents and queues it maps
    exist, and (when routing declares skills) the skills are declared.
    Raises ``ModelFileError`` (a ``ValueError``) naming the problem."""
    if skills:
        for name, route in config.intents.items():
            unknown = sorted(set(route.skills) - set(skills))
            if unknown:
                raise ModelFileError(
                    f"skill_finder.intents.{name}.skills: undeclared skills {unknown}"
                    f" (routing.skills: {sorted(skills)})"
                )
    load_skill_finder(config, queues)


def attributes_from_context(context: Mapping[str, Any]) -> dict[str, Any]:
    """The intake variables of a finding kept in a conversation's context
    (``context.intent``, see ``Finding.to_wire``), for a conversation that
    enters routing again (after a restart or a bot's hand-off); {} if none."""
    kept = context.get("intent")
    if not isinstance(kept, Mapping) or not isinstance(kept.get("guess"), str):
        return {}
    confidence = kept.get("confidence")
    return {
        "intent": kept.get("name") if isinstance(kept.get("name"), str) else None,
        "intent_confidence": confidence if isinstance(confidence, int | float) else None,
        "intent_guess": kept["guess"],
    }
