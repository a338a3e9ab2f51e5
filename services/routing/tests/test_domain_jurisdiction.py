"""Jurisdiction decisions: the most specific territory wins, else the territory's administration."""

from __future__ import annotations

import uuid

import pytest

from routing.domain.jurisdiction import Administration, NoAuthority, Rule, TerritoryRef, decide

REGION = TerritoryRef(uuid.uuid4(), "Московская область", "46000000")
TOWN = TerritoryRef(uuid.uuid4(), "городской округ Коломна", "46738000")
DISTRICT = TerritoryRef(uuid.uuid4(), "Колычёво", "46738000102")
CHAIN = [DISTRICT, TOWN, REGION]
ROADS = uuid.uuid4()
REGION_ROADS = uuid.uuid4()
ADMIN = uuid.uuid4()


def test_most_specific_rule_wins() -> None:
    rules = [Rule(REGION.id, REGION_ROADS, "Мосавтодор"), Rule(TOWN.id, ROADS, "Управление дорожного хозяйства")]
    decision = decide(CHAIN, rules, [], category_code="roads.pothole", category_name="Яма на дороге")
    assert decision.authority_id == ROADS
    assert decision.territory == TOWN
    assert decision.location == DISTRICT
    assert "Колычёво" in decision.reason
    assert "Яма на дороге" in decision.reason
    assert "правилу" in decision.reason


def test_rule_note_is_part_of_the_reason() -> None:
    rules = [Rule(TOWN.id, ROADS, "Управление дорожного хозяйства", note="постановление № 12")]
    decision = decide(CHAIN, rules, [], category_code="roads.pothole", category_name="Яма")
    assert "постановление № 12" in decision.reason


def test_falls_back_to_the_most_specific_administration() -> None:
    admins = [Administration(TOWN.id, ADMIN, "Администрация Коломны"), Administration(REGION.id, uuid.uuid4(), "Обл")]
    decision = decide(CHAIN, [], admins, category_code="ecology.air", category_name="Загрязнение воздуха")
    assert decision.authority_id == ADMIN
    assert "не задано" in decision.reason
    assert "Администрация Коломны" in decision.reason


def test_a_rule_on_an_outer_territory_beats_an_inner_administration() -> None:
    rules = [Rule(REGION.id, REGION_ROADS, "Мосавтодор")]
    admins = [Administration(TOWN.id, ADMIN, "Администрация Коломны")]
    assert decide(CHAIN, rules, admins, category_code="roads.pothole", category_name="Яма").authority_id == REGION_ROADS


def test_nowhere_and_nobody() -> None:
    with pytest.raises(NoAuthority):
        decide([], [], [], category_code="x", category_name="x")
    with pytest.raises(NoAuthority):
        decide(CHAIN, [], [], category_code="x", category_name="x")
