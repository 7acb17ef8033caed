"""An AI agent's side of a conversation, driven through omnibridge's MCP interface with the
official Python MCP SDK (not ours). Used by the Rust e2e tests in tests/e2e/mcp/.

    agent.py flow  --transport http|stdio --bridge URL [--binary PATH]
    agent.py call  --transport http|stdio --bridge URL [--binary PATH] TOOL JSON_ARGS
    agent.py burst --transport http|stdio --bridge URL --count N TOOL JSON_ARGS
    agent.py watch --transport http|stdio --bridge URL RESOURCE_URI
    agent.py watch-legacy --transport http|stdio --bridge URL RESOURCE_URI
    agent.py tools --transport http|stdio --bridge URL [--binary PATH]

The API key comes from OMNIBRIDGE_API_KEY. `flow` prints one JSON object per line on stdout:
{"step": ...} as it goes (the test acts as the customer when it reads "payment_requested"),
then {"step": "done", ...} with what the agent saw. `call` prints the tool result as JSON;
`burst` makes N concurrent calls on one connection and prints their results as a list;
`watch` subscribes to a resource and prints {"step": "listening"}, then the first
{"step": "updated"}; `tools` prints the tool names the key may use (or {"error": ...} when the connection is
refused).
"""

import argparse
import asyncio
import json
import os
import sys

import mcp
from mcp.client.streamable_http import streamable_http_client
from mcp.shared._httpx_utils import create_mcp_http_client


def emit(**fields):
    print(json.dumps(fields), flush=True)


def client_for(args, **options):
    key = os.environ["OMNIBRIDGE_API_KEY"]
    if args.transport == "stdio":
        params = mcp.StdioServerParameters(
            command=args.binary,
            args=["mcp", "--url", args.bridge],
            env={"OMNIBRIDGE_API_KEY": key, "RUST_LOG": "warn"},
        )
        return mcp.Client(params, read_timeout_seconds=90, **options)
    http = create_mcp_http_client(headers={"Authorization": f"Bearer {key}"})
    return mcp.Client(streamable_http_client(args.bridge + "/mcp", http_client=http), read_timeout_seconds=90, **options)


def result_json(result):
    return {
        "is_error": bool(result.is_error),
        "structured": result.structured_content,
        "text": [c.text for c in result.content if getattr(c, "type", "") == "text"],
    }


async def call(client, name, arguments):
    result = await client.call_tool(name, arguments)
    out = result_json(result)
    if out["is_error"]:
        raise RuntimeError(f"{name} failed: {out}")
    return out["structured"]


async def flow(args):
    async with client_for(args) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        emit(step="tools", tools=tools)

        listed = await call(client, "list_conversations", {"channel": "webchat", "limit": 5})
        conversation = listed["conversations"][0]
        cid = conversation["id"]
        emit(step="listed", conversation=conversation)

        detail = await call(client, "get_conversation", {"conversation_id": cid})
        emit(step="read", transcript=detail["transcript"], reply=detail["reply"])

        resource = await client.read_resource(f"omnibridge://conversations/{cid}")
        resource_text = resource.contents[0].text

        sent = await call(client, "send_message", {
            "conversation_id": cid,
            "text": "A table for two at 8 pm is 45.00 EUR. Shall I book it?",
            "buttons": [{"label": "Yes, book it", "payload": "book"}, {"label": "No", "payload": "no"}],
            "idempotency_key": "offer-1",
        })
        again = await call(client, "send_message", {
            "conversation_id": cid,
            "text": "A table for two at 8 pm is 45.00 EUR. Shall I book it?",
            "buttons": [{"label": "Yes, book it", "payload": "book"}, {"label": "No", "payload": "no"}],
            "idempotency_key": "offer-1",
        })
        emit(step="offered", outbound_id=sent["outbound_id"], retried_outbound_id=again["outbound_id"])

        answer = await call(client, "wait_for_events", {
            "conversation_id": cid, "types": ["action.invoked", "message.received"],
            "cursor": sent["cursor"], "timeout_secs": 30,
        })
        emit(step="customer_answered", events=answer["events"])

        requested = await call(client, "request_payment", {
            "conversation_id": cid, "amount": 4500, "currency": "EUR",
            "description": "Table for two, 8 pm", "external_id": "booking-1",
            "idempotency_key": "booking-1",
        })
        intent = requested["intent"]
        emit(step="payment_requested", intent=intent, shown=requested["shown_to_customer"])

        cursor = requested["cursor"]
        outcome = None
        for _ in range(4):
            waited = await call(client, "wait_for_events", {
                "conversation_id": cid,
                "types": ["payment.succeeded", "payment.failed", "payment.canceled"],
                "cursor": cursor, "timeout_secs": 20,
            })
            cursor = waited["cursor"]
            if waited["events"]:
                outcome = waited["events"][0]
                break
        emit(step="payment_outcome", event=outcome)

        paid = await call(client, "get_payment", {"payment_intent_id": intent["id"]})
        thanks = await call(client, "send_message", {
            "conversation_id": cid, "text": "Paid, thank you! Your table is booked.",
        })
        emit(step="done", tools=tools, conversation_id=cid, intent_state=paid["intent"]["state"],
             outcome=outcome, thanks_outbound_id=thanks["outbound_id"],
             resource_has_customer_text="table" in resource_text.lower())


