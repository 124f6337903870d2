"""ESI v4 as a pure function: hand-computed cases, properties, and the generator's labels."""

import re
from dataclasses import asdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from medlab.data.esi import LIFE_SAVING, NOT_RESOURCES, RESOURCES, TriageCase, esi_level
from medlab.data.generate.triage import describe_age, generate_cases, rule_probe_cases

ADULT = dict(age_days=40 * 365, sex="female", complaint="cough", heart_rate=80, resp_rate=16, spo2=98,
             temp_c=37.0, sbp=120, dbp=80, pain=2)
TWO_RESOURCES = ("labs", "x-ray")


def level(**changes):
    return esi_level(TriageCase(**{**ADULT, **changes}))[0]


@pytest.mark.parametrize(("changes", "expected"), [
    ({"interventions": ("intubation",)}, 1),
    ({"interventions": ("central line",)}, 1),
    ({"interventions": ("IV access", "supplemental oxygen", "cardiac monitor")}, 5),  # not life-saving
    ({"findings": ("pulseless",)}, 1),
    ({"mental_status": "unresponsive"}, 1),
    ({"spo2": 89}, 1),
    ({"high_risk": ("open fracture",)}, 2),
    ({"mental_status": "confused"}, 2),
    ({"pain": 7}, 2),
    ({"pain": 6, "resources": ("x-ray",)}, 4),
    ({"resources": ()}, 5),
    ({"resources": ("oral medication", "tetanus shot", "splint", "saline lock")}, 5),  # not resources
    ({"resources": ("labs", "labs")}, 4),  # several lab tests count once
    ({"resources": ("complex procedure",), "heart_rate": 90}, 3),  # sedation counts two
    ({"resources": TWO_RESOURCES}, 3),
    ({"resources": TWO_RESOURCES, "heart_rate": 101}, 2),  # over 8 years: HR > 100
    ({"resources": TWO_RESOURCES, "resp_rate": 21}, 2),
    ({"resources": TWO_RESOURCES, "spo2": 91}, 2),  # SpO2 < 92 at any age
    ({"resources": TWO_RESOURCES, "spo2": 92}, 3),
])
def test_adult_decision_points(changes, expected):
    assert level(**changes) == expected


@pytest.mark.parametrize(("age_days", "heart_rate", "resp_rate", "expected"), [
    (60, 181, 40, 2), (60, 180, 50, 3), (60, 150, 51, 2),  # under 3 months: HR > 180, RR > 50
    (400, 161, 30, 2), (400, 160, 40, 3), (400, 120, 41, 2),  # 3 months-3 years: 160, 40
    (5 * 365, 141, 20, 2), (5 * 365, 140, 30, 3), (5 * 365, 100, 31, 2),  # 3-8 years: 140, 30
])
def test_danger_zone_by_age_band(age_days, heart_rate, resp_rate, expected):
    assert level(age_days=age_days, heart_rate=heart_rate, resp_rate=resp_rate,
                 resources=TWO_RESOURCES) == expected


@pytest.mark.parametrize(("age_days", "temp_c", "resources", "expected"), [
    (20, 38.1, (), 2),  # neonate with fever: at least ESI 2
    (20, 38.0, (), 5),  # 38.0 is not above 38.0
    (60, 38.5, ("labs",), 2),  # 1-3 months with fever: ESI 2
    (400, 39.5, (), 3),  # 3 months-3 years, T > 39: at least ESI 3
    (400, 39.5, ("x-ray",), 3),
    (400, 39.0, ("x-ray",), 4),
    (10 * 365, 39.5, ("x-ray",), 4),  # the rule is for small children only
])
def test_paediatric_fever(age_days, temp_c, resources, expected):
    assert level(age_days=age_days, temp_c=temp_c, heart_rate=120, resp_rate=28, resources=resources) == expected


def test_trail_names_the_deciding_point():
    _, trail = esi_level(TriageCase(**{**ADULT, "resources": TWO_RESOURCES, "heart_rate": 120}))
    assert [line[0] for line in trail] == ["A", "B", "C", "D"]
    assert "HR 120 > 100" in trail[-1]


