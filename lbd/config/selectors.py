"""Kubernetes label selectors (metav1.LabelSelector): the data model and its matching rule.

A selector ANDs its `matchLabels` and every `matchExpressions` requirement. An empty selector matches
everything, as in `metav1.LabelSelectorAsSelector`. Lists of selectors in MetalLB objects OR their
members (a node is selected when any selector matches it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import Enum

from lbd.config.frozen import EMPTY, FrozenMap


class Operator(Enum):
    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"


@dataclass(frozen=True, slots=True)
class Requirement:
    key: str
    operator: Operator
    values: tuple[str, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        if self.operator is Operator.EXISTS:
            return present
        if self.operator is Operator.DOES_NOT_EXIST:
            return not present
        if self.operator is Operator.IN:
            return present and labels[self.key] in self.values
        # NotIn matches objects without the label, like the Kubernetes selector does.
        return not present or labels[self.key] not in self.values

    def __str__(self) -> str:
        if self.operator is Operator.EXISTS:
            return self.key
        if self.operator is Operator.DOES_NOT_EXIST:
            return f"!{self.key}"
        word = "in" if self.operator is Operator.IN else "notin"
        return f"{self.key} {word} ({','.join(sorted(self.values))})"


@dataclass(frozen=True, slots=True)
class LabelSelector:
    match_labels: FrozenMap[str, str] = EMPTY
    match_expressions: tuple[Requirement, ...] = ()

    def matches(self, labels: Mapping[str, str]) -> bool:
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        return all(req.matches(labels) for req in self.match_expressions)

    @property
    def is_empty(self) -> bool:
        return not self.match_labels and not self.match_expressions

    def __str__(self) -> str:
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        parts.extend(sorted(str(r) for r in self.match_expressions))
        return ",".join(parts)


def any_matches(selectors: Iterable[LabelSelector], labels: Mapping[str, str]) -> bool:
    """MetalLB's rule for a selector list: no selectors selects everything, otherwise any one must match."""
    selectors = tuple(selectors)
    if not selectors:
        return True
    return any(s.matches(labels) for s in selectors)
