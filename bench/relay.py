#!/usr/bin/python3
"""A TCP relay on 127.0.0.1 that delays each direction by a fixed time: the bench's stand-in for a
network with latency (the kernel on the development machines has no netem).

    /usr/bin/python3 bench/relay.py TARGET_PORT DELAY_MS [TARGET_HOST]

Listens on a free loopback port, prints it on stdout, and forwards every connection to
TARGET_HOST:TARGET_PORT (127.0.0.1 by default). Each chunk read is written to the other side
DELAY_MS after the moment it was read, so a round trip gains 2 x DELAY_MS while the stream keeps
its throughput: chunks are queued with their due time, not slept on one after the other (a sleep
per chunk would cap a stream at one chunk per delay). Half-closes are passed on after the same
delay, and a new connection's first bytes wait one more round trip (the TCP handshake that the
loopback kernel completes at once). Runs until killed.
"""
import asyncio
import socket
import sys
import time

CHUNK = 256 * 1024


async def pump(reader, writer, delay):
    """Copies @reader to @writer, each chunk delay seconds after it was read. A reader task and a
    writer task joined by a queue: the reader never waits for the delay, so the pipe holds
    delay x throughput bytes in flight, as a long link does. The queue is not bounded: the
    relay takes what the sender sends as fast as it comes (a study of the bench's size fits in
    memory), so the time measured is the receiver's, which is what the bench compares."""
    queue = asyncio.Queue()

    async def read_side():
        try:
            while True:
                data = await reader.read(CHUNK)
                await queue.put((time.monotonic() + delay, data))
                if not data:
                    return
        except (ConnectionError, OSError):
            await queue.put((time.monotonic() + delay, None))

    async def write_side():
        try:
            while True:
                due, data = await queue.get()
                wait = due - time.monotonic()
                if wait > 0:
                    await asyncio.sleep(wait)
                if data is None:  # the other side reset: reset this one too
                    writer.transport.abort()
                    return
                if not data:
                    if writer.can_write_eof():
                        writer.write_eof()
                    return
                writer.write(data)
                await writer.drain()
        except (ConnectionError, OSError):
            writer.transport.abort()

    reading = asyncio.ensure_future(read_side())
    try:
        await write_side()
    finally:
        reading.cancel()


async def serve(target_host, target_port, delay):
    async def handle(client_r, client_w):
        # The kernel has completed the client's handshake already; a real link would take one
        # round trip (SYN, SYN-ACK) before the client's first byte leaves: hold it back that long.
        await asyncio.sleep(2 * delay)
        try:
            server_r, server_w = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_w.transport.abort()
            return
        for w in (client_w, server_w):
            w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            await asyncio.gather(pump(client_r, server_w, delay), pump(server_r, client_w, delay))
        finally:
            client_w.close()
            server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def main():
    target_port, delay_ms = int(sys.argv[1]), float(sys.argv[2])
    target_host = sys.argv[3] if len(sys.argv) > 3 else "127.0.0.1"
    asyncio.run(serve(target_host, target_port, delay_ms / 1000.0))


if __name__ == "__main__":
    main()
