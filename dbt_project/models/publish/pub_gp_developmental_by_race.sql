-- Getting Prepared: graduates of the latest cohort whose first two years are observed
-- and who enrolled within two years, and how many of them took developmental
-- (remedial) coursework (the rate's numerator), by race/ethnicity: state > district >
-- high school.
with graduates as (
    select
        'graduates_' || cast(p.graduation_cohort as string) || '_enrolled' as population,
        p.graduation_cohort,
        p.graduation_district_code as district,
        p.graduation_building_code as building,
        coalesce(p.race_ethnicity_subgroup, 'Not reported') as category,
        p.developmental_within_2_years as outcome
    from {{ ref('fct_pathways_hs_to_college') }} as p
    where
        p.graduation_cohort = {{ publish_latest(ref('fct_pathways_hs_to_college'), 'graduation_cohort',
            'developmental_within_2_years is not null') }}
        and p.enrolled_within_2_years
),

{{ publish_grid('graduates', 'k12', 'race_ethnicity', ['population', 'graduation_cohort'], rate=true) }}
