"""Server-side apply (structured-merge-diff) and managedFields, as pure functions over dicts.

The API server calls `apply` for `application/apply-patch+yaml` PATCHes and
`update_managed_fields` after every other write; `manager_from_user_agent` and
`validate_field_manager` decide and check the manager name first.
"""

from .fieldset import FieldSet, path_string
from .lastapplied import LAST_APPLIED
from .managed import manager_from_user_agent, validate_field_manager
from .ops import STRIPPED, apply, default_reset_fields, fields_of, update_managed_fields

__all__ = [
    "LAST_APPLIED",
    "STRIPPED",
    "FieldSet",
    "apply",
    "default_reset_fields",
    "fields_of",
    "manager_from_user_agent",
    "path_string",
    "update_managed_fields",
    "validate_field_manager",
]
