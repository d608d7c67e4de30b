-- Enrollment records with research IDs. A person reported twice for the same
-- institution and term (e.g. two student numbers) keeps one record: the one with the
-- most units attempted, then the latest received.
select r.research_id, e.*
from {{ ref('stg_ps__enrollment') }} as e
inner join {{ source('identity', 'record_research_ids') }} as r
    on r.feed = 'ps_enrollment' and r.record_token = e.record_token
qualify row_number() over (
        partition by r.research_id, e.institution_code, e.fiscal_year, e.term_season
        order by e.regular_units_attempted desc nulls last, e.source_file desc, e.source_row desc
    ) = 1
