"""The node agent's own HTTPS server (the kubelet's port 10250): logs, exec, attach, and the
routes other modules add (port-forward, stats).

    server = AgentServer(agent, host="0.0.0.0", port=10250, ssl_context=ctx)
    agent.add_service(server)          # started before the Node registers, stopped with the agent

The API server talks to it (it proxies `pods/log|exec|attach|portforward`) and so may anyone
the API server's RBAC allows `nodes/proxy|log|stats|metrics` on this node: a caller presents a
client certificate of the cluster CA or a bearer token (TokenReview), and each request is
authorized with a SubjectAccessReview — see auth.py and webhook.py. Handlers find the agent as `request.app[AGENT]`;
another module adds its routes with a `register(app)` function that app.py calls if the module
exists (`tugboat.node.server.portforward`, `tugboat.node.server.stats`).
"""

from __future__ import annotations

from tugboat.node.server.app import AGENT, AgentServer

__all__ = ["AGENT", "AgentServer"]
