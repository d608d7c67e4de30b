-- Assessment test events with research IDs; a test event reported twice (same person,
-- year, window, subject and assessment) is kept once, the latest file's row.
select r.research_id, a.*
from {{ ref('stg_assessment__results') }} as a
inner join {{ source('identity', 'record_research_ids') }} as r
    on r.feed = 'assessment' and r.record_token = a.record_token
qualify row_number() over (
        partition by r.research_id, a.school_year, a.testing_window, a.subject, a.assessment
        order by a.source_file desc, a.source_row desc
    ) = 1
