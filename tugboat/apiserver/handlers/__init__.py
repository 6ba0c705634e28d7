"""One module per verb group; each works on a `Req` and returns a `Resp` / `StreamResp`."""
