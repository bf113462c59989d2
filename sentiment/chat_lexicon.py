"""Customer-service chat additions to VADER's lexicon: words, phrases, emoji.

Everything here is data; `sentiment.lexicon` applies it. Valences use VADER's
scale (-4 .. +4, a mean human rating per word). Entries are domain knowledge
about customer-service conversations, not fitted to any benchmark file:

- words whose chat meaning differs from VADER's general one (a customer
  "needs help"; that is a request, not a positive feeling),
- phrases that carry sentiment no single word does ("still waiting",
  "cancel my account", "that fixed it"),
- *expected service events* ("replied", "arrived", "working"): neutral when
  stated, a complaint when negated ("nobody has replied", "still not working"),
- emoji that VADER's emoji descriptions leave at zero ("pouting face").
"""

from __future__ import annotations

from typing import Final

#: Word valences added to (or replacing) VADER's.
WORDS: Final[dict[str, float]] = {
    # Ubiquitous request words: neutral in a support chat.
    "please": 0.0,
    "pls": 0.0,
    "plz": 0.0,
    "support": 0.0,
    # Chat abbreviations and CS words VADER lacks or misreads.
    "tysm": 2.6,
    "thx": 1.8,
    "thnx": 1.8,
    "ty": 1.8,
    "sigh": -1.2,
    "smh": -1.6,
    "unhelpful": -1.9,
    "overcharged": -2.1,
    "ripoff": -2.5,
    "rip-off": -2.5,
    "scammed": -2.8,
    "useless": -2.2,
    "incompetent": -2.4,
    "unresponsive": -1.9,
    "slow": -1.0,
}

#: Multi-word expressions scored as one token. Matched on whole lower-cased
#: words inside one clause, longest first. Negation before a phrase still
#: flips it ("hasn't fixed it").
PHRASES: Final[dict[str, float]] = {
    # Waiting and chasing.
    "still waiting": -2.0,
    "been waiting": -1.6,
    "waiting for hours": -2.2,
    "waiting for days": -2.2,
    "waited for hours": -2.2,
    "on hold": -1.2,
    "been on hold": -1.8,
    "still no": -1.8,
    "still nothing": -2.0,
    "third time": -1.8,
    "fourth time": -2.0,
    "fifth time": -2.2,
    "how many times": -2.0,
    "how many more times": -2.2,
    "again and again": -1.8,
    "over and over": -1.5,
    "no response": -1.9,
    "no reply": -1.9,
    "no answer": -1.7,
    "no update": -1.5,
    "no updates": -1.5,
    "no one cares": -2.5,
    "nobody cares": -2.5,
    "waste of time": -2.4,
    "a joke": -1.6,
    "what a joke": -2.2,
    # Churn and escalation intent.
    "cancel my account": -2.2,
    "cancel my subscription": -2.2,
    "cancel my order": -1.6,
    "cancel my membership": -2.2,
    "close my account": -1.8,
    "want my money back": -2.2,
    "money back": -1.2,
    "charged twice": -2.2,
    "double charged": -2.2,
    "file a complaint": -2.3,
    "speak to a manager": -1.8,
    "speak to your manager": -1.8,
    "talk to a manager": -1.8,
    "speak to a supervisor": -1.8,
    "talk to a supervisor": -1.8,
    "speak to a human": -1.6,
    "talk to a human": -1.6,
    "real person": -1.0,
    "never again": -2.2,
    "last time i": -1.0,
    "taking my business elsewhere": -2.6,
    # Requests that VADER reads as warmth ("help" is 1.7 in its lexicon).
    "need help": 0.0,
    "help me": 0.0,
    "help with": 0.0,
    "can you help": 0.0,
    "could you help": 0.0,
    "please help": 0.0,
    "help needed": 0.0,
    # Resolution and gratitude.
    "thank you so much": 2.8,
    "thanks so much": 2.8,
    "thanks a lot": 2.2,
    "thanks a million": 2.8,
    "much appreciated": 2.4,
    "appreciate it": 2.0,
    "appreciate your help": 2.4,
    "fixed it": 2.0,
    "is fixed": 1.6,
    "got fixed": 1.6,
    "works now": 2.0,
    "working now": 2.0,
    "it works": 1.6,
    "that worked": 2.0,
    "problem solved": 2.2,
    "issue solved": 2.2,
    "problem resolved": 2.2,
    "issue resolved": 2.2,
    "all sorted": 2.0,
    "sorted it": 1.8,
    "you rock": 2.6,
    "you guys rock": 2.6,
    "above and beyond": 2.6,
    "quick response": 1.8,
    "fast response": 1.8,
    "quick reply": 1.8,
    "no problem": 1.2,
    "no worries": 1.2,
    "no issues": 1.0,
}

