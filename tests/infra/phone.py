"""The people on a deployed call, as a program run inside a network namespace of their own.

    ip netns exec NS python -m tests.infra.phone --api-base=https://ADDR --ca=CA.pem

Reads one JSON line on stdin: {"code": <the victim's join code>, "officer": <the officer's
LiveKit token, as POST /visits/{id}/token answers>}. Then, as the victim's phone would, it
spends the code, runs the connection check (its WebRTC leg included), consents to the
recording and asks for its LiveKit token; the officer and the victim join the room as Python
SDK participants publishing a colour and a tone, and each waits for the other's media. It
prints one JSON line (the session, the check's verdict, the media each side received) and
keeps both publishing until stdin closes; then it leaves and prints {"left": true} with the
video frames each side had received by then.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import sys
from typing import Any

import aiohttp

from loadtests.check_client import run_check
from loadtests.media import SyntheticParticipant

OFFICER_RGB, VICTIM_RGB = (200, 40, 40), (40, 40, 200)


async def _post(
    http: aiohttp.ClientSession, url: str, *, bearer: str | None = None, body: Any = None
) -> Any:
    headers = {"Authorization": f"Bearer {bearer}"} if bearer else {}
    async with http.post(url, json=body, headers=headers) as resp:
        data = await resp.json(content_type=None)
        if resp.status >= 300:
            raise RuntimeError(f"POST {url}: {resp.status} {data}")
        return data


async def main(api_base: str, ca: str) -> int:
    loop = asyncio.get_running_loop()
    given = json.loads(await loop.run_in_executor(None, sys.stdin.readline))
    context = ssl.create_default_context(cafile=ca)
    officer = SyntheticParticipant(rgb=OFFICER_RGB, tone_hz=440.0)
    victim = SyntheticParticipant(rgb=VICTIM_RGB, tone_hz=660.0)
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(ssl=context)) as http:
        joined = await _post(http, f"{api_base}/api/v1/join/{given['code']}")
        session = joined["session"]
        verdict = await run_check(http, api_base, session)
        await _post(
            http,
            f"{api_base}/api/v1/participant/recording/consent",
            bearer=session,
            body={"consent": True},
        )
        token = await _post(http, f"{api_base}/api/v1/participant/token", bearer=session)
        try:
            await officer.connect(given["officer"]["url"], given["officer"]["token"])
            await victim.connect(token["url"], token["token"])
            await officer.publish()
            await victim.publish()
            at_officer = await officer.wait_for_media(token["identity"], video=10, audio=10)
            at_victim = await victim.wait_for_media(
                given["officer"]["identity"], video=10, audio=10
            )
            report = {
                "session": session,
                "verdict": verdict,
                "victim_identity": token["identity"],
                "victim_url": token["url"],
                "officer_got": {"video": at_officer.video_frames, "rgb": at_officer.last_rgb},
                "victim_got": {"video": at_victim.video_frames, "rgb": at_victim.last_rgb},
            }
            print(json.dumps(report), flush=True)
            # Publish until the test has recorded its statement and closes our stdin.
            await loop.run_in_executor(None, sys.stdin.read)
            frames = {
                "officer_video": officer.received[token["identity"]].video_frames,
                "victim_video": victim.received[given["officer"]["identity"]].video_frames,
            }
        finally:
            await victim.close()
            await officer.close()
    print(json.dumps({"left": True, **frames}), flush=True)
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--api-base", required=True)
    parser.add_argument("--ca", required=True)
    args = parser.parse_args()
    sys.exit(asyncio.run(main(args.api_base, args.ca)))
