-- Every loaded assessment test event with its research ID (ingest has quarantined a second
-- row with the same year, window, UIC, subject and assessment: the first is kept). Two UICs
-- of one person can still give a person two events of one subject; both stay here, and
-- int_assessment__events ranks them.
select r.research_id, a.*
from {{ ref('stg_assessment__results') }} as a
inner join {{ source('identity', 'record_research_ids') }} as r
    on r.feed = 'assessment' and r.record_token = a.record_token
