"""The seeds are valid reference data: every layout, code set and calendar the
pipeline depends on is present and consistent."""

from orchestration.lib.generate.scales import K12_FIRST_YEAR, K12_YEARS, school_year_label
from orchestration.lib.reference import FEEDS, code_sets, feed_layout, read_seed


def test_feed_layouts_have_the_agreement_element_counts():
    assert len(feed_layout("ps_enrollment")) == 70  # Attachment C
    assert len(feed_layout("ps_awards")) == 33  # Attachment D
    assert len(feed_layout("msds")) == 34


def test_layout_positions_are_contiguous_and_names_unique():
    for feed in FEEDS:
        cols = feed_layout(feed)
        assert [c.position for c in cols] == list(range(1, len(cols) + 1))
        assert len({c.name for c in cols}) == len(cols)


def test_every_referenced_code_set_exists():
    sets = code_sets()
    for feed in FEEDS:
        for c in feed_layout(feed):
            if c.code_set:
                assert c.code_set in sets, f"{feed}.{c.name} uses unknown code set {c.code_set}"


def test_domain_codes_are_in_the_code_sets():
    sets = code_sets()
    assert set(sets["msds_grade"]) == {f"{g:02d}" for g in range(13)} | {"14", "20", "30"}
    assert set(sets["msds_residency"]) == {"14", "04", "07", "08", "15"}
    assert {"19", "10"} <= set(sets["msds_exit_status"])
    assert {"50", "51", "52", "53"} == set(sets["msds_lep_exit_reason"])
    assert sets["msds_primary_disability"]["10"] == "Speech and language impairment"
    assert "NA" not in {code for members in sets.values() for code in members}


def test_pii_columns_are_the_identifiers():
    pii = {c.name for f in FEEDS for c in feed_layout(f) if c.pii}
    assert {
        "uic",
        "last_name",
        "first_name",
        "date_of_birth",
        "ssn",
        "birthdate",
        "marss_number",
        "institution_student_number",
        "street_address",
    } <= pii
    assert "gender_identity_a" not in pii and "cumulative_debt" not in pii


def test_calendar_covers_every_generated_school_year_and_the_domain_example():
    cal = {(r["school_year"], r["collection"]): r for r in read_seed("msds_collection_calendar")}
    for t in range(K12_YEARS):
        for coll in ("fall", "spring", "eoy"):
            assert (school_year_label(K12_FIRST_YEAR + t), coll) in cal
    fall = cal[("2012-13", "fall")]
    assert (
        fall["testing_window_start"],
        fall["as_of_start"],
        fall["as_of_end"],
        fall["certification_deadline"],
    ) == ("2012-10-09", "2012-10-03", "2012-10-26", "2012-12-04")
    assert cal[("2012-13", "spring")]["testing_window_start"] == "2013-03-05"


def test_directories_have_unique_codes_of_the_right_shape():
    for seed, key, width in (
        ("k12_districts", "district_code", 5),
        ("k12_buildings", "building_code", 5),
        ("institutions", "institution_code", 7),
    ):
        codes = [r[key] for r in read_seed(seed)]
        assert len(codes) == len(set(codes))
        assert all(len(c) == width and c.isdigit() for c in codes)


def test_nicknames_refer_to_known_first_names():
    firsts = {r["first_name"] for r in read_seed("first_names")}
    assert all(r["formal_name"] in firsts for r in read_seed("nicknames"))