def test_invalid_fields_are_refused_with_what_to_write():
    with pytest.raises(ValueError, match="pain 12 is outside 0-10"):
        TriageCase(**{**ADULT, "pain": 12})
    with pytest.raises(ValueError, match="resources .*'MRI scan'.* are unknown"):
        TriageCase(**{**ADULT, "resources": ("MRI scan",)})


cases = st.builds(
    TriageCase, age_days=st.integers(0, 100 * 365), sex=st.sampled_from(["female", "male"]),
    complaint=st.just("x"), heart_rate=st.integers(30, 220), resp_rate=st.integers(4, 70),
    spo2=st.integers(70, 100), temp_c=st.floats(35.0, 41.5).map(lambda t: round(t, 1)),
    sbp=st.integers(60, 200), dbp=st.integers(30, 120), pain=st.none() | st.integers(0, 10),
    mental_status=st.sampled_from(["alert", "confused", "lethargic", "disoriented", "unresponsive"]),
    interventions=st.lists(st.sampled_from(sorted(LIFE_SAVING | {"IV access", "cardiac monitor"})),
                           max_size=2).map(tuple),
    high_risk=st.lists(st.sampled_from(["open fracture", "stroke symptoms"]), max_size=1).map(tuple),
    resources=st.lists(st.sampled_from(sorted(set(RESOURCES) | NOT_RESOURCES)), max_size=4).map(tuple),
)


@settings(max_examples=300, deadline=None)
@given(case=cases, extra=st.sampled_from(sorted(RESOURCES)))
def test_more_care_never_makes_a_case_less_urgent(case, extra):
    before, _ = esi_level(case)
    after, _ = esi_level(TriageCase(**{**asdict(case), "resources": case.resources + (extra,)}))
    assert 1 <= after <= before <= 5


@settings(max_examples=300, deadline=None)
@given(case=cases)
def test_life_saving_interventions_and_hypoxia_are_always_esi_1(case):
    lsi = TriageCase(**{**asdict(case), "interventions": case.interventions + ("intubation",)})
    assert esi_level(lsi)[0] == 1
    hypoxic = TriageCase(**{**asdict(case), "spo2": 85})
    assert esi_level(hypoxic)[0] == 1


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_every_generated_label_is_esi_level_of_its_fields(seed):
    for row in generate_cases(40, seed):
        level_, trail = esi_level(TriageCase(**row["case"]))
        assert row["level"] == level_ and row["trail"] == list(trail)
        assert row["reasoning"].endswith(f"ESI level {level_}.")


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10**6))
def test_every_narrative_states_the_fields_that_decide(seed):
    for row in generate_cases(40, seed):
        case, text = row["case"], row["narrative"]
        for fact in (describe_age(case["age_days"]), *stated_vitals(case), f"temperature {case['temp_c']} C",
                     case["mental_status"], *case["findings"], *case["high_risk"], *case["resources"]):
            assert fact in text, (fact, text)
        assert stated_pain(case) in text
        for intervention in case["interventions"]:
            assert intervention.split()[0].lower()[:6] in text.lower(), (intervention, text)


def stated_vitals(case: dict) -> list[str]:
    """What a note must say of the vital signs: the numbers, or that there is nothing to measure."""
    if case["heart_rate"] == 0:
        return ["No pulse", "no recordable blood pressure", "not breathing"]
    breathing = "not breathing" if case["resp_rate"] == 0 else f"RR {case['resp_rate']}"
    return [f"HR {case['heart_rate']}", breathing, f"SpO2 {case['spo2']}%", f"BP {case['sbp']}/{case['dbp']}"]


def stated_pain(case: dict) -> str:
    if case["pain"] is not None:
        return f"Pain {case['pain']}/10"
    return "Too young to rate pain" if case["age_days"] < 4 * 365 else "Pain cannot be assessed"


def test_rule_probes_obey_their_rules_and_trip_the_seed_regexes():
    probes = rule_probe_cases(seed=1)
    assert len(probes) == 36
    for row in probes:
        text = row["narrative"]
        if row["rule"] == "life-saving intervention placed":
            assert row["level"] == 1 and re.search(r"intubat|chest tube|central line", text)
        elif row["rule"] == "open injury":
            assert row["level"] <= 2 and re.search(r"open fracture|penetrating", text)
        else:
            assert row["level"] <= 2 and row["case"]["pain"] >= 7
