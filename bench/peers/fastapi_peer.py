"""Benchmark peer (a): the approach of the original Python dashboards — FastAPI + uvicorn, every tick broadcast to
every socket in a loop (``for ws in clients: await ws.send_text(msg)``).

Fed the same ticks as the relay: it reads the Schwab simulator's tick tap (``/sim/ticks``, one JSON frame per
market tick with the changed contracts) and forwards each frame, unchanged, to every connected client.

    python fastapi_peer.py --listen 127.0.0.1:9101 --upstream ws://127.0.0.1:8900/sim/ticks?underlying=SIMX&expiry=nearest

Prints ``fastapi peer listening on ws://ADDR/ws`` once it serves.
"""

import argparse
import asyncio
import contextlib

import uvicorn
import websockets
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

app = FastAPI()
clients: set[WebSocket] = set()
UPSTREAM = ""


@app.websocket("/ws")
async def ws_endpoint(ws: WebSocket) -> None:
    await ws.accept()
    clients.add(ws)
    try:
        while True:
            await ws.receive_text()
    except WebSocketDisconnect:
        pass
    finally:
        clients.discard(ws)


async def broadcast(msg: str) -> None:
    # The naive loop: one slow socket holds up everyone behind it.
    for ws in list(clients):
        try:
            await ws.send_text(msg)
        except Exception:  # noqa: BLE001 - a closed socket is dropped, as dashboards do
            clients.discard(ws)


async def upstream() -> None:
    while True:
        try:
            async with websockets.connect(UPSTREAM, max_size=None) as up:
                async for msg in up:
                    await broadcast(msg if isinstance(msg, str) else msg.decode())
        except (OSError, websockets.ConnectionClosed):
            await asyncio.sleep(0.5)


@app.on_event("startup")
async def start_upstream() -> None:
    app.state.upstream = asyncio.create_task(upstream())


@app.on_event("shutdown")
async def stop_upstream() -> None:
    app.state.upstream.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await app.state.upstream


def main() -> None:
    global UPSTREAM
    p = argparse.ArgumentParser()
    p.add_argument("--listen", default="127.0.0.1:9101")
    p.add_argument("--upstream", required=True)
    a = p.parse_args()
    UPSTREAM = a.upstream
    host, port = a.listen.rsplit(":", 1)
    print(f"fastapi peer listening on ws://{a.listen}/ws", flush=True)
    uvicorn.run(app, host=host, port=int(port), log_level="warning", ws_max_size=1 << 20)


if __name__ == "__main__":
    main()
