-- Every loaded test event and what accountability made of
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
    select * from {{ ref('int_assessment__events') }}
),

students as (
    select research_id, school_year, testing_window, included_in_accountability, exclusion_reason
    from {{ ref('fct_k12_accountability_students') }}
)

select
    e.research_id,
    e.school_year,
    e.testing_window,
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
    case when e.expected_to_test and e.rank_for_student = 1 then e.result_status end as result_status,
    e.expected_to_test and e.rank_for_student = 1 as counted_in_accountability,
    case
        when e.expected_to_test and e.rank_for_student = 1 then null
        when e.expected_to_test then 'another_event_counted'
        when s.research_id is null then 'student_not_in_window'
        when not s.included_in_accountability then 'not_expected_' || coalesce(s.exclusion_reason, 'unknown')
        else 'subject_not_in_accountability'
    end as exclusion_reason
from events as e
left join students as s
    on e.research_id = s.research_id and e.school_year = s.school_year and e.testing_window = s.testing_window
