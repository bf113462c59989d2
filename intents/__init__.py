"""The skill finder: an intent classifier, trained from labelled examples,
that reads a customer's first message and sets skills, queue and priority
for routing (as intake attributes ``intent`` and ``intent_confidence``).

``IntentModel`` classifies and loads/saves the model file; ``train`` and
``read_examples`` (``intents.training``, which needs scikit-learn) make one;
``SkillFinder`` (``intents.finder``) applies a model and the ``[skill_finder]``
config to a message.
"""

from intents.config import IntentRoute, SkillFinderConfig
from intents.errors import ExamplesError, ModelFileError, SkillFinderError
from intents.finder import (
    Finding,
    SkillFinder,
    apply_finding,
    attributes_from_context,
    check_skill_finder,
    load_skill_finder,
)
from intents.model import IntentModel, Prediction

__all__ = [
    "ExamplesError",
    "Finding",
    "IntentModel",
    "IntentRoute",
    "ModelFileError",
    "Prediction",
    "SkillFinder",
    "SkillFinderConfig",
    "SkillFinderError",
    "apply_finding",
    "attributes_from_context",
    "check_skill_finder",
    "load_skill_finder",
]
