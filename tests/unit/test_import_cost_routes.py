"""The operator API's route groups answer exactly as one resolver with every route would.

``functions.operator_api.route_groups`` imports a group's route modules on the first request
to the group (cold start, docs/cold-start.md). That is only safe when a path's group holds
every route whose rule can match the path; checked here against every rule of every router,
with each dynamic segment replaced by every literal segment of the API, and as a Hypothesis
property over paths built from those segments.
"""

from __future__ import annotations

import importlib
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from functools import cache

from aws_lambda_powertools.event_handler import APIGatewayHttpResolver
from hypothesis import given, settings
from hypothesis import strategies as st

from functions.operator_api import route_groups
from functions.operator_api.openapi import ROUTERS

_DYNAMIC = re.compile(r"<\w+>")


@cache
def _rules() -> dict[str, list[tuple[str, str, re.Pattern[str]]]]:
    """Each route module's (method, rule, the resolver's regex of the rule)."""
    table: dict[str, list[tuple[str, str, re.Pattern[str]]]] = {}
    for name in route_groups.ROUTE_MODULES:
        router = importlib.import_module(f"functions.operator_api.routes.{name}").router
        table[name] = [
            (method, key[0], APIGatewayHttpResolver._compile_regex(key[0]))
            for key in router._routes
            for method in key[1]
        ]
    return table


def _modules_matching(path: str) -> set[str]:
    return {
        name for name, rules in _rules().items() if any(regex.match(path) for *_, regex in rules)
    }


@cache
def _literals() -> tuple[str, ...]:
    words = {
        part
        for rules in _rules().values()
        for _, rule, _ in rules
        for part in rule.split("/")
        if part and not _DYNAMIC.fullmatch(part)
    }
    return tuple(sorted(words))


def _sample_paths(rule: str) -> list[str]:
    """The rule with every dynamic segment ``p1``, then each dynamic segment in turn
    replaced by every literal segment of the API (a pile id named ``guns``...)."""
    parts = rule.split("/")
    dynamic = [i for i, part in enumerate(parts) if _DYNAMIC.fullmatch(part)]
    plain = ["p1" if i in dynamic else part for i, part in enumerate(parts)]
    paths = ["/".join(plain)]
    for i in dynamic:
        for word in _literals():
            paths.append("/".join([*plain[:i], word, *plain[i + 1 :]]))
    return paths


def test_route_modules_are_the_documented_routers_in_order() -> None:
    routers = [
        importlib.import_module(f"functions.operator_api.routes.{name}").router
        for name in route_groups.ROUTE_MODULES
    ]
    assert routers == list(ROUTERS)


def test_groups_partition_the_route_modules_in_their_order() -> None:
    listed = [name for group in route_groups.GROUPS for name in group]
    assert sorted(listed) == sorted(route_groups.ROUTE_MODULES)
    assert len(listed) == len(set(listed))
    order = {name: i for i, name in enumerate(route_groups.ROUTE_MODULES)}
    for group in route_groups.GROUPS:
        assert list(group) == sorted(group, key=order.__getitem__)


def test_every_path_a_rule_matches_goes_to_a_group_holding_every_matching_route() -> None:
    checked = 0
    for name, rules in _rules().items():
        for _, rule, _ in rules:
            for path in _sample_paths(rule):
                matching = _modules_matching(path)
                group = route_groups.group_of(path)
                assert matching <= set(group), (path, matching, group)
                checked += 1
            assert name in route_groups.group_of(_sample_paths(rule)[0])
    assert checked > 1000


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.one_of(
            st.sampled_from(_literals()),
            st.sampled_from(["p1", "", "x.csv", "operator"]),
        ),
        min_size=1,
        max_size=6,
    )
)
def test_any_path_goes_to_a_group_holding_every_route_that_matches_it(parts: list[str]) -> None:
    path = "/" + "/".join(parts)
    assert _modules_matching(path) <= set(route_groups.group_of(path))


def test_a_path_no_rule_matches_gets_no_routes_or_a_group() -> None:
    assert route_groups.group_of("") == route_groups.NO_ROUTES
    assert route_groups.group_of("operator/piles") == route_groups.NO_ROUTES
    assert route_groups.group_of("/nothing/here") == route_groups.NO_ROUTES
    assert route_groups.group_of("/operator") == route_groups.NO_ROUTES
    assert route_groups.group_of("/operator/piles/p1/reset") == route_groups.PILE_COMMANDS
    assert route_groups.group_of("/operator/piles/p1/ports/2/start") == (route_groups.PORT_COMMANDS)
    assert route_groups.group_of("/operator/stations/s1/load") == route_groups.STATIONS


def test_a_group_resolver_is_built_once_even_by_concurrent_first_requests() -> None:
    group = route_groups.CARDS
    route_groups._resolvers.pop(group, None)
    start = threading.Barrier(8)

    def first_request() -> APIGatewayHttpResolver:
        start.wait()
        return route_groups.resolver_for(group)

    with ThreadPoolExecutor(max_workers=8) as pool:
        resolvers = list(pool.map(lambda _: first_request(), range(8)))
    assert len({id(resolver) for resolver in resolvers}) == 1
    cards_router = importlib.import_module("functions.operator_api.routes.cards").router
    assert cards_router.api_resolver is resolvers[0]
    assert route_groups.resolver_for(group) is resolvers[0]


def test_a_request_path_picks_its_groups_resolver() -> None:
    event = {"rawPath": "/operator/cards/c1", "requestContext": {"stage": "$default"}}
    assert route_groups.resolver_for_event(event) is route_groups.resolver_for(route_groups.CARDS)
    staged = {"rawPath": "/prod/operator/cards/c1", "requestContext": {"stage": "prod"}}
    assert route_groups.resolver_for_event(staged) is route_groups.resolver_for(route_groups.CARDS)
