"""`tug server --token`: share the cluster CA, its key and the service-account key between HA
servers through the datastore (tugboat.apiserver.bootstrapdata), so a second server needs
only `--datastore etcd://… --token K10…` — no files copied by hand.

The first server (no bootstrap data under its token yet) generates its CA and keys as usual
and stores them, encrypted with the token; a server started later with the same token fetches
and decrypts them before it makes any certificate, and refuses to start when the CA it got does
not hash to the token's pin (`K10<sha256 of the CA>::…`: the token was made for another
cluster, or the datastore was tampered with) or when its data dir already holds another CA.
`--token` may also be a bare bootstrap token `<id>.<secret>` (k3s lets the first server pick
its token): it then becomes the credential of the server's K10 token.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from tugboat.cli.join import BOOTSTRAP_TOKEN_RE, JoinToken, TokenError, ca_hash, parse_join_token


class BootstrapRefused(Exception):
    """Why this server must not start with this token/datastore (a message for the user)."""


@dataclass(frozen=True)
class TokenArg:
    passphrase: str  # `<id>.<secret>`: what the bootstrap data is encrypted with
    ca_pin: str  # sha256 of the CA the token pins ('' for a bare bootstrap token)


def parse_token_arg(text: str) -> TokenArg:
    text = text.strip()
    m = BOOTSTRAP_TOKEN_RE.match(text)
    if m:
        return TokenArg(text, "")
    try:
        tok = parse_join_token(text)
    except TokenError as e:
        raise BootstrapRefused(f"--token: {e} (or a bare bootstrap token <id>.<secret>)") from None
    return TokenArg(tok.bootstrap_token, tok.ca_hash)


async def fetch(backend: object, data: Path, arg: TokenArg) -> bool:
    """Before the PKI exists: write the stored CA/keys into DATA_DIR/tls when the datastore has
    them for this token. True when it did (this server joins an existing cluster)."""
    from tugboat.apiserver import bootstrapdata as bd

    try:
        files = await bd.load(backend, arg.passphrase)  # type: ignore[arg-type]
    except bd.BootstrapDataError as e:
        raise BootstrapRefused(str(e)) from None
    tls = data / "tls"
    if files is None:
        local = tls / "ca.crt"
        if arg.ca_pin and not (local.exists() and ca_hash(local.read_bytes()) == arg.ca_pin):
            raise BootstrapRefused("no cluster bootstrap data for this token in the datastore: start the first "
                                   "server (the one that made the token) on the same --datastore first, "
                                   "or check the token")
        return False  # the first server: it stores its own after the PKI exists
    _check(tls, files, arg)
    bd.write_files(tls, {k: v for k, v in files.items() if k in bd.FILES})
    _write_token(data, JoinToken(ca_hash(files["ca.crt"]), *arg.passphrase.split(".")))
    return True


def _check(tls: Path, files: dict[str, bytes], arg: TokenArg) -> None:
    ca = files.get("ca.crt")
    if not ca or "ca.key" not in files:
        raise BootstrapRefused("the datastore's bootstrap data has no CA certificate/key")
    if arg.ca_pin and ca_hash(ca) != arg.ca_pin:
        raise BootstrapRefused(f"the cluster CA in the datastore (sha256 {ca_hash(ca)[:16]}…) does not match the "
                               f"token's pin ({arg.ca_pin[:16]}…): refusing to join")
    local = tls / "ca.crt"
    if local.exists() and local.read_bytes() != ca:
        raise BootstrapRefused(f"{local} holds another cluster's CA than the datastore: use a fresh --data-dir "
                               "(or the matching token)")


async def publish(backend: object, data: Path, arg: TokenArg | None) -> None:
    """After the PKI and the SA key exist: store them under the server's token unless a server
    did already (then they must be the same CA — else refuse)."""
    from tugboat.apiserver import bootstrapdata as bd

    tls = data / "tls"
    ca = (tls / "ca.crt").read_bytes()
    if arg is not None and not arg.ca_pin:
        _write_token(data, JoinToken(ca_hash(ca), *arg.passphrase.split(".")))
    passphrase = arg.passphrase if arg is not None else _token_passphrase(data, ca)
    if not passphrase:
        return
    mine = bd.read_files(tls)
    try:
        held = await bd.store(backend, passphrase, mine)  # type: ignore[arg-type]
    except bd.BootstrapDataError as e:
        raise BootstrapRefused(str(e)) from None
    if held.get("ca.crt") != ca:
        raise BootstrapRefused("another server stored a different cluster CA under this token first: restart "
                               "this server with a fresh --data-dir to join it")


def _token_passphrase(data: Path, ca: bytes) -> str:
    from tugboat.cli.join import load_or_create_token

    return load_or_create_token(data, ca).bootstrap_token


def _write_token(data: Path, tok: JoinToken) -> None:
    path = data / "token"
    if path.exists() and path.read_text().strip() == str(tok):
        return
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(tok) + "\n")
    tmp.chmod(0o600)
    tmp.replace(path)
