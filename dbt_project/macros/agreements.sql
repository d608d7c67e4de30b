{#- Agreement rules as SQL over the registry tables (governance.*), so a registry
    change (a date, a permission) changes the release with no code change. -#}

{% macro academic_year(fiscal_year) -%}
    cast({{ fiscal_year }} - 1 as string) || '-' || lpad(cast({{ fiscal_year }} % 100 as string), 2, '0')
{%- endmacro %}

{#- true when the agreement withholds `element` from `audience` in the row's academic year -#}
{% macro withheld(element, audience, agreement_id, academic_year_expr) -%}
    coalesce(exists (
        select 1 from {{ source('governance', 'agreement_restrictions') }} as _r
        where _r.agreement_id = {{ agreement_id }}
            and _r.element = '{{ element }}'
            and _r.audience = '{{ audience }}'
            and {{ academic_year_expr }} between _r.academic_year_from and _r.academic_year_to
    ), false)
{%- endmacro %}

{#- the value when the institution permits showing it, else null -#}
{% macro if_permitted(permission, agreement_alias, expr) -%}
    case when coalesce({{ agreement_alias }}.{{ permission }}, false) then {{ expr }} end
{%- endmacro %}
