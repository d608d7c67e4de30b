-- Participation in the mathematics test of the latest school year's fall window by
-- race/ethnicity subgroup: state > district > school (where the student is accountable).
-- n: students expected to test (a medical not-tested reason leaves the denominator);
-- numerator: tested with a valid score at their grade (out-of-level and invalidated tests
-- count as not tested). DOMAIN §1a' and §2; the target (95%) is seeds/accountability_targets.csv.
with students as (
    select
        'k12_' || p.school_year || '_fall_MA_expected' as population,
        p.school_year,
        p.accountable_district_code as district,
        p.accountable_building_code as building,
        s.race_ethnicity_subgroup as category,
        p.participated as outcome
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_students') }} as s
        on s.research_id = p.research_id and s.school_year = p.school_year and s.testing_window = p.testing_window
    where
        p.school_year = {{ publish_latest(ref('fct_assessment_participation'), 'school_year') }}
        and p.testing_window = 'fall'
        and p.subject = 'MA'
        and p.in_participation_denominator
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year'], rate=true, depth=2) }}
