-- Students counted in fall accountability of the latest school year by race/ethnicity
-- subgroup: state > district > school. A population of its own (the accountable
-- subset of fall enrollment).
with students as (
    select
        'k12_' || s.school_year || '_fall_accountable' as population,
        s.school_year,
        s.accountable_district_code as district,
        s.accountable_building_code as building,
        s.race_ethnicity_subgroup as category
    from {{ ref('fct_k12_accountability_students') }} as s
    where
        s.school_year = {{ publish_latest(ref('fct_k12_accountability_students'), 'school_year') }}
        and s.testing_window = 'fall'
        and s.enrolled_at_window
        and s.included_in_accountability
),

{{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year']) }}
