#!/usr/bin/env python3
"""What a stored message costs Redis, in instructions: scripts/bench cost.

A capture (a SAVE of the bench's Redis once its pairs are set up, and
MONITOR's lines from then on) is replayed into a Redis of its own run
under valgrind's callgrind, with the scripts of a Lua tree (this one, or
another revision's).  Counted are the instructions Redis spends in
script calls (evalShaCommand, with their inner commands), in their
writes' propagation to the append-only file (propagatePendingCommands)
and in parsing their arguments (processMultibulkBuffer): CPU time on a
machine shared with other work moves by 2x from run to run, these counts
by well under 1% (docs/benchmarks.md, "Instructions per message").
Each kind of script call is replayed alone from the capture's state, so
that its count is its own.  A capture's msg_batch calls are given to each
tree in that tree's form of their arguments (each message's whole ARGV,
or since issue 18 the short form: is_short(), as_tree()), so that trees
before and after that change compare on one capture; the replies of each
tree are compared with the first tree's, byte for byte.

    bench-cost.py capture PORT OUTDIR SECONDS
    bench-cost.py replay [--fcall] CAPTURE [LABEL=]LUADIR [[LABEL=]LUADIR ...]

With --fcall each tree is replayed a second time as Redis 7 functions
(FUNCTION LOAD of the tree's library, or kefu_lua.library()'s for a tree
without one; FCALL for EVALSHA;
fcallCommand counted as evalShaCommand), and its replies compared with
the EVALSHA replay's, byte for byte.
"""

import hashlib
import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                'lib'))
import kefu_lua  # noqa: E402

REDIS = os.environ.get('KEFU_COST_REDIS', 'redis-server')


def scripts_of(luadir):
    """{name: (sha1, text)} of every script of a Lua tree, as its own
    ngx_kefu_lua.sh makes them for the build"""
    s = {}
    for name, text in kefu_lua.scripts_of_tree(luadir).items():
        t = text.encode('utf-8', 'surrogateescape')
        s[name] = (hashlib.sha1(t).hexdigest(), t)
    return s


def unrepr(s):
    """an argument as MONITOR quotes it (sdscatrepr) back to its bytes"""
    out = bytearray()
    i = 0
    while i < len(s):
        c = s[i]
        if c == '\\':
            n = s[i + 1]
            if n == 'x':
                out.append(int(s[i + 2:i + 4], 16))
                i += 4
                continue
            out += {'n': b'\n', 'r': b'\r', 't': b'\t', 'a': b'\a',
                    'b': b'\b'}.get(n, n.encode())
            i += 2
            continue
        out += c.encode('utf-8', 'surrogateescape')
        i += 1
    return bytes(out)


TOKEN = re.compile(r'"((?:[^"\\]|\\.)*)"')


def commands(capture, after):
    """the capture's commands sent by clients (not by scripts) after the SAVE"""
    with open(os.path.join(capture, 'monitor.txt'), encoding='utf-8',
              errors='surrogateescape') as f:
        for line in f:
            m = re.match(r'^(\d+\.\d+) \[\d+ ([^\]]+)\] (.*)$', line.rstrip('\n'))
            if m and m.group(2) != 'lua' and float(m.group(1)) > after:
                yield [unrepr(t) for t in TOKEN.findall(m.group(3))]


# msg_batch's short form (issue 18): msg's ARGV positions (1-based) a
# message sends, then the optional ones, as many as needed; the call's
# shared ones once (ngx_kefu_msg_batch.c, lua/msg_batch.lua)
SHORT = (2, 3, 4, 5, 6, 8, 10, 11, 12, 16, 29)
SHORT_OPT = (28, 25, 19, 20)
SHARED = (1, 9, 14, 15)
MSG_ARGS = 32


def is_short(scripts):
    """whether a tree's msg_batch (and msg) take the short form (the
    call's shared arguments once, m_short() of lib/msg.lua), or each
    message's whole ARGV"""
    return b'm_short(ARGV, 2' in scripts['msg_batch'][1]


