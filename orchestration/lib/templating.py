"""Jinja2 environments for everything the project renders from templates: the
governance report (HTML, escaped) and generated text files (markdown docs, dbt models
and their YAML, which must not be HTML-escaped).

Templates live beside the module that renders them and are read through the package
(importlib.resources via PackageLoader), so they work from a source checkout, an
editable install and a wheel alike (pyproject.toml ships them as package data).
Undefined names fail loudly instead of rendering as blank."""

from jinja2 import Environment, PackageLoader, StrictUndefined


def html_environment(package: str, folder: str = "templates") -> Environment:
    """Autoescape on for every template: a value is HTML-escaped unless it is a
    markupsafe.Markup its producer escaped itself (the inline SVG)."""
    return Environment(
        loader=PackageLoader(package, folder),
        autoescape=True,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def text_environment(package: str, folder: str = "templates", **options) -> Environment:
    """No escaping (markdown, SQL, YAML); the template writes exactly what it says,
    including its final newline. `options` go to jinja2.Environment (e.g. other
    delimiters for templates whose output is itself Jinja)."""
    return Environment(
        loader=PackageLoader(package, folder),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        **options,
    )
