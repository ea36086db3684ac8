"""The ASGI apps ``bench_asgi.py`` serves with both purekong and uvicorn."""

HELLO = b'{"hello":"world"}'
CHUNK = b"x" * (64 * 1024)


async def hello(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(HELLO))]})
    await send({"type": "http.response.body", "body": HELLO})


async def upload(scope, receive, send):
    """Read the whole request body, then stream 1 MiB back in 16 chunks."""
    if scope["type"] != "http":
        return
    received = 0
    while True:
        message = await receive()
        received += len(message.get("body", b""))
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/octet-stream"), (b"x-received", b"%d" % received)]})
    for i in range(16):
        await send({"type": "http.response.body", "body": CHUNK, "more_body": i < 15})
