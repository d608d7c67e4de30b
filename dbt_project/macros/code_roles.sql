{#- MSDS codes the rules single out (an exit status, a residency, a grade...) are rows of
    seeds/msds_code_roles.csv, read here, so a changed code is a seed edit, not an SQL edit. -#}

{#- the one code playing `role` (a scalar subquery: it fails if the seed lists several) -#}
{% macro role_code(role) -%}
    (select _cr.code from {{ ref('msds_code_roles') }} as _cr where _cr.role = '{{ role }}')
{%- endmacro %}

{#- every code playing `role`, for `value in ({{ role_codes(...) }})` -#}
{% macro role_codes(role) -%}
    select _cr.code from {{ ref('msds_code_roles') }} as _cr where _cr.role = '{{ role }}'
{%- endmacro %}

{#- the race/ethnicity subgroup of a student whose flags are `flags` (DOMAIN §2): one flag is
    that group; several are Multiracial unless the flag playing race_flag_hispanic is set,
    which wins; none is `none_label` -#}
{% macro race_ethnicity_subgroup(flags, none_label) -%}
    case
        when substr({{ flags }}, cast({{ role_code('race_flag_hispanic') }} as integer), 1) = '1'
            then (select max(_rs.subgroup) from {{ ref('k12_race_subgroups') }} as _rs
                  where _rs.flag_position = cast({{ role_code('race_flag_hispanic') }} as integer))
        when length(replace({{ flags }}, '0', '')) > 1 then 'Multiracial'
        when length(replace({{ flags }}, '0', '')) = 1
            then (select max(_rs.subgroup) from {{ ref('k12_race_subgroups') }} as _rs
                  where _rs.flag_position = instr({{ flags }}, '1'))
        else {{ none_label }}
    end
{%- endmacro %}
