"""The query and path parameters upstream declares on each kind of operation.

kubectl reads these: `apply`/`create`/`replace` only send `fieldValidation=Strict` (and skip
client-side validation) when the PATCH operation of the kind lists a `fieldValidation` query
parameter (cli-runtime `query_param_verifier_v3.go`); `dryRun` support is checked the same way.
The wording follows upstream's generated documentation.
"""

from __future__ import annotations

from typing import Any

Param = dict[str, Any]


def _q(name: str, description: str, type_: str = "string") -> Param:
    return {"name": name, "in": "query", "description": description,
            "schema": {"type": type_, "uniqueItems": True}}


PRETTY = _q("pretty", "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent "
            "indicates a browser or command-line HTTP tool (curl and wget).")
DRY_RUN = _q("dryRun", "When present, indicates that modifications should not be persisted. An invalid or "
             "unrecognized dryRun directive will result in an error response and no further processing of "
             "the request. Valid values are: - All: all dry run stages will be processed")
_FM = ("fieldManager is a name associated with the actor or entity that is making these changes. The value "
       "must be less than or 128 characters long, and only contain printable characters, as defined by "
       "https://golang.org/pkg/unicode/#IsPrint.")
FIELD_MANAGER = _q("fieldManager", _FM)
FIELD_MANAGER_PATCH = _q("fieldManager", _FM + " This field is required for apply requests "
                         "(application/apply-patch) but optional for non-apply patch types (JsonPatch, "
                         "MergePatch, StrategicMergePatch).")
FIELD_VALIDATION = _q(
    "fieldValidation",
    "fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) "
    "containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown "
    "fields that are silently dropped from the object, and will ignore all but the last duplicate field "
    "that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a "
    "warning via the standard warning response header for each unknown field that is dropped from the "
    "object, and for each duplicate field that is encountered. The request will still succeed if there "
    "are no other errors, and will only persist the last of any duplicate fields. This is the default in "
    "v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be "
    "dropped from the object, or if any duplicate fields are present. The error returned from the server "
    "will contain all unknown and duplicate fields encountered.")
FORCE = _q("force", 'Force is going to "force" Apply requests. It means user will re-acquire conflicting '
           "fields owned by other people. Force flag must be unset for non-apply patch requests.", "boolean")

ALLOW_WATCH_BOOKMARKS = _q(
    "allowWatchBookmarks",
    'allowWatchBookmarks requests watch events with type "BOOKMARK". Servers that do not implement '
    "bookmarks may ignore this flag and bookmarks are sent at the server's discretion. Clients should not "
    "assume bookmarks are returned at any specific interval, nor may they assume the server will send any "
    "BOOKMARK event during a session. If this is not a watch, this field is ignored.", "boolean")
CONTINUE = _q(
    "continue",
    "The continue option should be set when retrieving more results from the server. Since this value is "
    "server defined, clients may only use the continue value from a previous query result with identical "
    "query parameters (except for the value of continue) and the server may reject a continue value it does "
    "not recognize. If the specified continue value is no longer valid whether due to expiration (generally "
    "five to fifteen minutes) or a configuration change on the server, the server will respond with a 410 "
    "ResourceExpired error together with a continue token.")
FIELD_SELECTOR = _q("fieldSelector", "A selector to restrict the list of returned objects by their fields. "
                    "Defaults to everything.")
LABEL_SELECTOR = _q("labelSelector", "A selector to restrict the list of returned objects by their labels. "
                    "Defaults to everything.")
LIMIT = _q(
    "limit",
    "limit is a maximum number of responses to return for a list call. If more items exist, the server will "
    "set the `continue` field on the list metadata to a value that can be used with the same initial query "
    "to retrieve the next set of results. Setting a limit may return fewer than the requested amount of "
    "items (up to zero items) in the event all requested conditions are met, so clients should only use the "
    "presence of the continue field to determine whether more results are available.", "integer")
