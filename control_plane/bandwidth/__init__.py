"""The connection check: bandwidth, RTT and a WebRTC leg, measured and enforced by the server.

Every figure comes from the server's own clock and its own byte counts, so a phone can only
ever make its result worse; the one figure a phone adds, its count of lost packets, is only
ever taken when it is worse than the server's own. Thresholds and budgets:
`BandwidthSettings` ([bandwidth] in the settings file); their justification:
docs/bandwidth.md.

Protocol (all requests carry `Authorization: Bearer <participant session>`; C is
`/api/v1/participant/check/{check_id}`):

1. `POST /api/v1/participant/check` -> 201, the plan: `check_id`, `expires_in`, the paths
   below, the caps (`download.max_bytes/max_seconds/chunk_bytes/nonce_bytes`,
   `upload.max_bytes/max_seconds`, `rtt.rounds`) and `probe` {url, token, room, seconds,
   max_seconds, status_path, video {width, height, max_bitrate, max_framerate}}. The server
   creates a probe room `probe-<check_id>` and joins it as a hidden subscriber before it
   answers; the token can publish a camera in that room and nothing else.
2. RTT: `POST C/rtt` `{"nonce": null}` -> `{"nonce": N1, "done": false, "samples": 0}`; send
   `{"nonce": N1}` back at once -> `{"nonce": N2, ...}`; repeat until `done`. Each sample is
   server time from sending Nk to receiving it back; the verdict uses the median.
3. WebRTC leg, after the download (4): nothing else may share the link while that runs (the
   leg's joining takes downlink bytes, and its video queues the download's TCP
   acknowledgements on a slow uplink, so the downlink would read low). Connect to
   `probe.url` with `probe.token` (ICE servers as the SFU hands them out: LiveKit falls
   back to ICE/TCP or TURN when UDP is blocked) and publish a camera at `probe.video`. After
   `probe.seconds`, poll `GET C/probe` -> `{"subscribed", "frames", "seconds", "done"}`
   every 0.3 s until `done` (the server has seen
   `probe.seconds` of video arrive) or `probe.max_seconds` have passed; then disconnect.
   The server counts frames, bitrate, loss and jitter as its subscriber received them.
4. Download: `GET C/download` streams chunks of `chunk_bytes` for at most `max_seconds` or
   `max_bytes`. The last `nonce_bytes` (32 ASCII hex) of every chunk are a fresh random
   nonce. Read until the stream ends (or `max_seconds` + 0.5 s pass), then
   `POST C/download/ack` `{"nonce": <last nonce of the last complete chunk>}` ->
   `{"downlink_kbps", "bytes", "seconds"}`. The rate is the median of the kernel's
   delivery-rate samples (TCP_INFO) taken while the phone had acknowledged no more than the
   bytes through that chunk; never below, nor above twice, the proven rate (bytes through
   that chunk over the time from the stream's start to the ack's arrival), which stands in
   where the kernel offers no samples. An unknown nonce is refused (400).
5. Upload (after the WebRTC leg, so they do not compete): `POST C/upload/ticket` ->
   `{"ticket", "max_bytes", "max_seconds"}`, which starts the server's clock; at once
   `POST C/upload?ticket=<ticket>` with an `application/octet-stream` body of at most
   `max_bytes` random bytes. The server reads until a cap and answers
   `{"uplink_kbps", "bytes", "seconds"}`: body bytes the connection delivered (the kernel's
   count, read or not) over the time since the ticket. Past a cap it stops reading and
   closes the connection.
6. `POST C/finish` `{"transport": {"protocol", "candidate_type", "relay_protocol"} | null,
   "sender": {"packets_sent", "retransmitted_packets_sent", "nack_count",
   "remote_packets_lost"} | null}` (the probe's selected ICE pair as the phone saw it,
   informational; its video sender's WebRTC counters, which can only raise the loss figure:
   `loss`) -> the verdict:
   `verdict` (hd | sd | audio_only | insufficient), `offered`, `publish_caps`,
   `video_preset`, the figures, `measurements`, `reasons`, `valid_until`. It is stored on
   the visit (`bandwidth_checks`, a visit event; for the victim, `network_adequate` when
   video is possible).

A check is void `expires_in` seconds after it started; requests for it then get 410 (or 404
once it is gone). `POST /api/v1/participant/token` then follows the participant's latest
verdict (see `gating`).
"""
