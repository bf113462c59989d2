"""The one exception hierarchy of the skill finder."""


class SkillFinderError(Exception):
    """Base class for every error of the skill finder."""


class ExamplesError(SkillFinderError, ValueError):
    """The labelled examples cannot be read or are not enough to train on."""


class ModelFileError(SkillFinderError, ValueError):
    """A model file is missing, unreadable, or of another format version."""
