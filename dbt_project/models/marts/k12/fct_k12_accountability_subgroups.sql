-- The long student x subgroup bridge every K-12 aggregate is built from: one row per
-- student, school year, testing window and subgroup the student belongs to,
-- "All Students" included. Subgroup names and order: seeds/accountability_subgroups.csv.
with students as (
    select * from {{ ref('fct_k12_accountability_students') }}
),

memberships as (
    select research_id, school_year, testing_window, 'all_students' as subgroup_code, null as subgroup_value
    from students
    union all
    select research_id, school_year, testing_window, 'race_ethnicity', race_ethnicity_subgroup from students
    union all
    select research_id, school_year, testing_window, 'students_with_disabilities', null
    from students where students_with_disabilities
    union all
    select research_id, school_year, testing_window, 'limited_english_proficient', null
    from students where limited_english_proficient
    union all
    select research_id, school_year, testing_window, 'economically_disadvantaged', null
    from students where economically_disadvantaged
    union all
    select research_id, school_year, testing_window, 'homeless', null from students where homeless
    union all
    select research_id, school_year, testing_window, 'migrant', null from students where migrant
    union all
    select research_id, school_year, testing_window, 'gender', gender from students where gender is not null
)

select
    m.research_id,
    m.school_year,
    m.testing_window,
    m.subgroup_code,
    coalesce(m.subgroup_value, g.subgroup_name) as subgroup,
    g.subgroup_family,
    s.accountable_district_code,
    s.accountable_building_code,
    s.included_in_accountability
from memberships as m
inner join {{ ref('accountability_subgroups') }} as g using (subgroup_code)
inner join students as s using (research_id, school_year, testing_window)
