# A small stdio MCP server for the shared-child tests: answers concurrently and out of order,
# sends progress, server requests and list changes on demand. Not a conformant server.
import json, os, random, sys, threading, time

out_lock = threading.Lock()
waiting = {}  # server request id -> (event, [answer])

if os.environ.get("MOCK_PIDFILE"):
    with open(os.environ["MOCK_PIDFILE"], "a") as f:
        f.write(f"{os.getpid()}\n")
print("mock server started", file=sys.stderr, flush=True)


def send(msg):
    line = json.dumps(msg, separators=(",", ":"))
    with out_lock:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()


def text(rid, s):
    send({"jsonrpc": "2.0", "id": rid, "result": {"content": [{"type": "text", "text": s}]}})


def call(rid, params):
    name = params.get("name")
    args = params.get("arguments", {})
    token = params.get("_meta", {}).get("progressToken")
    if name == "echo":
        time.sleep(random.random() * 0.02)
        text(rid, json.dumps(args, sort_keys=True))
    elif name == "progress":
        for i in range(1, 4):
            send({"jsonrpc": "2.0", "method": "notifications/progress",
                  "params": {"progressToken": token, "progress": i, "total": 3}})
            time.sleep(0.01)
        text(rid, "done")
    elif name == "slow":
        time.sleep(300)
    elif name == "sample":
        sid = "s-%d" % random.randrange(1 << 30)
        ev = threading.Event()
        waiting[sid] = (ev, [])
        send({"jsonrpc": "2.0", "id": sid, "method": "sampling/createMessage",
              "params": {"messages": [], "maxTokens": 1}})
        ev.wait(10)
        answer = waiting.pop(sid)[1]
        text(rid, json.dumps(answer[0] if answer else None, sort_keys=True))
    elif name == "list_changed":
        send({"jsonrpc": "2.0", "method": "notifications/tools/list_changed"})
        text(rid, "sent")
    else:
        send({"jsonrpc": "2.0", "id": rid, "error": {"code": -32602, "message": "unknown tool"}})


initialized = 0
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    msg = json.loads(line)
    method = msg.get("method")
    if method is None:
        entry = waiting.get(msg.get("id"))
        if entry:
            entry[1].append(msg.get("result", msg.get("error")))
            entry[0].set()
        continue
    if method == "initialize":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {
            "protocolVersion": msg["params"]["protocolVersion"],
            "capabilities": {"tools": {"listChanged": True}},
            "serverInfo": {"name": "mock", "version": "1"},
            "instructions": json.dumps(msg["params"], sort_keys=True)}})
    elif method == "notifications/initialized":
        initialized += 1
        print(f"initialized {initialized}", file=sys.stderr, flush=True)
    elif method == "notifications/cancelled":
        print(f"cancelled {msg['params'].get('requestId')}", file=sys.stderr, flush=True)
    elif method == "tools/call":
        threading.Thread(target=call, args=(msg["id"], msg.get("params", {})), daemon=True).start()
    elif method == "ping":
        send({"jsonrpc": "2.0", "id": msg["id"], "result": {}})
    elif "id" in msg:
        send({"jsonrpc": "2.0", "id": msg["id"], "error": {"code": -32601, "message": "no such method"}})