def messages_of(c):
    """(here, [msg's whole ARGV of each message]) of a captured msg_batch
    call, in either form (a short one's unsent arguments as "")"""
    nk = int(c[2])
    argv = c[3 + nk:]
    a, whole = 1, []
    while a < len(argv) and argv[a].isdigit():
        n = int(argv[a])
        whole.append(list(argv[a + 1:a + 1 + n]))
        a += n + 1
    if nk > 0 and a == len(argv) and len(whole) == nk \
            and all(len(w) == MSG_ARGS for w in whole):
        return argv[0], whole
    out, a = [], 5
    while a < len(argv):
        n = int(argv[a])
        v = list(argv[a + 1:a + 1 + n])
        a += n + 1
        if n > len(SHORT) + len(SHORT_OPT):
            out.append(v)
            continue
        out.append(whole_of(argv[1:5], v))
    return argv[0], out


def whole_of(shared, v):
    """msg's whole ARGV of a message in the short form (its unsent
    arguments "")"""
    A = [b''] * MSG_ARGS
    for pos, x in zip(SHARED, shared):
        A[pos - 1] = x
    for pos, x in zip(SHORT + SHORT_OPT, v):
        A[pos - 1] = x
    return A


def batch_call(name, here, whole, short):
    """a msg_batch call of these messages in a tree's form"""
    if not short:
        keys = [b'kefu:{c:' + A[3] + b'}' for A in whole]
        argv = [here]
        for A in whole:
            argv += [str(len(A)).encode()] + A
        return [b'FCALL', name, str(len(keys)).encode()] + keys + argv
    shared = [whole[0][pos - 1] for pos in SHARED]
    keys = [] if here == b'1' else \
        [b'kefu:{c:' + A[3] + b'}' for A in whole]
    argv = [here] + shared
    for A in whole:
        if len(A) != MSG_ARGS or \
                [A[pos - 1] for pos in SHARED] != shared:
            argv += [str(len(A)).encode()] + A
            continue
        opt = [A[pos - 1] for pos in SHORT_OPT]
        while opt and opt[-1] == b'':
            opt.pop()
        v = [A[pos - 1] for pos in SHORT] + opt
        argv += [str(len(v)).encode()] + v
    return [b'FCALL', name, str(len(keys)).encode()] + keys + argv


def as_tree(kind, cmds, short):
    """the capture's msg_batch and msg calls as a tree sends them, each
    (script, its arguments from numkeys on): its form of the arguments
    (ngx_kefu_msg_batch.c)"""
    out = []
    for c in cmds:
        if kind == 'msg_batch':
            here, whole = messages_of(c)
            out.append(('msg_batch', batch_call(c[1], here, whole, short)[2:]))
        else:
            # (a message alone, msg, goes with its whole ARGV in both)
            out.append((kind, c[2:]))
    return out


def connect(port):
    link = kefu_lua.link(port)
    if link is None:
        raise SystemExit('bench-cost: no Redis on port %d' % port)
    return link


def capture(port, outdir, seconds):
    """MONITOR for SECONDS, a SAVE just after it started; the dump and the
    time the SAVE ended (what came before is in the dump)"""
    os.makedirs(outdir, exist_ok=True)
    mon = open(os.path.join(outdir, 'monitor.txt'), 'wb')
    p = subprocess.Popen(['redis-cli', '-p', str(port), 'monitor'], stdout=mon)
    time.sleep(0.2)
    link = connect(port)
    d = link.call(b'CONFIG', b'GET', b'dir').split(b'\r\n')[-2].decode()
    r = link.call(b'SAVE')
    saved = time.time()
    time.sleep(seconds)
    p.terminate()
    p.wait()
    if not r.startswith(b'+OK'):
        raise SystemExit('bench-cost: SAVE: %r' % r)
    with open(os.path.join(d, 'dump.rdb'), 'rb') as i, \
            open(os.path.join(outdir, 'dump.rdb'), 'wb') as o:
        o.write(i.read())
    with open(os.path.join(outdir, 'saved'), 'w') as f:
        f.write('%.6f\n' % saved)


