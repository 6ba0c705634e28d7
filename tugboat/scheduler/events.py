"""Cluster events that can make an unschedulable pod schedulable (upstream's ClusterEvent).

Each plugin lists the events that may undo its own rejections; when one happens, the queue
moves the pods that plugin rejected back to active (or back-off). Pods whose rejecting plugins
are unknown move on any event.
"""

NODE_ADD = "Node/Add"
NODE_DELETE = "Node/Delete"
NODE_ALLOCATABLE = "Node/UpdateNodeAllocatable"
NODE_LABEL = "Node/UpdateNodeLabel"
NODE_TAINT = "Node/UpdateNodeTaint"  # includes spec.unschedulable, as upstream maps it
NODE_CONDITION = "Node/UpdateNodeCondition"
POD_ADD = "AssignedPod/Add"
POD_LABEL = "AssignedPod/UpdatePodLabel"
POD_SCALE_DOWN = "AssignedPod/UpdatePodScaleDown"
POD_DELETE = "AssignedPod/Delete"
UNSCHEDULABLE_TIMEOUT = "UnschedulableTimeout"
FORCE_ACTIVATE = "ForceActivate"
PDB_CHANGE = "PodDisruptionBudget/All"
NAMESPACE_LABEL = "Namespace/UpdateLabel"
