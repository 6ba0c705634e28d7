"""Tugboat: a Kubernetes-compatible container orchestrator written in Python."""

__version__ = "0.1.0"

# The Kubernetes version whose API Tugboat speaks. kubectl's dispatcher on these machines
# picks its client from /version's minor, so this must say 32.
KUBE_MAJOR = "1"
KUBE_MINOR = "32"
KUBE_GIT_VERSION = "v1.32.0"
