#!/usr/bin/env python3
"""What a new conversation's routing scripts cost Redis, in instructions.

    scripts/lua-cost.py [N] [GENERATED.c ...]

Starts a Redis of its own under valgrind (callgrind), loads every script
of each generated ngx_kefu_lua.c given (default: the build's,
build/nginx-dev/objs/addon/kefu_lua/ngx_kefu_lua.c) as a worker does,
makes 20 agents online (capacity 1000, one group) and N visitors (default
300), then runs a visitor's first message for each: N `open` calls, N
`msg` calls and N `route_new` calls (each conversation assigned at once),
and prints the instructions Redis executed per call of each (callgrind's
Ir, the call's parsing and reply included), their sum, and the Redis
commands the scripts ran per conversation; a build with `first` (the three
as one call on one Redis, issue 18) is then run again with N `first`
calls instead, on a Redis flushed and set up anew.  Unlike time, instruction
counts do not depend on what else runs on the machine: two versions can be
compared on a busy one (issue 18).  Give two .c files (e.g. one of main's
build) to compare them; each is run after a SCRIPT FLUSH.  Needs valgrind
and redis-server.
"""
import glob
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, 'scripts', 'lib'))
import kefu_lua  # noqa: E402


def main():
    args = sys.argv[1:]
    fcall = '--fcall' in args
    args = [a for a in args if a != '--fcall']
    n = int(args.pop(0)) if args and args[0].isdigit() else 300
    files = args or [os.path.join(
        ROOT, 'build/nginx-dev/objs/addon/kefu_lua/ngx_kefu_lua.c')]
    for t in ('valgrind', 'callgrind_control', 'redis-server'):
        if not shutil.which(t):
            sys.exit('lua-cost: %s is needed' % t)
    tmp = tempfile.mkdtemp(prefix='kefu-lua-cost.')
    port = kefu_lua.free_port()
    vg = subprocess.Popen(
        ['valgrind', '--tool=callgrind',
         '--callgrind-out-file=%s/cg.%%p' % tmp, 'redis-server',
         '--port', str(port), '--bind', '127.0.0.1', '--save', '',
         '--appendonly', 'no', '--dir', tmp],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(600):
            try:
                r = kefu_lua.Link(port)
                r('PING')
                break
            except OSError:
                time.sleep(0.1)
        else:
            sys.exit('lua-cost: Redis under valgrind did not start')
        pid = str(vg.pid)

        def dump():
            before = set(glob.glob(tmp + '/cg.*'))
            subprocess.run(['callgrind_control', '-d', pid],
                           capture_output=True)
            new = sorted(set(glob.glob(tmp + '/cg.*')) - before,
                         key=os.path.getmtime)
            for line in open(new[-1]):
                if line.startswith(('summary:', 'totals:')):
                    return int(line.split()[1])
            return 0

        print('lua-cost: %d new conversations, 20 agents, one Redis under '
              'callgrind; load %s' % (n, ' '.join(
                  open('/proc/loadavg').read().split()[:3])))
        now = int(time.time() * 1000)
        for path in files:
            a = run(r, n, path, pid, dump, now, False)
            if fcall:
                b = run(r, n, path, pid, dump, now, True)
                print('replies %s' % ('equal' if a == b else 'DIFFER'))
    finally:
        vg.terminate()
        vg.wait()
        shutil.rmtree(tmp, ignore_errors=True)


def run(r, n, path, pid, dump, now, fcall):
    sc = kefu_lua.scripts_of_c(path)
    out = [run_phases(r, n, path, pid, dump, now, fcall, sc,
                      ('open', 'msg', 'route_new'))]
    if 'first' in sc:
        out.append(run_phases(r, n, path, pid, dump, now, fcall, sc,
                              ('first',)))
    return out


def run_phases(r, n, path, pid, dump, now, fcall, sc, phases):
    r('FLUSHALL')
    r('SCRIPT', 'FLUSH')
    r('FUNCTION', 'FLUSH')
    if fcall:
        # the build's library, or (a build before it had one) the prototype
        lib, fname = kefu_lua.library_of_c(path) or (
            kefu_lua.library(sc), {k: k for k in sc})
        r('FUNCTION', 'LOAD', lib)
    sha = {k: r('SCRIPT', 'LOAD', v).decode() for k, v in sc.items()}
    setup = []
    for i in range(20):
        ak = 'kefu:{s:cost}:a:a%d' % i
        setup += [('HSET', ak, 'state', 'online', 'conns', 1, 'load', 0,
                   'capacity', 1000, 'last', now - i, 'gone', 0,
                   'groups', '["g"]', 'name', 'Agent %d' % i),
                  ('SADD', ak + ':c', 'tok|s%d' % i),
                  ('SADD', 'kefu:{s:cost}:g:g', 'a%d' % i),
                  ('ZADD', 'kefu:{s:cost}:f:g', i, 'a%d' % i)]
    for j in range(n):
        vk = 'kefu:{s:cost}:v:v%d' % j
        setup += [('HSET', vk, 'ttl', 2592000, 'name', ''),
                  ('EXPIRE', vk, 2592000)]
    for k in range(0, len(setup), 1000):
        r.pipe(setup[k:k + 1000])
    r('CONFIG', 'RESETSTAT')
    base = 4000000000000000 + now // 1000 % 100000 * 1000000
    ir = {}
    replies = []
    for phase in phases:
        subprocess.run(['callgrind_control', '-z', pid], capture_output=True)
        for k in range(0, n, 50):
            cmds = []
            for j in range(k, min(n, k + 50)):
                conv = str(base + j)
                # four conversations a ms, as a burst would
                ts = now + 1000 + j // 4
                a = ['cost', 'v:v%d' % j, 'visitor', '', 'c%d' % j,
                     str(base * 10 + 5 * j), conv, str(ts),
                     '{"type":"msg","conv":"',
                     '","id":"%d","seq":' % (base * 10 + 5 * j),
                     ',"ts":%d,"from":{"role":"visitor","id":"v%d"},'
                     '"text":"hello, I have a question"}' % (ts, j),
                     '0', 'g', '60', '10000', 's%d' % j, '', '30000', '',
                     '', '0', '', '', '1', '', '1', 'g', '3600', '0', '0',
                     '0', '1']
                if phase != 'open':
                    a[16] = '%d %d' % (base * 10 + 5 * j + 1,
                                       base * 10 + 5 * j + 2)
                if phase in ('msg', 'route_new'):
                    a[3] = conv
                # msg takes no keys (one Redis: ngx_kefu_msg_batch.c)
                keys = [] if phase == 'msg' else ['kefu:{s:cost}:v:v%d' % j]
                cmds.append(('FCALL', fname[phase], len(keys), *keys, *a)
                            if fcall else
                            ('EVALSHA', sha[phase], len(keys), *keys, *a))
            replies += r.pipe(cmds)
        ir[phase] = dump() / n
    st = r('INFO', 'commandstats').decode()
    inner = sum(int(c) for name, c in re.findall(r'cmdstat_(\w+):calls=(\d+)',
                                                  st)
                if name not in ('evalsha', 'fcall', 'config', 'info',
                                'script', 'function'))
    opened = int(r('HGET', 'kefu:{s:cost}:counts', 'open') or 0)
    print('%s%s: %s instructions a call%s; %.1f Redis commands a '
          'conversation; %d of %d assigned'
          % (path, ' (FCALL)' if fcall else '',
             ', '.join('%s %.0f' % (p, ir[p]) for p in phases),
             ' (%.0f together)' % sum(ir.values()) if len(ir) > 1 else '',
             inner / n, opened, n))
    return replies


if __name__ == '__main__':
    main()
