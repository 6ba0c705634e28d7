"""Pod Security admission (Pod Security Standards v1.32): levels, checks, namespace labels."""

from .admission import PodSecurityAdmission
from .policy import LevelVersion, PodSecurityConfig
from .restricted import evaluate

__all__ = ["LevelVersion", "PodSecurityAdmission", "PodSecurityConfig", "evaluate"]
