-- Award records with research IDs; an award reported twice (same person, institution,
-- award type, date and first major) is kept once.
select r.research_id, a.*
from {{ ref('stg_ps__awards') }} as a
inner join {{ source('identity', 'record_research_ids') }} as r
    on r.feed = 'ps_awards' and r.record_token = a.record_token
qualify row_number() over (
        partition by r.research_id, a.institution_code, a.award_type, a.award_date, a.major_1_cip
        order by a.source_file desc, a.source_row desc
    ) = 1
