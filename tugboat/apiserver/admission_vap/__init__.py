"""ValidatingAdmissionPolicy (CEL) admission."""

from .plugin import ValidatingAdmissionPolicyPlugin

__all__ = ["ValidatingAdmissionPolicyPlugin"]
