-- One row per student (research ID) x school year x testing window (fall, spring):
-- who is accountable where, in which grade and subgroups, and why a student is not
-- counted. Every rule is from DOMAIN §2; the dated windows, tested grades, residency
-- codes, race groups and the codes the rules single out (seeds/msds_code_roles.csv)
-- are seeds.
with pepe as (
    select * from {{ ref('int_k12__collection_pepe') }} where collection in ('FALL', 'SPRING')
),

all_collections as (
    select research_id, collection_sequence, enrolled_at_window, pepe_district_code
    from {{ ref('int_k12__collection_pepe') }}
),

buildings as (
    select building_code, district_code from {{ ref('k12_buildings') }}
),

graded as (
    select
        p.*,
        lower(p.collection) as testing_window,
        -- ungraded (14): computed grade = age on December 1 - 6; 20 and 30 have none
        case
            when p.reported_grade = {{ role_code('grade_ungraded') }} then p.age_on_december_1 - 6
            when p.reported_grade between '00' and '12' then cast(p.reported_grade as integer)
        end as computed_grade
    from pepe as p
),

-- DOMAIN §2 "some grade 12": tested in the spring only without a grade-11 spring
-- window the year before
prior_grade_11 as (
    select research_id, school_year_start + 1 as school_year_start, true as had_grade_11_spring
    from graded
    where collection = 'SPRING' and computed_grade = 11
    group by all
),

tested as (
    select
        g.*,
        case t.tested
            when 'Y' then true
            when 'if_untested_in_grade_11' then not coalesce(p11.had_grade_11_spring, false)
            else false
        end as tested_grade
    from graded as g
    left join {{ ref('accountability_tested_grades') }} as t
        on t.testing_window = g.testing_window and t.grade = lpad(cast(g.computed_grade as string), 2, '0')
    left join prior_grade_11 as p11 using (research_id, school_year_start)
),

-- DOMAIN §2 FAY: the same PEPE district in the three most recent collections
-- (this window's collection and the two before it, across the year boundary)
fay as (
    select
        t.research_id,
        t.collection_sequence,
        count(distinct a.pepe_district_code) = 1 and count(*) = 3 and bool_and(a.enrolled_at_window)
            as full_academic_year
    from tested as t
    inner join all_collections as a
        on a.research_id = t.research_id
        and a.collection_sequence between t.collection_sequence - 2 and t.collection_sequence
    group by all
),

race as (
    -- DOMAIN §2: one flag = that group; several = Multiracial unless Hispanic is set
    select
        t.research_id,
        t.collection_sequence,
        {{ race_ethnicity_subgroup('t.race_ethnicity', "'Not reported'") }} as race_ethnicity_subgroup
    from tested as t
)

select
    t.research_id,
    t.school_year,
    t.testing_window,
    t.testing_window_start,
    t.pepe_district_code,
    t.pepe_building_code,
    t.s2e2_building_code,
    -- DOMAIN §2 SEE / S2E2: scores go back to the resident building's district
    coalesce(t.s2e2_building_code, t.pepe_building_code) as accountable_building_code,
    coalesce(b.district_code, t.pepe_district_code) as accountable_district_code,
    t.pepe_srm_applied as srm_applied,
    t.reported_grade,
    t.computed_grade,
    t.tested_grade,
    t.residency_code,
    t.gender,
    race.race_ethnicity_subgroup,
    c.students_with_disabilities,
    c.limited_english_proficient,
    c.economically_disadvantaged,
    c.homeless,
    c.migrant,
    fay.full_academic_year,
    case when fay.full_academic_year then t.pepe_district_code end as fay_district_code,
    t.enrolled_at_window,
    case
        when not t.enrolled_at_window then 'exited_before_window'
        when res.counts_in_accountability = 'N' then res.exclusion_reason
        when not t.tested_grade then 'untested_grade'
    end as exclusion_reason,
    (t.enrolled_at_window and coalesce(res.counts_in_accountability, 'Y') = 'Y' and t.tested_grade)
        as included_in_accountability
from tested as t
inner join race using (research_id, collection_sequence)
inner join fay using (research_id, collection_sequence)
left join {{ ref('int_k12__student_characteristics') }} as c using (research_id, school_year, testing_window)
left join {{ ref('accountability_residency') }} as res using (residency_code)
left join buildings as b on b.building_code = coalesce(t.s2e2_building_code, t.pepe_building_code)
