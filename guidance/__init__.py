"""Agent guidance: scripts of steps chosen per conversation, macros that act
on a conversation, searchable canned responses with templates, and an
extractive summary for the agent who takes a conversation over.

Pure and synchronous; the HTTP shell is gateway/guidance_api.py and the
stored progress lives in ``guidance.store``.
"""

from guidance.canned import search
from guidance.config import (
    CannedConfig,
    MacroConfig,
    ScriptConfig,
    check_references,
)
from guidance.errors import GuidanceError, StepError, TemplateError
from guidance.macros import Close, Planned, Send, SetContext, Transfer, plan
from guidance.scripts import (
    StepProgress,
    check_mark,
    choose_script,
    conversation_facts,
    fingerprint,
    script_view,
    step_of,
)
from guidance.summary import Happening, Line, Summary, summarize
from guidance.templates import Escape, Template, template_values

__all__ = [
    "CannedConfig",
    "Close",
    "Escape",
    "GuidanceError",
    "Happening",
    "Line",
    "MacroConfig",
    "Planned",
    "ScriptConfig",
    "Send",
    "SetContext",
    "StepError",
    "StepProgress",
    "Summary",
    "Template",
    "TemplateError",
    "Transfer",
    "check_mark",
    "check_references",
    "choose_script",
    "conversation_facts",
    "fingerprint",
    "plan",
    "script_view",
    "search",
    "step_of",
    "summarize",
    "template_values",
]
