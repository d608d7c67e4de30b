-- Every loaded MSDS record (with its research ID) and what accountability made of it, so
-- no record leaves the K-12 marts without a named reason (issue: every record accounted
-- for). One row per record of int_msds__records:
--   counted                   the PEPE record of a fall or spring window, student counted
--   excluded_<reason>         the PEPE record of a window, student not counted, with the
--                             accountability fact's reason (untested_grade, ...)
--   end_of_year_for_fay       the PEPE record of an End of Year collection: it decides FAY
--   not_the_pepe_record       another record of the student in the collection is the PEPE
--                             (its characteristics still apply: any entity reports them)
--   replaced_by_srm           an applied SRM replaced the record in its collection
--   srm_<decision>            an SRM not applied, with its decision (as_of_outside_window,
--                             certified_after_deadline)
with records as (
    select record_token, research_id, school_year, collection, district_code
    from {{ ref('int_msds__records') }}
),

effective as (
    select record_token, collection as effective_collection
    from {{ ref('int_msds__effective_records') }}
),

pepe as (
    select pepe_record_token, collection
    from {{ ref('int_k12__collection_pepe') }}
),

students as (
    select research_id, school_year, testing_window, included_in_accountability, exclusion_reason
    from {{ ref('fct_k12_accountability_students') }}
)

select
    r.research_id,
    r.school_year,
    r.collection,
    e.effective_collection,
    r.district_code,
    case
        when r.collection = 'SRM' and d.decision <> 'applied' then 'srm_' || d.decision
        when e.record_token is null then 'replaced_by_srm'
        when p.pepe_record_token is null then 'not_the_pepe_record'
        when e.effective_collection = 'EOY' then 'end_of_year_for_fay'
        when s.included_in_accountability then 'counted'
        when s.research_id is not null then 'excluded_' || s.exclusion_reason
    end as disposition
from records as r
left join {{ ref('int_msds__srm_decisions') }} as d on d.record_token = r.record_token
left join effective as e on e.record_token = r.record_token
left join pepe as p on p.pepe_record_token = e.record_token and p.collection = e.effective_collection
left join students as s
    on
    s.research_id = r.research_id and s.school_year = r.school_year
    and s.testing_window = lower(e.effective_collection)
