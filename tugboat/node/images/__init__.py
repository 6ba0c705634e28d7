"""The node's image store: OCI registry pulls, shared layers, overlay root filesystems.

The node agent builds one `LocalImageService(data_dir, registry_config_path)` and hands it to
the runtime; `ensure_image` / `credentials_for` (policy.py) implement imagePullPolicy and
imagePullSecrets on top of it. base.py holds the contract (ImageConfig, PullError).
"""

from tugboat.node.images.base import ImageConfig, ImageService, PullError
from tugboat.node.images.policy import credentials_for, default_policy, ensure_image
from tugboat.node.images.regconfig import RegistryConfig
from tugboat.node.images.service import LocalImageService

__all__ = ["ImageConfig", "ImageService", "PullError", "LocalImageService", "RegistryConfig",
           "ensure_image", "credentials_for", "default_policy"]
