-- One row per award conferred (research ID x institution x award type x date x major):
-- every Attachment D element except direct identifiers, with the award level group.
-- Cumulative debt at graduation is here: releases withhold it where the agreement says.
select
    a.research_id,
    a.* except (research_id, record_token, source_file, source_row),
    i.sector as institution_sector,
    g.award_group,
    a.joint_award_institution is not null as joint_award
from {{ ref('int_ps__awards_identified') }} as a
left join {{ ref('institutions') }} as i using (institution_code)
left join {{ ref('ps_award_level_groups') }} as g on g.award_level = a.award_type
