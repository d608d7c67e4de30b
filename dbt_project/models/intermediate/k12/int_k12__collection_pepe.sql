-- The PEPE (Primary Education Providing Entity) of each student in each collection.
-- DOMAIN §2 (enrollment and exit): a record drops the student from its district only
-- when it carries an exit status other than "expected to continue" (19) with an exit
-- date before the testing window starts (End of Year: before the count date). Among the
-- records still enrolling the student, the PEPE is the one with the most FTE, then a
-- resident (14) over a part-time nonpublic/home-school record, then the latest
-- enrollment. The codes are seeds/msds_code_roles.csv's.
--
-- A collection with no row in seeds/msds_collection_calendar.csv keeps its records (a
-- left join: no record is dropped here); its window dates are null, and the blocking
-- check reference_data_complete (orchestration/defs/reference_checks.py) fails the build
-- naming the calendar row to add, so nothing is released from it.
with calendar as (
    select
        school_year, upper(collection) as collection, count_date, testing_window_start,
        coalesce(testing_window_start, count_date) as window_start
    from {{ ref('msds_collection_calendar') }}
),

records as (
    select
        e.*,
        c.window_start,
        c.testing_window_start,
        coalesce(
            e.exit_status is not null
            and e.exit_status <> {{ role_code('exit_status_continuing') }}
            and e.exit_date < c.window_start,
            false
        ) as exited_before_window
    from {{ ref('int_msds__effective_records') }} as e
    -- `on`, not `using`: Spark would move a using key to the front of e.*
    left join calendar as c on c.school_year = e.school_year and c.collection = e.collection
),

ranked as (
    select
        *,
        row_number() over (
            partition by research_id, school_year, collection
            order by
                exited_before_window asc,
                fte desc nulls last,
                (residency_code = {{ role_code('residency_resident') }}) desc,
                enrollment_date desc nulls last, district_code asc, building_code asc, record_token asc
        ) as pepe_rank,
        count(*) over (partition by research_id, school_year, collection) as records_in_collection
    from records
)

select
    research_id,
    school_year,
    school_year_start,
    collection,
    -- collections in order (fall, spring, end of year), so FAY can look back three
    school_year_start * 3 + case collection when 'FALL' then 0 when 'SPRING' then 1 else 2 end
        as collection_sequence,
    window_start,
    testing_window_start,
    not exited_before_window as enrolled_at_window,
    record_token as pepe_record_token,
    srm_applied as pepe_srm_applied,
    district_code as pepe_district_code,
    building_code as pepe_building_code,
    s2e2_building_code,
    grade as reported_grade,
    residency_code,
    gender,
    race_ethnicity,
    fte,
    age_on_december_1,
    enrollment_date,
    exit_date,
    exit_status,
    records_in_collection
from ranked
where pepe_rank = 1
