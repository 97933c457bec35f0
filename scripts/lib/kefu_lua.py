"""The Lua scripts as Redis gets them, and a small Redis client: for the
tools that run them under callgrind (scripts/bench-cost.py,
scripts/lua-cost.py)."""

import ast
import os
import re
import socket
import subprocess
import tempfile
import time


def scripts_of_c(path):
    """{name: text} of a generated ngx_kefu_lua.c"""
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        src = f.read()
    out = {}
    for m in re.finditer(r'ngx_kefu_script_t\s+ngx_kefu_script_(\w+) = '
                         r'\{ ngx_string\((.*?)\), \{ 0 \} \};', src, re.S):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        out[m.group(1)] = ''.join(ast.literal_eval('"' + p + '"')
                                  for p in parts)
    return out


def scripts_of_tree(luadir):
    """{name: text} of a Lua tree, made by that tree's own ngx_kefu_lua.sh
    (what the build would give Redis, so its SHA-1 is the worker's)"""
    with tempfile.TemporaryDirectory(prefix='kefu-lua.') as out:
        subprocess.check_call(['sh', os.path.join(luadir, 'ngx_kefu_lua.sh'),
                               luadir, out])
        return scripts_of_c(os.path.join(out, 'ngx_kefu_lua.c'))


def enc(*a):
    """a command in RESP"""
    out = [b'*%d\r\n' % len(a)]
    for x in a:
        x = x if isinstance(x, bytes) else str(x).encode()
        out.append(b'$%d\r\n%s\r\n' % (len(x), x))
    return b''.join(out)


def free_port():
    """a port on 127.0.0.1 free now"""
    s = socket.socket()
    s.bind(('127.0.0.1', 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Link:
    """one connection to Redis on 127.0.0.1 and its one RESP reader (RESP2,
    and RESP3's types): reply() gives a reply as its bytes on the wire
    (bench-cost.py replays and only counts errors), read() the same reply
    parsed (lua-cost.py uses the values)"""

    def __init__(self, port):
        self.s = socket.create_connection(('127.0.0.1', port))
        self.f = self.s.makefile('rb')

    def _next(self):
        """(bytes on the wire, value) of the next reply: bytes for a simple
        string, integer, double, boolean or bulk string, an Exception
        for an error (returned, not raised), None for a null, a list for
        an array, set or map (a map's keys and values in turn)"""
        line = self.f.readline()
        t, r = line[:1], line[1:-2]
        if t == b'$':
            n = int(r)
            if n < 0:
                return line, None
            body = self.f.read(n + 2)
            return line + body, body[:-2]
        if t in (b'*', b'%', b'~'):
            n = int(r)
            if n < 0:
                return line, None
            raw, vals = [line], []
            for _ in range(n * (2 if t == b'%' else 1)):
                b, v = self._next()
                raw.append(b)
                vals.append(v)
            return b''.join(raw), vals
        if t == b'-':
            return line, Exception(r.decode(errors='replace'))
        if t == b'_':
            return line, None
        if t in (b'+', b':', b',', b'#'):
            return line, r
        raise RuntimeError('redis: unexpected reply %r' % line)

    def reply(self):
        return self._next()[0]

    def read(self):
        return self._next()[1]

    def send(self, cmds):
        self.s.sendall(b''.join(enc(*c) for c in cmds))

    def call(self, *args):
        """one command, its reply's bytes"""
        self.send([args])
        return self.reply()

    def pipe(self, cmds):
        """commands in one write, their replies parsed; an error raised"""
        self.send(cmds)
        out = [self.read() for _ in cmds]
        for x in out:
            if isinstance(x, Exception):
                raise x
        return out

    def __call__(self, *a):
        return self.pipe([a])[0]


def link(port, seconds=60):
    """a Link once Redis listens on port (it may be starting, under
    valgrind), or None after that many seconds"""
    for _ in range(int(seconds * 10)):
        try:
            return Link(port)
        except OSError:
            time.sleep(0.1)
    return None
