"""The reports' one Jinja environment: autoescape on (student text is untrusted), an undefined
name an error, each template compiled once per process, and the filters of `markup` that write
the report's most repeated elements."""

from __future__ import annotations

from jinja2 import Environment, PackageLoader, StrictUndefined, Template

from grader.report.markup import FILTERS

ENVIRONMENT = Environment(
    loader=PackageLoader("grader", "report/templates"),
    autoescape=True,
    undefined=StrictUndefined,
    keep_trailing_newline=True,
)
ENVIRONMENT.filters.update(FILTERS)


def template(name: str) -> Template:
    return ENVIRONMENT.get_template(name)


def warm() -> None:
    """Compile every template now (about 0.2 s), e.g. while the fork server starts."""
    for name in ENVIRONMENT.list_templates(extensions=["j2"]):
        ENVIRONMENT.get_template(name)
