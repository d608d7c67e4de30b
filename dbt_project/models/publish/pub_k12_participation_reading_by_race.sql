-- Participation in the reading test of the latest school year's fall window with results
-- by race/ethnicity subgroup: state > district (where the student is accountable). n:
-- students expected to test (a medical not-tested reason leaves the denominator);
-- numerator: tested with a valid score at their grade (out-of-level and invalidated tests
-- count as not tested). DOMAIN §1a' and §2; the target (95%) is seeds/accountability_targets.csv.
-- The year is the latest with test events loaded: a fall collection whose results have not
-- arrived yet would otherwise publish every student as not tested. Districts are the lowest
-- level (depth=2): school x race rate cells are mostly under the minimum size.
with students as (
    select
        'k12_' || p.school_year || '_fall_RD_expected' as population,
        p.school_year,
        p.accountable_district_code as district,
        p.accountable_building_code as building,
        s.race_ethnicity_subgroup as category,
        p.participated as outcome
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_students') }} as s
        on p.research_id = s.research_id and p.school_year = s.school_year and p.testing_window = s.testing_window
    where
        p.school_year = {{ publish_latest(ref('fct_assessment_results'), 'school_year', "testing_window = 'fall'") }}
        and p.testing_window = 'fall'
        and p.subject = 'RD'
        and p.in_participation_denominator
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year'], rate=true, depth=2) }}
