"""Wire-protocol codecs shared by the API server and the node agent.

Pure code (bytes in, frames and bytes out): the SPDY/3.1 framing, header compression and
session state that `kubectl port-forward` needs (spdy_frames, spdy_session). Only
`spdy_upgrade` touches I/O: it hands an accepted aiohttp HTTP upgrade over as a raw byte
stream, which both the API server (tunnelling) and the agent (serving) need.
"""
