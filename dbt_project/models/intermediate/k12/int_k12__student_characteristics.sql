-- Subgroup characteristics per student, school year and testing window (DOMAIN §2).
-- Characteristics come from ANY entity's records, not only the PEPE's.
--  * SWD: a primary disability reported in the window's collection, unless the special
--    education exit date falls before the testing window starts.
--  * LEP: reported eligible in the school year (any collection) makes the student LEP
--    for the whole year; a student stays LEP in later years until exited with reason
--    50 (proficient, role lep_exit_proficient in seeds/msds_code_roles.csv); other exit
--    reasons leave the student LEP.
--  * Economically disadvantaged, homeless, migrant: identified by any record in the
--    school year from a collection counted on or before the window's collection; once
--    identified the student stays so for the rest of that year.
-- The windows are the calendar seed's: a school year without its calendar rows has none
-- here, and the blocking check reference_data_complete fails the build naming the rows.
with calendar as (
    select school_year, upper(collection) as collection, count_date, testing_window_start
    from {{ ref('msds_collection_calendar') }}
),

windows as (
    select
        school_year, collection as window_collection, lower(collection) as testing_window,
        count_date as window_count_date, testing_window_start
    from calendar
    where collection in ('FALL', 'SPRING')
),

records as (
    select e.*, c.count_date
    from {{ ref('int_msds__effective_records') }} as e
    inner join calendar as c using (school_year, collection)
),

students as (
    select distinct r.research_id, r.school_year, r.school_year_start, w.* except (school_year)
    from records as r
    inner join windows as w on w.school_year = r.school_year and w.window_collection = r.collection
),

swd as (
    select s.research_id, s.school_year, s.testing_window, true as swd
    from students as s
    inner join records as r
        on r.research_id = s.research_id and r.school_year = s.school_year and r.collection = s.window_collection
    where r.primary_disability is not null
        and not coalesce(r.sped_exit_date < s.testing_window_start, false)
    group by all
),

lep_years as (
    select
        research_id,
        school_year_start,
        bool_or(lep_program is not null) as lep_reported,
        bool_or(lep_exit_reason = {{ role_code('lep_exit_proficient') }}) as exited_proficient
    from records
    group by all
),

lep as (
    select
        s.research_id, s.school_year, s.testing_window,
        -- the last year LEP was reported, and the last earlier year it ended with 50
        max(case when y.lep_reported then y.school_year_start end) as last_reported_year,
        max(case when y.exited_proficient and y.school_year_start < s.school_year_start
            then y.school_year_start
        end) as last_proficient_exit_year
    from students as s
    inner join lep_years as y
        on y.research_id = s.research_id and y.school_year_start <= s.school_year_start
    group by all
),

economic as (
    select
        s.research_id, s.school_year, s.testing_window,
        bool_or(
            r.nutrition_eligibility in ({{ role_codes('nutrition_eligible') }})
            or coalesce(r.direct_certification, false)
            or coalesce(r.migrant, false)
            or coalesce(r.nighttime_residence <> {{ role_code('nighttime_not_homeless') }}, false)
        ) as economically_disadvantaged,
        bool_or(coalesce(r.nighttime_residence <> {{ role_code('nighttime_not_homeless') }}, false)) as homeless,
        bool_or(coalesce(r.migrant, false)) as migrant
    from students as s
    inner join records as r
        on r.research_id = s.research_id and r.school_year = s.school_year
        and r.count_date <= s.window_count_date
    group by all
)

select
    s.research_id,
    s.school_year,
    s.testing_window,
    coalesce(swd.swd, false) as students_with_disabilities,
    coalesce(
        lep.last_reported_year is not null
        and (
            lep.last_reported_year = s.school_year_start
            or lep.last_proficient_exit_year is null
            or lep.last_reported_year > lep.last_proficient_exit_year
        ),
        false
    ) as limited_english_proficient,
    coalesce(economic.economically_disadvantaged, false) as economically_disadvantaged,
    coalesce(economic.homeless, false) as homeless,
    coalesce(economic.migrant, false) as migrant
from students as s
left join swd using (research_id, school_year, testing_window)
left join lep using (research_id, school_year, testing_window)
left join economic using (research_id, school_year, testing_window)