def replay_one(cap, cmds, scripts, work, lib=None):
    """a Redis from the capture's dump, append-only as the bench's, the
    commands sent under callgrind: the instructions counted"""
    os.makedirs(work, exist_ok=True)
    with open(os.path.join(cap, 'dump.rdb'), 'rb') as i, \
            open(os.path.join(work, 'dump.rdb'), 'wb') as o:
        o.write(i.read())
    port = kefu_lua.free_port()
    vg = subprocess.Popen(
        ['valgrind', '--tool=callgrind', '--collect-atstart=no',
         '--toggle-collect=evalShaCommand',
         '--toggle-collect=fcallCommand',
         '--toggle-collect=propagatePendingCommands',
         '--toggle-collect=processMultibulkBuffer',
         '--callgrind-out-file=' + os.path.join(work, 'cg.%p'),
         REDIS, '--port', str(port), '--bind', '127.0.0.1', '--dir', work,
         '--appendonly', 'no', '--save', '', '--logfile',
         os.path.join(work, 'redis.log')],
        stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, 'vg.log'), 'w'))
    link = connect(port)
    while b'loading:1' in link.call(b'INFO', b'persistence'):
        time.sleep(0.2)
    # append-only from here, as the bench's Redis: its rewrite first
    link.call(b'CONFIG', b'SET', b'appendonly', b'yes')
    while re.search(rb'aof_rewrite_(in_progress|scheduled):1',
                    link.call(b'INFO', b'persistence')):
        time.sleep(0.2)
    for name, (sha, text) in scripts.items():
        link.call(b'SCRIPT', b'LOAD', text)
    # (REPLACE: the capture's dump holds the build's library already)
    if lib is not None:
        r = link.call(b'FUNCTION', b'LOAD', b'REPLACE', lib.encode('utf-8',
                                                       'surrogateescape'))
        if r.startswith(b'-'):
            raise SystemExit('bench-cost: FUNCTION LOAD: %r' % r)
    errors = 0
    replies = []
    for i in range(0, len(cmds), 200):
        chunk = cmds[i:i + 200]
        link.send(chunk)
        for _ in chunk:
            replies.append(link.reply())
            if replies[-1].startswith(b'-'):
                errors += 1
    try:
        link.send([(b'SHUTDOWN', b'NOSAVE')])
    except OSError:
        pass
    vg.wait()
    ir = 0
    for f in os.listdir(work):
        if f.startswith('cg.'):
            with open(os.path.join(work, f)) as h:
                for line in h:
                    if line.startswith('summary:'):
                        ir = max(ir, int(line.split()[1]))
    return ir, errors, replies


