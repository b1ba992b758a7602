#!/usr/bin/python3
"""A TCP relay on 127.0.0.1 that delays each direction by a fixed time: the bench's stand-in for a
network with latency (the kernel on the development machines has no netem).

    /usr/bin/python3 bench/relay.py TARGET_PORT DELAY_MS [TARGET_HOST] [--rate BYTES_PER_S]

Listens on a free loopback port, prints it on stdout, and forwards every connection to
TARGET_HOST:TARGET_PORT (127.0.0.1 by default). Each chunk read is written to the other side
DELAY_MS after the moment it was read, so a round trip gains 2 x DELAY_MS while the stream keeps
its throughput: chunks are queued with their due time, not slept on one after the other (a sleep
per chunk would cap a stream at one chunk per delay). Half-closes are passed on after the same
delay, and a new connection's first bytes wait one more round trip (the TCP handshake that the
loopback kernel completes at once). With --rate (bytes per second, with a K/M/G suffix: 125M is
1 Gbit/s), each direction is one link of that capacity that all connections share, as on a real
network: a chunk leaves when the link is free and takes len/rate to cross it, then the delay.
Runs until killed.
"""
import asyncio
import socket
import sys
import time

CHUNK = 256 * 1024

# The shared link, per direction: its capacity (bytes/s, 0: unbounded) and when it is next free.
RATE = 0.0
LINK_FREE = {"up": 0.0, "down": 0.0}


def due_time(direction, size, delay):
    """When a chunk of @size bytes read now arrives at the other side: after the chunks before
    it on the link (all connections', one direction) have crossed, its own len/rate, and the
    delay."""
    now = time.monotonic()
    if not RATE:
        return now + delay
    start = max(now, LINK_FREE[direction])
    LINK_FREE[direction] = start + size / RATE
    return LINK_FREE[direction] + delay


async def pump(reader, writer, delay, direction):
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
                await queue.put((due_time(direction, len(data), delay), data))
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
            await asyncio.gather(pump(client_r, server_w, delay, "up"),
                                 pump(server_r, client_w, delay, "down"))
        finally:
            client_w.close()
            server_w.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], flush=True)
    async with server:
        await server.serve_forever()


def parse_rate(text):
    units = {"K": 1e3, "M": 1e6, "G": 1e9}
    if text[-1:].upper() in units:
        return float(text[:-1]) * units[text[-1:].upper()]
    return float(text)


def main():
    global RATE
    argv = sys.argv[1:]
    if "--rate" in argv:
        i = argv.index("--rate")
        RATE = parse_rate(argv[i + 1])
        del argv[i:i + 2]
    target_port, delay_ms = int(argv[0]), float(argv[1])
    target_host = argv[2] if len(argv) > 2 else "127.0.0.1"
    asyncio.run(serve(target_host, target_port, delay_ms / 1000.0))


if __name__ == "__main__":
    main()
