-- Proficiency in mathematics of the latest school year's fall window with results by
-- race/ethnicity subgroup: state > district. n: full-academic-year students with a valid
-- score credited to the district (DOMAIN §2: the FAY district, decided on last year's
-- accountable district, the S2E2 resident district where there was one, even after the
-- student left it); numerator: proficient (seeds/assessment_performance_levels.csv).
-- Districts are the lowest level (depth=2): a school has no FAY students who left it.
with students as (
    select
        'k12_' || p.school_year || '_fall_MA_fay_scored' as population,
        p.school_year,
        p.proficiency_district_code as district,
        cast(null as string) as building,
        s.race_ethnicity_subgroup as category,
        p.proficient as outcome
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_students') }} as s
        on p.research_id = s.research_id and p.school_year = s.school_year and p.testing_window = s.testing_window
    where
        p.school_year = {{ publish_latest(ref('fct_assessment_results'), 'school_year', "testing_window = 'fall'") }}
        and p.testing_window = 'fall'
        and p.subject = 'MA'
        and p.in_proficiency
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year'], rate=true, depth=2) }}