RESOURCE_VERSION = _q(
    "resourceVersion",
    "resourceVersion sets a constraint on what resource versions a request may be served from. See "
    "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
    "Defaults to unset")
RESOURCE_VERSION_MATCH = _q(
    "resourceVersionMatch",
    "resourceVersionMatch determines how resourceVersion is applied to list calls. It is highly recommended "
    "that resourceVersionMatch be set for list calls where resourceVersion is set See "
    "https://kubernetes.io/docs/reference/using-api/api-concepts/#resource-versions for details.\n\n"
    "Defaults to unset")
SEND_INITIAL_EVENTS = _q(
    "sendInitialEvents",
    "`sendInitialEvents=true` may be set together with `watch=true`. In that case, the watch stream will "
    "begin with synthetic events to produce the current state of objects in the collection. Once all such "
    'events have been sent, a synthetic "Bookmark" event  will be sent. The bookmark will report the '
    "ResourceVersion (RV) corresponding to the set of objects, and be marked with "
    '`"k8s.io/initial-events-end": "true"` annotation.', "boolean")
TIMEOUT_SECONDS = _q("timeoutSeconds", "Timeout for the list/watch call. This limits the duration of the call, "
                     "regardless of any activity or inactivity.", "integer")
WATCH = _q("watch", "Watch for changes to the described resources and return them as a stream of add, update, "
           "and remove notifications. Specify resourceVersion.", "boolean")

GRACE_PERIOD = _q(
    "gracePeriodSeconds",
    "The duration in seconds before the object should be deleted. Value must be non-negative integer. The "
    "value zero indicates delete immediately. If this value is nil, the default grace period for the "
    "specified type will be used. Defaults to a per object value if not specified. zero means delete "
    "immediately.", "integer")
IGNORE_STORE_READ_ERROR = _q(
    "ignoreStoreReadErrorWithClusterBreakingPotential",
    "if set to true, it will trigger an unsafe deletion of the resource in case the normal deletion flow "
    "fails with a corrupt object error. A resource is considered corrupt if it can not be retrieved from "
    "the underlying storage successfully because of a) its data can not be transformed e.g. decryption "
    "failure, or b) it fails to decode into an object. NOTE: unsafe deletion ignores finalizer constraints, "
    "skips precondition checks, and removes the object from the storage. WARNING: This may potentially "
    "break the cluster if the workload associated with the resource being unsafe-deleted relies on normal "
    "deletion flow. Use only if you REALLY know what you are doing. The default value is false, and the "
    "user must opt in to enable it", "boolean")
ORPHAN_DEPENDENTS = _q(
    "orphanDependents",
    "Deprecated: please use the PropagationPolicy, this field will be deprecated in 1.7. Should the "
    'dependent objects be orphaned. If true/false, the "orphan" finalizer will be added to/removed from the '
    "object's finalizers list. Either this field or PropagationPolicy may be set, but not both.", "boolean")
PROPAGATION_POLICY = _q(
    "propagationPolicy",
    "Whether and how garbage collection will be performed. Either this field or OrphanDependents may be set, "
    "but not both. The default policy is decided by the existing finalizer set in the metadata.finalizers "
    "and the resource-specific default policy. Acceptable values are: 'Orphan' - orphan the dependents; "
    "'Background' - allow the garbage collector to delete the dependents in the background; 'Foreground' - "
    "a cascading policy that deletes all dependents in the foreground.")

LIST = [ALLOW_WATCH_BOOKMARKS, CONTINUE, FIELD_SELECTOR, LABEL_SELECTOR, LIMIT, RESOURCE_VERSION,
        RESOURCE_VERSION_MATCH, SEND_INITIAL_EVENTS, TIMEOUT_SECONDS, WATCH]
