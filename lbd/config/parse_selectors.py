"""Parsing and validating metav1.LabelSelector lists (apimachinery's ValidateLabelSelector rules plus
MetalLB's duplicate checks from `validateLabelSelectorDuplicate`)."""

from __future__ import annotations

import re

from lbd.config.fields import Fields, dns_subdomain_problem, join, type_name
from lbd.config.frozen import FrozenMap
from lbd.config.selectors import LabelSelector, Operator, Requirement

_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")


def label_key_problem(key: str) -> str | None:
    prefix, slash, name = key.rpartition("/")
    if slash:
        if not prefix:
            return f"label key {key!r} has an empty prefix"
        problem = dns_subdomain_problem(prefix)
        if problem:
            return f"label key prefix {prefix!r} {problem}"
    if not name or len(name) > 63 or not _NAME.fullmatch(name):
        return (
            f"label key {key!r} must be [prefix/]name with a name of 1-63 characters "
            "(alphanumerics, '-', '_', '.', starting and ending alphanumeric)"
        )
    return None


def label_value_problem(value: str) -> str | None:
    if value and (len(value) > 63 or not _NAME.fullmatch(value)):
        return (
            f"label value {value!r} must be empty or 1-63 characters "
            "(alphanumerics, '-', '_', '.', starting and ending alphanumeric)"
        )
    return None


def labels_of(fields: Fields, key: str) -> dict[str, str]:
    """A `labels`-style map with valid keys and values."""
    labels = fields.string_map(key)
    for k, v in labels.items():
        problem = label_key_problem(k) or label_value_problem(v)
        if problem:
            fields.error(f"{key}.{k}", problem)
    return labels


def _requirement(item: Fields) -> Requirement | None:
    key = item.string("key", required=True)
    op_text = item.string("operator", required=True)
    raw_values = item.raw("values")
    item.finish()
    if key is None or op_text is None:
        return None
    ok = True
    problem = label_key_problem(key)
    if problem:
        item.error("key", problem)
        ok = False
    try:
        operator = Operator(op_text)
    except ValueError:
        item.error("operator", f"{op_text!r} is not one of In, NotIn, Exists, DoesNotExist")
        return None
    values: list[str] = []
    if raw_values is not None:
        if not isinstance(raw_values, list):
            item.error("values", f"must be a list of strings, got {type_name(raw_values)}")
            return None
        for i, v in enumerate(raw_values):
            if not isinstance(v, str):
                item.error(join("values", i), f"must be a string, got {type_name(v)}")
                ok = False
                continue
            value_problem = label_value_problem(v)
            if value_problem:
                item.error(join("values", i), value_problem)
                ok = False
            elif v in values:
                item.error(join("values", i), f"duplicate value {v!r}")
                ok = False
            values.append(v)
    if operator in (Operator.IN, Operator.NOT_IN) and not values:
        item.error("values", f"must be non-empty for operator {operator.value}")
        ok = False
    if operator in (Operator.EXISTS, Operator.DOES_NOT_EXIST) and values:
        item.error("values", f"must be empty for operator {operator.value}")
        ok = False
    return Requirement(key, operator, tuple(sorted(values))) if ok else None


def selector_of(fields: Fields) -> LabelSelector | None:
    ok = True
    match_labels = labels_of(fields, "matchLabels")
    requirements: list[Requirement] = []
    for i, item in fields.items("matchExpressions"):
        req = _requirement(item)
        if req is None:
            ok = False
        elif req in requirements:
            fields.error(join("matchExpressions", i), f"duplicate match expression {str(req)!r}")
            ok = False
        else:
            requirements.append(req)
    fields.finish()
    if not ok:
        return None
    return LabelSelector(FrozenMap(match_labels), tuple(requirements))


def selectors_of(fields: Fields, key: str) -> tuple[LabelSelector, ...]:
    """A list of selectors (`nodeSelectors`, `ipAddressPoolSelectors`, ...); duplicates are errors."""
    out: list[LabelSelector] = []
    for i, item in fields.items(key):
        selector = selector_of(item)
        if selector is None:
            continue
        if selector in out:
            fields.error(join(key, i), f"duplicate selector {str(selector)!r}")
            continue
        out.append(selector)
    return tuple(out)