#: Multi-word negators rewritten to one word VADER-style rules can see.
NEGATION_ALIASES: Final[dict[str, str]] = {
    "no one": "nobody",
    "no-one": "nobody",
    "noone": "nobody",
}

#: Negators VADER's NEGATE list lacks (it has "never", "none", "nothing", ...).
EXTRA_NEGATIONS: Final[frozenset[str]] = frozenset({"nobody", "noone"})

#: Expected service events: (valence when stated, valence when negated).
#: "It arrived" is no cause for joy, "it never arrived" is a complaint.
EXPECTED_EVENTS: Final[dict[str, tuple[float, float]]] = {
    "replied": (0.0, -1.9),
    "reply": (0.0, -1.6),
    "responded": (0.0, -1.9),
    "answered": (0.0, -1.9),
    "answering": (0.0, -1.9),
    "arrived": (0.0, -1.8),
    "received": (0.0, -1.6),
    "delivered": (0.0, -1.8),
    "refunded": (0.0, -1.9),
    "working": (0.0, -2.0),
    "work": (0.0, -1.8),
    "works": (0.0, -1.8),
    "fixed": (0.0, -2.0),
    "resolved": (0.7, -2.0),
    "solved": (1.1, -2.0),
}

#: Words before "like" that make it a comparison or a request, not fondness
#: ("looks like it's lost", "I would like a refund").
LIKE_NOT_FONDNESS_AFTER: Final[frozenset[str]] = frozenset(
    {
        "look",
        "looks",
        "looked",
        "seem",
        "seems",
        "seemed",
        "feel",
        "feels",
        "felt",
        "sound",
        "sounds",
        "sounded",
        "something",
        "anything",
        "nothing",
        "would",
        "i'd",
        "we'd",
        "more",
        "less",
    }
)

#: Emoji whose VADER description scores zero but whose meaning in chat is clear.
EMOJI: Final[dict[str, float]] = {
    "\U0001f621": -2.6,  # pouting face
    "\U0001f92c": -3.0,  # face with symbols on mouth
    "\U0001f624": -1.8,  # face with steam from nose
    "\U0001f644": -1.6,  # face with rolling eyes
    "\U0001f612": -1.6,  # unamused face
    "\U0001f926": -1.6,  # person facepalming
    "\U0001f611": -0.8,  # expressionless face
    "\U0001f616": -1.8,  # confounded face
    "\U0001f44e": -1.8,  # thumbs down
    "\u274c": -0.8,  # cross mark
    "\U0001f44d": 1.6,  # thumbs up
    "\U0001f64f": 1.0,  # folded hands (thanks / please)
    "\U0001f4af": 1.4,  # hundred points
    "\U0001f64c": 1.8,  # raising hands
    "\U0001f44f": 1.5,  # clapping hands
}

#: Code points that decorate an emoji without changing its meaning: variation
#: selectors and skin-tone modifiers. VADER's per-character lookup misses
#: "❤️" (heart + U+FE0F) because of them.
EMOJI_DECORATIONS: Final[frozenset[int]] = frozenset({0xFE0E, 0xFE0F, *range(0x1F3FB, 0x1F400)})

#: Zero-width joiner: splits a ZWJ sequence ("🤦‍♂️") into its scored parts.
ZWJ: Final[int] = 0x200D
