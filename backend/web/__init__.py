"""The web layer below both faces: declared API operations (`endpoint`, `openapi`), request limits,
security headers, the lazy cookie session, `Idempotency-Key`, file downloads, and the routes that
are neither API nor console: `/media`, the landing page `/s/<scene>`, `/metrics` and WeChat's
push callback `/wechat/callback`."""