def replay(cap, trees, fcall=False):
    # LABEL=DIR each, or DIR
    labels = [t.split('=', 1)[0] if '=' in t else t for t in trees]
    luadirs = [t.split('=', 1)[1] if '=' in t else t for t in trees]
    if fcall:
        labels = [x for l in labels for x in (l, l[:8] + ' FCALL')]
        luadirs = [x for d in luadirs for x in (d, d)]
    with open(os.path.join(cap, 'saved')) as f:
        after = float(f.read())
    # a call's script by its SHA-1 in any of the trees, or by its
    # function's name (the capture's calls are the build's: this tree's,
    # in scripts/bench cost)
    trees = [scripts_of(d) for d in luadirs]
    byname = {sha: name for t in trees for name, (sha, _) in t.items()}
    kinds = {}
    msgs = {'msg_batch': 0, 'msg': 0, 'search_batch': 0}
    for c in commands(cap, after):
        if c[0].upper() == b'FCALL':
            # the build's library (kefu_<hash>p_<script>): its script's
            # name, replayed as each tree's EVALSHA (or FCALL) below
            m = re.match(rb'^kefu_[0-9a-f]{8}[ps]_(\w+)$', c[1])
            name = m.group(1).decode() if m else 'other'
        elif c[0].upper() == b'EVALSHA':
            name = byname.get(c[1].decode(), 'other')
        else:
            continue
        kind = name if name in msgs else 'other'
        kinds.setdefault(kind, []).append(c)
        if name == 'msg_batch':
            msgs[name] += len(messages_of(c)[1])
        elif name == 'msg':
            msgs[name] += 1
        elif name == 'search_batch':
            msgs[name] += int(c[3 + int(c[2]) + 3])
    stored = msgs['msg_batch'] + msgs['msg']
    print('capture: %d messages stored (%d in msg_batch calls, %d alone), '
          '%d indexed; calls: %s' % (
              stored, msgs['msg_batch'], msgs['msg'], msgs['search_batch'],
              ', '.join('%s %d' % (k, len(v)) for k, v in sorted(kinds.items()))))
    # KEFU_COST_KEEP=DIR: the replays' callgrind files (and the capture)
    # kept there, for callgrind_annotate
    keep = os.environ.get('KEFU_COST_KEEP')
    if keep:
        os.makedirs(keep, exist_ok=True)
        subprocess.call(['cp', '-r', cap, os.path.join(keep, 'capture')])
    work = keep or tempfile.mkdtemp(prefix='kefu-cost.')
    rows = {}
    same, prev, first, alike = {}, {}, {}, {}
    for li, scripts in enumerate(trees):
        lib = None
        if fcall and li % 2:
            # the tree's library, or (a tree without one) the prototype
            lib, fname = kefu_lua.library_of_tree(luadirs[li]) or (
                kefu_lua.library({n: t.decode('utf-8', 'surrogateescape')
                                  for n, (_, t) in scripts.items()}),
                {n: n for n in scripts})
        for kind, cmds in sorted(kinds.items()):
            if kind == 'other':
                continue
            calls = as_tree(kind, cmds, is_short(scripts))
            if lib is not None:
                cmds = [[b'FCALL', fname[k].encode()] + a for k, a in calls]
            else:
                cmds = [[b'EVALSHA', scripts[k][0].encode()] + a
                        for k, a in calls]
            # other scripts of the capture by their name in this tree
            ir, errors, replies = replay_one(
                cap, cmds, scripts, os.path.join(work, '%d-%s' % (li, kind)),
                lib)
            rows.setdefault(kind, []).append((ir, errors))
            if lib is not None:
                same[kind] = same.get(kind, True) and replies == prev[kind]
            else:
                prev[kind] = replies
                # each tree's replies against the first's, byte for byte
                if kind in first:
                    alike[kind] = alike.get(kind, True) and \
                        replies == first[kind]
                else:
                    first[kind] = replies
    head = '%-14s %8s' % ('calls', 'messages') + ''.join(
        '  %14s        ' % l[:14] for l in labels)
    print('instructions in Redis per message (script calls, their inner '
          'commands, append-only file, argument parsing)')
    print(head)
    total = [0] * len(luadirs)
    for kind in ('msg_batch', 'msg', 'search_batch'):
        if kind not in rows:
            continue
        n = msgs[kind] or 1
        line = '%-14s %8d' % (kind, msgs[kind])
        for i, (ir, errors) in enumerate(rows[kind]):
            total[i] += ir
            line += '  %14d%s' % (ir // n, ' (%d errors)' % errors if errors else '        ')
        print(line)
    line = '%-14s %8d' % ('per stored', stored)
    for t in total:
        line += '  %14d        ' % (t // (stored or 1))
    print(line)
    for kind, eq in sorted(alike.items()):
        print('%s: replies of every tree %s' % (kind, 'equal to the first\'s'
                                                if eq else 'DIFFER'))
    for kind, eq in sorted(same.items()):
        print('%s: FCALL replies %s' % (kind, 'equal to EVALSHA\'s' if eq
                                        else 'DIFFER from EVALSHA\'s'))
    print('SUMMARY mode=cost stored=%d ' % stored + ' '.join(
        'ir_per_msg_%d=%d' % (i, t // (stored or 1)) for i, t in enumerate(total)))
    if not keep:
        subprocess.call(['rm', '-rf', work])


def main():
    if len(sys.argv) >= 5 and sys.argv[1] == 'capture':
        capture(int(sys.argv[2]), sys.argv[3], float(sys.argv[4]))
    elif len(sys.argv) >= 5 and sys.argv[1:3] == ['replay', '--fcall']:
        replay(sys.argv[3], sys.argv[4:], True)
    elif len(sys.argv) >= 4 and sys.argv[1] == 'replay':
        replay(sys.argv[2], sys.argv[3:])
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


main()
