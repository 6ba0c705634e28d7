"""Tugboat's Kubernetes client: REST client, informers, work queue, leader election, events.

Everything outside the apiserver talks to the API through this package (HTTP only).
"""

from tugboat.client.config import Config, ConfigError, load_default, load_incluster, load_kubeconfig
from tugboat.client.controller import Controller
from tugboat.client.errors import (
    ApiStatusError,
    is_already_exists,
    is_conflict,
    is_expired,
    is_invalid,
    is_not_found,
)
from tugboat.client.events import EventRecorder
from tugboat.client.indexer import Indexer, meta_namespace_key, split_key
from tugboat.client.informer import (
    DeletedFinalStateUnknown,
    EventHandler,
    InformerFactory,
    Lister,
    SharedInformer,
    copy_obj,
    deleted_object,
)
from tugboat.client.leaderelection import LeaderElectionConfig, LeaderElector
from tugboat.client.rest import Client, resource_path
from tugboat.client.workqueue import ShutDown, WorkQueue

__all__ = [
    "ApiStatusError", "Client", "Config", "ConfigError", "Controller", "DeletedFinalStateUnknown",
    "EventHandler", "EventRecorder", "Indexer", "InformerFactory", "LeaderElectionConfig", "LeaderElector",
    "Lister", "SharedInformer", "ShutDown", "WorkQueue", "copy_obj", "deleted_object", "is_already_exists",
    "is_conflict", "is_expired", "is_invalid", "is_not_found", "load_default", "load_incluster",
    "load_kubeconfig", "meta_namespace_key", "resource_path", "split_key",
]
