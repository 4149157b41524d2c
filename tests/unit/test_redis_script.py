"""The RESP reader of portico.policies.redis_script: replies split anywhere, in order."""

from __future__ import annotations

import asyncio

import pytest

from portico.policies.redis_script import ReplyError, _Connection, pack, parse

REPLIES = b"*3\r\n:4\r\n:-1\r\n:1\r\n" + b"-NOSCRIPT No matching script\r\n" + b"+OK\r\n"
REPLIES += b"$5\r\nhe\r\nl\r\n" + b"$-1\r\n" + b"*2\r\n*1\r\n:7\r\n$0\r\n\r\n"
EXPECTED = [[4, -1, 1], "NOSCRIPT No matching script", "OK", b"he\r\nl", None, [[7], b""]]


def as_plain(reply: object) -> object:
    return str(reply) if isinstance(reply, ReplyError) else reply


def test_pack_is_resp():
    assert pack(b"EVALSHA", b"ab", b"1") == b"*3\r\n$7\r\nEVALSHA\r\n$2\r\nab\r\n$1\r\n1\r\n"


def test_parse_reads_every_kind_of_reply():
    replies, start = [], 0
    while start < len(REPLIES):
        reply, start = parse(REPLIES, start)
        replies.append(as_plain(reply))
    assert replies == EXPECTED


@pytest.mark.parametrize("split", range(1, len(REPLIES)))
def test_replies_split_anywhere_reach_their_callers_in_order(split: int):
    async def feed() -> list[object]:
        connection = _Connection()
        loop = asyncio.get_running_loop()
        connection.waiting.extend(loop.create_future() for _ in EXPECTED)
        waiters = list(connection.waiting)
        connection.data_received(REPLIES[:split])
        connection.data_received(REPLIES[split:])
        assert not connection.waiting and not connection.buffer
        return [as_plain(w.result()) for w in waiters]

    assert asyncio.run(feed()) == EXPECTED


def test_a_caller_that_gave_up_leaves_the_next_reply_to_the_next_caller():
    async def feed() -> object:
        connection = _Connection()
        loop = asyncio.get_running_loop()
        gave_up, waiting = loop.create_future(), loop.create_future()
        gave_up.cancel()
        connection.waiting.extend([gave_up, waiting])
        connection.data_received(b":1\r\n:2\r\n")
        return waiting.result()

    assert asyncio.run(feed()) == 2
