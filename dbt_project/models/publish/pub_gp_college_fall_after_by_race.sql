-- Getting Prepared: high school graduates of the latest cohort whose fall-after
-- enrollment is known, and how many enrolled in a state college that fall (the rate's
-- numerator), by race/ethnicity: state > district > high school.
with graduates as (
    select
        'graduates_' || cast(p.graduation_cohort as string) as population,
        p.graduation_cohort,
        p.graduation_district_code as district,
        p.graduation_building_code as building,
        coalesce(p.race_ethnicity_subgroup, 'Not reported') as category,
        p.enrolled_fall_after as outcome
    from {{ ref('fct_pathways_hs_to_college') }} as p
    where
        p.graduation_cohort = {{ publish_latest(ref('fct_pathways_hs_to_college'), 'graduation_cohort',
            'enrolled_fall_after is not null') }}
),

{{ publish_grid('graduates', 'k12', 'race_ethnicity', ['population', 'graduation_cohort'], rate=true) }}
