-- One row per person (research ID) x institution x term: every Attachment C element
-- except direct identifiers, typed, with "Not Applicable" kept distinct from unknown
-- (<element>_not_applicable). Gender identity is here: releases decide who sees it.
select
    e.research_id,
    e.* except (research_id, record_token, source_file, source_row),
    i.sector as institution_sector,
    coalesce(e.remedial_units_attempted > 0, false) as took_remedial_coursework
from {{ ref('int_ps__enrollment_identified') }} as e
left join {{ ref('institutions') }} as i using (institution_code)
