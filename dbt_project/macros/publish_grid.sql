{#- The cell grid of a public table, in the shape the suppression engine takes
    (orchestration/lib/disclosure/tables.py): one row per published cell.

    A pub_ model defines its population as a CTE (one row per student) and hands it to
    publish_grid, which continues the model's `with` list and ends with the final select:

        with students as (select ... ),
        {{ publish_grid('students', 'k12', 'race_ethnicity', ['population', 'school_year']) }}

    The population CTE carries the hierarchy columns (k12: district, building;
    institution: sector, institution), `category`, for rates a boolean `outcome`, and the
    `labels` columns, which are constant over the population (its name and year).

    Every category of the population is listed for every unit, zeros included, so a
    missing row never says "zero"; each unit also gets its All Students row. -#}

{% macro publish_levels(hierarchy) -%}
    {%- if hierarchy == 'k12' -%}
        {%- do return([
            {'name': 'state', 'unit': "'STATE'", 'parent': none},
            {'name': 'district', 'unit': "'D:' || district", 'parent': "'STATE'"},
            {'name': 'school', 'unit': "'S:' || building", 'parent': "'D:' || district"},
        ]) -%}
    {%- elif hierarchy == 'institution' -%}
        {%- do return([
            {'name': 'state', 'unit': "'STATE'", 'parent': none},
            {'name': 'sector', 'unit': "'SECTOR:' || sector", 'parent': "'STATE'"},
            {'name': 'institution', 'unit': "'INST:' || institution", 'parent': "'SECTOR:' || sector"},
        ]) -%}
    {%- else -%}
        {{ exceptions.raise_compiler_error("publish_grid: hierarchy must be 'k12' or 'institution', got '" ~ hierarchy ~ "'") }}
    {%- endif -%}
{%- endmacro %}


{#- The latest value of `column` in `relation` (rows matching `where`): a public table
    shows the most recent year (cohort, fiscal year) its population can be observed in. -#}
{% macro publish_latest(relation, column, where='true') -%}
    (select max({{ column }}) from {{ relation }} where {{ where }})
{%- endmacro %}


{#- hierarchy 'institution' names an institution only where `name_if` (an expression over
    the agreement, alias `a`) holds or, given `listed_permission_min_cell` (a table under
    a listed permission of the agreements: WIOA ETPL programs at cell size 3 or more),
    where one of its cells reaches that size, with the rules of
    publish_named_institutions; a sector whose institutions are not all listed gets
    children_complete = false (its listed children do not sum to it); a sector of one
    unnamed institution is held back (with one other sector, the fewest named institutions
    lost, when it is the only one) and the state gets children_complete = false. The cell size is
    the seed's: `listed_permission_min_cell=publish_policy_min_n('<table_id>')`. -#}
{% macro publish_grid(base, hierarchy, grouping, labels, rate=false, name_if=none, listed_permission_min_cell=none, depth=none) -%}
{%- set levels = publish_levels(hierarchy) -%}
{#- depth 2: the state and its districts (sectors) only, for a table whose lowest level
    would be mostly cells under the minimum size -#}
{%- if depth is not none -%}
    {%- set levels = levels[:depth] -%}
{%- endif -%}
{%- set by_institution = hierarchy == 'institution' -%}
{%- if by_institution and name_if is none -%}
    {{ exceptions.raise_compiler_error("publish_grid: an institution table needs name_if (which agreements permit naming)") }}
{%- endif -%}
{%- if listed_permission_min_cell is not none and not by_institution -%}
    {{ exceptions.raise_compiler_error("publish_grid: listed_permission_min_cell names institutions: it needs hierarchy 'institution'") }}
{%- endif -%}
_located as (
    {%- for level in levels %}
    select
        '{{ level.name }}' as level,
        {{ level.unit }} as unit_id,
        {{ level.parent if level.parent else 'cast(null as string)' }} as parent_unit_id,
        category,
        {{ 'outcome' if rate else 'false' }} as outcome
    from {{ base }}
    {%- if not loop.last %}
    union all
    {%- endif %}
    {%- endfor %}
),

-- one pass counts every unit x category and every unit's total
_counted as (
    select
        level,
        unit_id,
        parent_unit_id,
        category,
        grouping(category) as is_unit_total,
        count(*) as n,
        sum(case when outcome then 1 else 0 end) as numerator
    from _located
    group by grouping sets ((level, unit_id, parent_unit_id, category), (level, unit_id, parent_unit_id))
),

_categories as (
    select distinct category from {{ base }}
),

_grid as (
    select
        level,
        unit_id,
        parent_unit_id,
        'all' as grouping,
        'All Students' as category,
        n,
        numerator
    from _counted
    where is_unit_total = 1
    union all
    select
        u.level,
        u.unit_id,
        u.parent_unit_id,
        '{{ grouping }}' as grouping,
        c.category,
        coalesce(k.n, 0) as n,
        coalesce(k.numerator, 0) as numerator
    from _counted as u
    cross join _categories as c
    left join _counted as k
        on
            k.is_unit_total = 0
            and k.level = u.level
            and k.unit_id = u.unit_id
            and k.parent_unit_id is not distinct from u.parent_unit_id
            and k.category is not distinct from c.category
    where u.is_unit_total = 1
),

{%- if by_institution %}

_named as (
    {{ publish_named_institutions(base, name_if, listed_permission_min_cell) }}
),

_institutions as (
    select distinct
        g.parent_unit_id,
        g.unit_id,
        _named.institution_code is not null as is_named
    from _grid as g
    left join _named on g.unit_id = 'INST:' || _named.institution_code
    where g.level = 'institution'
),

_sector_sizes as (
    select
        parent_unit_id as unit_id,
        count(*) as members,
        sum(case when is_named then 0 else 1 end) as unnamed
    from _institutions
    group by parent_unit_id
),

-- a sector whose only institution is unnamed would show that institution: it is not
-- published (the state's sectors then sum to at most it); if it is the only such sector,
-- the state minus the published sectors would show it as well, so one other sector is
-- held back with it (the fewest named institutions lost, then the fewest institutions,
-- then id): what the state holds beyond its published sectors is always two institutions
-- or more
_lone_sectors as (
    select unit_id from _sector_sizes
    where members = 1 and unnamed = 1
),

_held_sectors as (
    select unit_id from _lone_sectors
    union all
    select ranked.unit_id
    from (
        select
            unit_id,
            row_number() over (order by members - unnamed, members, unit_id) as smallest_first
        from _sector_sizes
        where unit_id not in (select l.unit_id from _lone_sectors as l)
    ) as ranked
    where ranked.smallest_first = 1 and (select count(*) from _lone_sectors) = 1
),

_partial_units as (
    select unit_id from _sector_sizes
    where unnamed > 0
    union all
    select 'STATE' as unit_id from _held_sectors
),

_cells as (
    select
        g.*,
        g.unit_id not in (select p.unit_id from _partial_units as p) as children_complete
    from _grid as g
    left join _institutions as i on g.unit_id = i.unit_id and g.parent_unit_id = i.parent_unit_id
    where
        (g.level <> 'institution' or i.is_named)
        and g.unit_id not in (select h.unit_id from _held_sectors as h)
        and coalesce(g.parent_unit_id, '') not in (select h.unit_id from _held_sectors as h)
),
{%- else %}

_cells as (
    select * from _grid
),
{%- endif %}

_labels as (
    select distinct {{ labels | join(', ') }} from {{ base }}
)

select
    {%- for label in labels %}
    _labels.{{ label }},
    {%- endfor %}
    _cells.level,
    _cells.unit_id,
    _cells.parent_unit_id,
    _cells.grouping,
    _cells.category,
    cast(_cells.n as bigint) as n
    {%- if rate %},
    cast(_cells.numerator as bigint) as numerator
    {%- endif %}
    {%- if by_institution %},
    _cells.children_complete
    {%- endif %}
from _cells
cross join _labels
{%- endmacro %}


{#- Institution codes a sector > institution table may name, among the institutions with
    students in `base` (an unnamed institution without rows hides nothing):

    - its own permission: its agreement satisfies `name_if` (alias `a`);
    - or a listed permission (DOMAIN.md section 3, clause 9(c)(iii): "WIOA ETPL programs
      at cell size 3 or more"), when `listed_permission_min_cell` is given (a SQL
      expression, the table's publish_policy_min_n): one of the institution's cells, a
      category of it in `base`, counts at least that many. Its All Students row is not a
      program and does not count; an institution whose cells are all smaller stays in
      its sector's unnamed part.

    A sector with exactly one unnamed institution would give that institution's numbers
    away (sector minus the named ones), so the sector's smallest named institution
    (size_weight, then code) is left unnamed too: the unnamed part of every sector is
    empty or at least two institutions. -#}
{% macro publish_named_institutions(base, name_if, listed_permission_min_cell=none) -%}
    select institution_code
    from (
        select
            institution_code,
            permitted,
            sum(case when permitted then 0 else 1 end) over (partition by sector) as unnamed_in_sector,
            row_number() over (partition by sector, permitted order by size_weight, institution_code) as smallest_first
        from (
            select
                a.institution_code,
                i.sector,
                {%- if listed_permission_min_cell is none %}
                coalesce({{ name_if }}, false) as permitted,
                {%- else %}
                (coalesce({{ name_if }}, false) or listed.institution is not null) as permitted,
                {%- endif %}
                coalesce(i.size_weight, 0) as size_weight
            from {{ source('governance', 'agreements') }} as a
            inner join {{ ref('institutions') }} as i on a.institution_code = i.institution_code
            {%- if listed_permission_min_cell is not none %}
            left join (
                select distinct cells.institution
                from (
                    select
                        institution,
                        count(*) as n
                    from {{ base }}
                    group by institution, category
                ) as cells
                where cells.n >= {{ listed_permission_min_cell }}
            ) as listed on a.institution_code = listed.institution
            {%- endif %}
            where a.institution_code in (select distinct institution from {{ base }})
        ) as members
    ) as ranked
    where permitted and not (unnamed_in_sector = 1 and smallest_first = 1)
{%- endmacro %}


{#- The cell size of a public table's policy: min_n of the seeds/suppression_policies.csv
    row of the policy its seeds/publish_tables.csv row names, so the number lives in the
    seed row alone (and the table is rebuilt when the seeds change). Null, which no cell
    reaches, for a table id without a row. -#}
{% macro publish_policy_min_n(table_id) -%}
    (select p.min_n from {{ ref('publish_tables') }} as t
        inner join {{ ref('suppression_policies') }} as p on t.policy = p.policy
        where t.table_id = '{{ table_id }}')
{%- endmacro %}
