-- Fall enrollment of the latest school year by gender: state > district > school.
with students as (
    select
        'k12_' || s.school_year || '_fall' as population,
        s.school_year,
        s.accountable_district_code as district,
        s.accountable_building_code as building,
        coalesce(s.gender, 'Not reported') as category
    from {{ ref('fct_k12_accountability_students') }} as s
    where
        s.school_year = {{ publish_latest(ref('fct_k12_accountability_students'), 'school_year') }}
        and s.testing_window = 'fall'
        and s.enrolled_at_window
),

{{ publish_grid('students', 'k12', 'gender', ['population', 'school_year']) }}
