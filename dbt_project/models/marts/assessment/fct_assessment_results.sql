-- Every loaded test event (after the duplicate kept once) and what accountability made of
-- it: counted for the expected student it belongs to, or the named reason it is not
-- (DOMAIN §1a' and §2). Nothing loaded is dropped without a reason:
--   student_not_in_window       no MSDS record of the student in the window's collection
--   not_expected_<reason>       the student is in the collection but not expected to test,
--                               with the accountability fact's exclusion reason
--                               (untested_grade, exited_before_window, nonpublic ...)
--   subject_not_in_accountability  a subject the window does not hold to account
--                               (seeds/accountability_tested_subjects.csv: writing, science ...)
--   another_event_counted       the student has a better test event for the subject
with events as (
    select
        r.*,
        lower(r.testing_window) as window_name,
        l.proficient = 'Y' as proficient_level
    from {{ ref('int_assessment__results') }} as r
    left join {{ ref('assessment_performance_levels') }} as l
        on l.assessment = r.assessment and l.performance_level = r.performance_level
),

students as (
    select research_id, school_year, testing_window, included_in_accountability, exclusion_reason
    from {{ ref('fct_k12_accountability_students') }}
),

counted as (
    select research_id, school_year, testing_window, subject, assessment, result_status
    from {{ ref('fct_assessment_participation') }}
    where assessment is not null
)

select
    e.research_id,
    e.school_year,
    e.window_name as testing_window,
    e.subject,
    e.assessment,
    e.test_grade,
    e.district_code as tested_district_code,
    e.building_code as tested_building_code,
    e.scale_score,
    e.performance_level,
    e.proficient_level,
    e.validity,
    e.not_tested_reason,
    c.result_status,
    c.research_id is not null as counted_in_accountability,
    case
        when c.research_id is not null then null
        when s.research_id is null then 'student_not_in_window'
        when not s.included_in_accountability then 'not_expected_' || coalesce(s.exclusion_reason, 'unknown')
        when ts.subject is null then 'subject_not_in_accountability'
        else 'another_event_counted'
    end as exclusion_reason
from events as e
left join counted as c
    on
    c.research_id = e.research_id and c.school_year = e.school_year and c.testing_window = e.window_name
    and c.subject = e.subject and c.assessment = e.assessment
left join students as s
    on s.research_id = e.research_id and s.school_year = e.school_year and s.testing_window = e.window_name
left join {{ ref('accountability_tested_subjects') }} as ts
    on ts.testing_window = e.window_name and ts.subject = e.subject
