"""Custom resources: what a CustomResourceDefinition dict means for the API server.

- `resource_types(crd)`: scheme entries, one per served version;
- `validate(obj, schema)`, `prune(obj, schema)`, `apply_defaults(obj, schema)`: structural
  schema handling of custom objects (CEL `x-kubernetes-validations` are a TODO, not evaluated);
- `validate_crd_schema(crd)`: basic structural checks of the CRD's own schemas;
- `scale_paths(version)`, `version`, `storage_version`, `schema_of`, `printer_columns`: helpers.
"""

from .prune import apply_defaults, prune
from .schema_check import validate_crd_schema
from .types import printer_columns, resource_types, scale_paths, schema_of, storage_version, version, versions
from .validate import validate

__all__ = ["apply_defaults", "prune", "validate_crd_schema", "printer_columns", "resource_types", "scale_paths",
           "schema_of", "storage_version", "version", "versions", "validate"]
