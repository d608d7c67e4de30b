-- Every loaded MSDS record with the student's research ID and the vault-derived age.
-- Inner join: a record without a research ID would be a linkage gap, tested below.
select
    r.research_id,
    s.*,
    a.age_on_december_1,
    cast(substr(s.school_year, 1, 4) as integer) as school_year_start
from {{ ref('stg_msds__records') }} as s
inner join {{ source('identity', 'record_research_ids') }} as r
    on r.feed = 'msds' and r.record_token = s.record_token
left join {{ source('derived', 'msds_record_ages') }} as a
    on a.record_token = s.record_token
