"""Advice people can act on, from dated per-carrier rules (see ``engine``).

Imports only ``akarom.domain`` and ``akarom.errors`` (STYLE.md §1).
"""

from __future__ import annotations

from akarom.advice.engine import (
    SITUATIONS,
    Action,
    Decision,
    Disclosure,
    Facts,
    Grade,
    Marketplace,
    Outcome,
    Rule,
    RuleError,
    RuleSet,
    Seller,
    Sim,
    load_rule_file,
    load_rules,
)

__all__ = [
    "SITUATIONS",
    "Action",
    "Decision",
    "Disclosure",
    "Facts",
    "Grade",
    "Marketplace",
    "Outcome",
    "Rule",
    "RuleError",
    "RuleSet",
    "Seller",
    "Sim",
    "load_rule_file",
    "load_rules",
]
