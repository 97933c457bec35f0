"""The Lua scripts as Redis gets them, and a small Redis client: for the
tools that run them under callgrind (scripts/bench-cost.py,
scripts/lua-cost.py)."""

import ast
import os
import re
import socket
import subprocess
import tempfile


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
