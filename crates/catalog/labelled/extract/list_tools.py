#!/usr/bin/env python3
"""Usage: list_tools.py OUT.json -- cmd args...  (env passed through)"""
import json, subprocess, sys, threading, time, os, queue
out = sys.argv[1]; cmd = sys.argv[sys.argv.index('--')+1:]
timeout = float(os.environ.get('LT_TIMEOUT', '90'))
p = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=open(out+'.stderr','w'), text=True, bufsize=1)
q = queue.Queue()
def reader():
    for line in p.stdout:
        q.put(line)
    q.put(None)
threading.Thread(target=reader, daemon=True).start()
def send(o):
    p.stdin.write(json.dumps(o)+'\n'); p.stdin.flush()
def wait(id_):
    deadline = time.time()+timeout
    while time.time() < deadline:
        try: line = q.get(timeout=1)
        except queue.Empty: continue
        if line is None: raise SystemExit('server exited; see '+out+'.stderr')
        line=line.strip()
        if not line.startswith('{'): continue
        try: m = json.loads(line)
        except Exception: continue
        if m.get('id') == id_: return m
    raise SystemExit('timeout')
try:
    send({"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"lbl","version":"0"}}})
    init = wait(1)
    send({"jsonrpc":"2.0","method":"notifications/initialized"})
    tools=[]; cursor=None; i=2
    while True:
        params = {"cursor":cursor} if cursor else {}
        send({"jsonrpc":"2.0","id":i,"method":"tools/list","params":params})
        r = wait(i); i+=1
        if 'error' in r: raise SystemExit('error: '+json.dumps(r['error']))
        tools += r['result']['tools']
        cursor = r['result'].get('nextCursor')
        if not cursor: break
    json.dump({"serverInfo": init.get('result',{}).get('serverInfo'), "tools": tools}, open(out,'w'), indent=1)
    print(out, len(tools), 'tools', init.get('result',{}).get('serverInfo'))
finally:
    try: p.stdin.close()
    except Exception: pass
    try: p.terminate(); p.wait(5)
    except Exception: p.kill()
