-- Proficiency in mathematics of the latest school year's fall window by race/ethnicity
-- subgroup: state > district > school. n: full-academic-year students with a valid score
-- credited to the unit (DOMAIN §2: the FAY district, or with an S2E2 code the resident
-- district); numerator: proficient (seeds/assessment_performance_levels.csv). A student
-- whose FAY district is one they have since left counts in that district's results but
-- in none of its schools: such students form the district's "district level only" unit
-- (S:<district>-D), so the schools of a district still sum to it.
with students as (
    select
        'k12_' || p.school_year || '_fall_MA_fay_scored' as population,
        p.school_year,
        p.proficiency_district_code as district,
        coalesce(p.proficiency_building_code, p.proficiency_district_code || '-D') as building,
        s.race_ethnicity_subgroup as category,
        p.proficient as outcome
    from {{ ref('fct_assessment_participation') }} as p
    inner join {{ ref('fct_k12_accountability_students') }} as s
        on s.research_id = p.research_id and s.school_year = p.school_year and s.testing_window = p.testing_window
    where
        p.school_year = {{ publish_latest(ref('fct_assessment_participation'), 'school_year') }}
        and p.testing_window = 'fall'
        and p.subject = 'MA'
        and p.in_proficiency
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year'], rate=true, depth=2) }}
