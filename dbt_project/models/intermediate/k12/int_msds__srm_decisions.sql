-- DOMAIN §2 (SRM): a Student Record Maintenance record is applied only when its AS OF
-- date lies in a collection's AS OF range and it was certified by that collection's
-- deadline; otherwise it is kept here, ignored, with the reason.
with srm as (
    select * from {{ ref('int_msds__records') }} where collection = 'SRM'
),

windows as (
    select school_year, upper(collection) as collection, as_of_start, as_of_end, certification_deadline
    from {{ ref('msds_collection_calendar') }}
    where collection in ('fall', 'spring')
)

select
    srm.record_token,
    srm.research_id,
    srm.school_year,
    srm.district_code,
    srm.as_of_date,
    srm.certification_date,
    w.collection as target_collection,
    w.certification_deadline,
    case
        when w.collection is null then 'as_of_outside_window'
        when srm.certification_date is null or srm.certification_date > w.certification_deadline
        then 'certified_after_deadline'
        else 'applied'
    end as decision
from srm
left join windows as w
    on w.school_year = srm.school_year
    and srm.as_of_date between w.as_of_start and w.as_of_end
