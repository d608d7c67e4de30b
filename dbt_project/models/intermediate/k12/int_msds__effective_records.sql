-- Fall, Spring and End of Year records as accountability sees them: an applied SRM
-- replaces the same student's record from the same district in its target collection
-- (the latest certified SRM wins); an applied SRM with no record to replace adds one.
-- Both branches list their columns in one order (collection last), so the union is
-- positional and runs on Spark as well as DuckDB.
with base as (
    select * except (collection), collection
    from {{ ref('int_msds__records') }} where collection in ('FALL', 'SPRING', 'EOY')
),

applied as (
    select r.* except (collection), d.target_collection as collection
    from {{ ref('int_msds__records') }} as r
    -- `on`, not `using`: Spark would move a using key to the front of r.*
    inner join {{ ref('int_msds__srm_decisions') }} as d on r.record_token = d.record_token
    where d.decision = 'applied'
    qualify row_number() over (
            partition by r.research_id, r.school_year, d.target_collection, r.district_code
            order by r.certification_date desc, r.as_of_date desc, r.source_file desc, r.source_row desc
        ) = 1
)

-- a null of record_token's own type (uuid on DuckDB, string on Spark)
select b.*, false as srm_applied, case when false then b.record_token end as srm_record_token
from base as b
where not exists (
        select 1 from applied as a
        where a.research_id = b.research_id and a.school_year = b.school_year
            and a.collection = b.collection and a.district_code = b.district_code
    )
union all
select a.*, true as srm_applied, a.record_token as srm_record_token
from applied as a