async def single_call(args):
    async with client_for(args) as client:
        result = await client.call_tool(args.tool, json.loads(args.arguments))
        print(json.dumps(result_json(result)), flush=True)


async def burst(args):
    async with client_for(args) as client:
        results = await asyncio.gather(*[
            client.call_tool(args.tool, json.loads(args.arguments)) for _ in range(args.count)
        ])
        print(json.dumps([result_json(r) for r in results]), flush=True)


async def watch(args):
    async with client_for(args) as client:
        async with client.listen(resource_subscriptions=[args.tool]) as subscription:
            emit(step="listening", honored=list(subscription.honored.resource_subscriptions or []))
            async for event in subscription:
                emit(step="updated", uri=getattr(event, "uri", None), kind=type(event).__name__)
                return


async def watch_legacy(args):
    """The handshake-era way (protocol versions before 2026-07-28): resources/subscribe, then
    notifications/resources/updated through the session's stream."""
    updated = asyncio.Queue()

    async def on_message(message):
        if isinstance(message, Exception):
            return
        dumped = message.model_dump(mode="json", by_alias=True) if hasattr(message, "model_dump") else {}
        text = json.dumps(dumped)
        if "notifications/resources/updated" in text:
            await updated.put(dumped)

    async with client_for(args, mode="legacy", message_handler=on_message) as client:
        await client.subscribe_resource(args.tool)
        emit(step="listening", protocol=client.protocol_version)
        notification = await asyncio.wait_for(updated.get(), timeout=30)
        emit(step="updated", notification=notification)


async def list_tools(args):
    try:
        async with client_for(args) as client:
            tools = sorted(t.name for t in (await client.list_tools()).tools)
            print(json.dumps({"tools": tools}), flush=True)
    except BaseException as error:  # the connection is refused: report, do not crash
        print(json.dumps({"error": repr(error)[:500]}), flush=True)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("command", choices=["flow", "call", "burst", "watch", "watch-legacy", "tools"])
    parser.add_argument("tool", nargs="?")
    parser.add_argument("arguments", nargs="?", default="{}")
    parser.add_argument("--transport", choices=["http", "stdio"], default="http")
    parser.add_argument("--bridge", required=True)
    parser.add_argument("--binary", default="omnibridge")
    parser.add_argument("--count", type=int, default=20)
    args = parser.parse_args()
    if args.command == "flow":
        asyncio.run(flow(args))
    elif args.command == "call":
        asyncio.run(single_call(args))
    elif args.command == "burst":
        asyncio.run(burst(args))
    elif args.command == "watch":
        asyncio.run(watch(args))
    elif args.command == "watch-legacy":
        asyncio.run(watch_legacy(args))
    else:
        asyncio.run(list_tools(args))


if __name__ == "__main__":
    sys.exit(main())
