"""`tug image build`: OCI images from a Containerfile subset, without a Docker engine.

containerfile (parse + variable expansion) → builder (one method per instruction, layers and
image config) → layer (overlay-form dir ↔ OCI layer, COPY staging) / run (RUN in runc over an
overlay) / base (FROM from a registry) → pushed with tugboat.node.images.push. cli wires the
`build` and `ls` subcommands of `tug image`.
"""
