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
                         r'\{ ngx_string\((.*?)\), \{ 0 \}'
                         r'(?:, ngx_string\("\w+"\))? \};', src, re.S):
        parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(2))
        out[m.group(1)] = ''.join(ast.literal_eval('"' + p + '"')
                                  for p in parts)
    return out


def library_of_c(path):
    """(text, {script: function name}) of a generated ngx_kefu_lua.c's
    Redis function library, or None for a build without one"""
    with open(path, encoding='utf-8', errors='surrogateescape') as f:
        src = f.read()
    m = re.search(r'ngx_str_t\s+ngx_kefu_lua_library = ngx_string\((.*?)\);',
                  src, re.S)
    if not m:
        return None
    parts = re.findall(r'"((?:[^"\\]|\\.)*)"', m.group(1))
    text = ''.join(ast.literal_eval('"' + p + '"') for p in parts)
    names = dict(re.findall(r'ngx_kefu_script_t\s+ngx_kefu_script_(\w+) = '
                            r'\{ ngx_string\(.*?\), \{ 0 \}, '
                            r'ngx_string\("(\w+)"\) \};', src, re.S))
    return text, names


def library_of_tree(luadir):
    """library_of_c() of a Lua tree, made by its own ngx_kefu_lua.sh"""
    with tempfile.TemporaryDirectory(prefix='kefu-lua.') as out:
        subprocess.check_call(['sh', os.path.join(luadir, 'ngx_kefu_lua.sh'),
                               luadir, out])
        return library_of_c(os.path.join(out, 'ngx_kefu_lua.c'))


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


# The library tables that no call changes: made once at a library's load
CONST_TABLES = ('RF', 'RFS', 'RFA', 'RFX', 'A')
CLOSERS = re.compile(r'^(end|else|elseif|until|\}|\))\b')


def chunks_of(text):
    """a script's top-level statements: each starts at column 0, lines that
    are indented or close a block (end, else, }) continue it"""
    out = []
    for line in text.split('\n'):
        if not line:
            continue
        if out and (line[0] in ' \t' or CLOSERS.match(line)):
            out[-1].append(line)
        else:
            out.append([line])
    return out


def as_function(name, text, fname=None):
    """a script as a Redis 7 function (issue 18, a prototype for measuring):
    its top-level functions, and the locals before the last of them, at
    the library's top (made once at load), inside a do ... end of their
    own; the locals declared there and assigned again at each call (so no
    call's state is left for the next), the rest the callback"""
    flags = []
    cs = chunks_of(text)
    if cs and cs[0][0].startswith('#!lua'):
        m = re.search(r'flags=(\S+)', cs[0][0])
        flags = m.group(1).split(',') if m else []
        cs = cs[1:]
    isfn = [c[0].startswith('local function ') for c in cs]
    # functions after a statement that is no declaration stay in the
    # callback (made at each call, as before)
    stop = next((i for i, c in enumerate(cs) if not isfn[i] and
                 not re.match(r'^local [A-Za-z_][\w, ]*?\s*(=.*)?$', c[0])),
                len(cs))
    last = max([i for i, f in enumerate(isfn[:stop]) if f], default=-1)
    top, init, body = [], [], []
    for i, c in enumerate(cs):
        if isfn[i] and i <= last:
            top += c
        elif i < last:
            m = re.match(r'^local ([A-Za-z_][\w, ]*?)\s*(=.*)?$', c[0])
            names = m.group(1)
            if names in CONST_TABLES:
                top += c
                continue
            top.append('local ' + names)
            if m.group(2) is None:
                init.append(names + ' = nil')
            else:
                init.append(names + ' ' + m.group(2))
                init += c[1:]
        else:
            body += c
    fl = ', flags = {%s}' % ', '.join("'%s'" % f for f in flags) \
        if flags else ''
    return '\n'.join(['do'] + top + [
        "redis.register_function{function_name = '%s', callback = "
        "function(k, a)" % (fname or name), 'KEYS, ARGV = k, a']
        + init + body + ['end%s}' % fl, 'end'])


# Lua's and Redis's globals the scripts use.  A function's globals are an
# empty table whose metatable's __index is the real one (and at load time
# a table with little more than redis.register_function), so each global
# read misses first: the library keeps them in locals of its own, taken
# at the first call (G()'s names are the globals: it is defined before
# the locals of the same names).
GLOBALS = ('redis', 'cjson', 'tonumber', 'tostring', 'ipairs', 'pairs',
           'type', 'unpack', 'string', 'math', 'table', 'pcall', 'error',
           'next', 'select')


def library(scripts, libname='kefu_proto', prefix='', cache=True):
    """one library text of every script given ({name: text}): each
    function named prefix + the script's name; cache: the globals in
    locals of the library (GLOBALS)"""
    head = ['#!lua name=' + libname, 'local KEYS, ARGV']
    g = ', '.join(GLOBALS)
    if cache:
        head += ['local function G() return %s end' % g,
                 'local kefu_register = redis.register_function',
                 'local ' + g]
    text = '\n'.join(head + [
        as_function(n, t, prefix + n) for n, t in sorted(scripts.items())])
    if cache:
        text = text.replace('redis.register_function{', 'kefu_register{')
        text = text.replace('KEYS, ARGV = k, a\n', 'KEYS, ARGV = k, a\n'
                            'if not redis then %s = G() end\n' % g)
    return text