CREATE = [DRY_RUN, FIELD_MANAGER, FIELD_VALIDATION]
UPDATE = CREATE
PATCH = [DRY_RUN, FIELD_MANAGER_PATCH, FIELD_VALIDATION, FORCE]
DELETE = [DRY_RUN, GRACE_PERIOD, IGNORE_STORE_READ_ERROR, ORPHAN_DEPENDENTS, PROPAGATION_POLICY]
DELETE_COLLECTION = [CONTINUE, DRY_RUN, FIELD_SELECTOR, GRACE_PERIOD, IGNORE_STORE_READ_ERROR, LABEL_SELECTOR,
                     LIMIT, ORPHAN_DEPENDENTS, PROPAGATION_POLICY, RESOURCE_VERSION, RESOURCE_VERSION_MATCH,
                     SEND_INITIAL_EVENTS, TIMEOUT_SECONDS]

# Query parameters of "connect" subresources and pods/log (from their *Options types).
_CONNECT: dict[str, list[tuple[str, str, str]]] = {
    "exec": [("command", "Command is the remote command to execute. argv array. Not executed within a shell.",
              "string"),
             ("container", "Container in which to execute the command. Defaults to only container if there is "
              "only one container in the pod.", "string"),
             ("stderr", "Redirect the standard error stream of the pod for this call.", "boolean"),
             ("stdin", "Redirect the standard input stream of the pod for this call. Defaults to false.",
              "boolean"),
             ("stdout", "Redirect the standard output stream of the pod for this call.", "boolean"),
             ("tty", "TTY if true indicates that a tty will be allocated for the exec call. Defaults to false.",
              "boolean")],
    "attach": [("container", "The container in which to execute the command. Defaults to only container if "
                "there is only one container in the pod.", "string"),
               ("stderr", "Stderr if true indicates that stderr is to be redirected for the attach call. "
                "Defaults to true.", "boolean"),
               ("stdin", "Stdin if true, redirects the standard input stream of the pod for this call. "
                "Defaults to false.", "boolean"),
               ("stdout", "Stdout if true indicates that stdout is to be redirected for the attach call. "
                "Defaults to true.", "boolean"),
               ("tty", "TTY if true indicates that a tty will be allocated for the attach call. This is passed "
                "through the container runtime so the tty is allocated on the worker node by the container "
                "runtime. Defaults to false.", "boolean")],
    "portforward": [("ports", "List of ports to forward Required when using WebSockets", "integer")],
    "proxy": [("path", "Path is the URL path to use for the current proxy request to pod.", "string")],
    "log": [("container", "The container for which to stream logs. Defaults to only container if there is one "
             "container in the pod.", "string"),
            ("follow", "Follow the log stream of the pod. Defaults to false.", "boolean"),
            ("insecureSkipTLSVerifyBackend", "insecureSkipTLSVerifyBackend indicates that the apiserver should "
             "not confirm the validity of the serving certificate of the backend it is connecting to.",
             "boolean"),
            ("limitBytes", "If set, the number of bytes to read from the server before terminating the log "
             "output. This may not display a complete final line of logging, and may return slightly more or "
             "slightly less than the specified limit.", "integer"),
            ("previous", "Return previous terminated container logs. Defaults to false.", "boolean"),
            ("sinceSeconds", "A relative time in seconds before the current time from which to show logs. If "
             "this value precedes the time a pod was started, only logs since the pod start will be returned. "
             "If this value is in the future, no logs will be returned. Only one of sinceSeconds or sinceTime "
             "may be specified.", "integer"),
            ("tailLines", "If set, the number of lines from the end of the logs to show. If not specified, logs "
             "are shown from the creation of the container or sinceSeconds or sinceTime", "integer"),
            ("timestamps", "If true, add an RFC3339 or RFC3339Nano timestamp at the beginning of every line of "
             "log output. Defaults to false.", "boolean")],
}


def subresource_query(name: str) -> list[Param]:
    return [_q(n, d, t) for n, d, t in _CONNECT.get(name, [])]


def path_param(name: str, description: str) -> Param:
    return {"name": name, "in": "path", "description": description, "required": True,
            "schema": {"type": "string", "uniqueItems": True}}


NAMESPACE = path_param("namespace", "object name and auth scope, such as for teams and projects")
