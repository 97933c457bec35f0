#!/bin/sh
# Turns the Lua scripts into C: ngx_kefu_lua.c (one ngx_kefu_script_t per
# lua/<name>.lua, named ngx_kefu_script_<name>, and the list every Redis
# connection loads, ngx_kefu_scripts[]) and ngx_kefu_lua.h (their
# declarations).  Run by ./configure (config) and again by make when a .lua
# file changed (config.make).  Plain sh and awk: a build machine has them.
#
#   ngx_kefu_lua.sh <lua dir> <output dir>
#
# In a script, "--@include <name>" inserts lua/lib/<name>.lua; lines that
# are only a "--" comment are left out, so that what Redis gets (and hashes)
# is the code alone, and so are the top-level functions the script never
# calls (shake() below).

set -e

src="$1"
out="$2"

mkdir -p "$out"

awk -v lib="$src/lib" -v hdr="$out/ngx_kefu_lua.h.tmp" \
    -v libtext="$out/kefu_library.lua.tmp" '
function emit(line,    n) {
    if (line ~ /^[ \t]*--@include[ \t]/) {
        n = line
        sub(/^[ \t]*--@include[ \t]+/, "", n)
        sub(/[ \t]+$/, "", n)
        include(lib "/" n ".lua")
        return
    }
    # "--@const" before a top-level local: a table no call changes, made
    # once in the library (not again at each call)
    if (line ~ /^--@const[ \t]*$/) {
        isconst = 1
        return
    }
    if (line ~ /^[ \t]*--/ || line ~ /^[ \t]*$/) {
        return
    }
    L[++nl] = line
    LC[nl] = isconst
    isconst = 0
}
# The top-level "local function <name>(" blocks of a script (to the next line
# "end", or that line itself when it ends with " end") that nothing of the
# script calls are left out: Redis runs the whole text of a script at every
# call, and each function it defines is a closure made then (issue 18:
# callgrind put the 69 closures of the shared libraries at 40,000 instructions
# of a routing call, of which route_new uses 54 and open 40).  A block is
# kept when its name is a word of a line outside every block, or of a
# kept block.
function shake(    i, j, k, w, nw, nb, words, own, bname, bidx, edge, live, todo, nt, b) {
    nb = 0
    for (i = 1; i <= nl; i++) {
        own[i] = 0
        if (L[i] ~ /^local function [A-Za-z_][A-Za-z0-9_]*\(/) {
            w = L[i]
            sub(/^local function /, "", w)
            sub(/\(.*/, "", w)
            j = i
            if (L[i] !~ / end$/) {
                while (j < nl && L[j] != "end") {
                    j++
                }
            }
            nb++
            bname[nb] = w
            bidx[w] = nb
            for (k = i; k <= j; k++) {
                own[k] = nb
            }
            i = j
        }
    }
    for (i = 1; i <= nl; i++) {
        w = L[i]
        gsub(/[^A-Za-z0-9_]+/, " ", w)
        nw = split(w, words, " ")
        for (k = 1; k <= nw; k++) {
            if ((words[k] in bidx) && bidx[words[k]] != own[i]) {
                edge[own[i], bidx[words[k]]] = 1
            }
        }
    }
    live[0] = 1
    todo[nt = 1] = 0
    while (nt > 0) {
        b = todo[nt--]
        for (k = 1; k <= nb; k++) {
            if (!(k in live) && ((b, k) in edge)) {
                live[k] = 1
                todo[++nt] = k
            }
        }
    }
    nk = 0
    for (i = 1; i <= nl; i++) {
        if (own[i] in live) {
            print "\"" cstr(L[i]) "\\n\""
            KL[++nk] = L[i]
            KC[nk] = LC[i]
        }
    }
    nl = 0
    libify()
}
# The script as a function of the Redis 7 library (issue 18): FCALL runs
# only the callback, where EVALSHA runs the whole text, making every
# function of the script anew.  Its top-level functions, and the locals
# declared before the last of them, go to the top of a do ... end of its
# own (made once, at FUNCTION LOAD); each of those locals is assigned
# again at the start of every call, in the order of the script, so that
# no call sees what an earlier one left (lib/route.lua R, lib/bot.lua B,
# lib/kefu_event.lua K) and a function using a local made from ARGV sees
# this call.  Functions after a statement that is no declaration stay
# in the callback, made at each call as before.
function libify(    i, j, nc, cs, isfn, decl, stop, last, w, rest, nn, nm, k, seen, flags) {
    i = 1
    # a script without "#!lua" (msg: no keys declared, the conversation
    # and the site of one Redis) is run by EVALSHA as Redis 6 would: its
    # keys may be of several slots, which a function must say
    flags = ", flags = {\047allow-cross-slot-keys\047}"
    if (KL[1] ~ /^#!lua/) {
        flags = ""
        if (match(KL[1], /flags=[^ ]+/)) {
            flags = substr(KL[1], RSTART + 6, RLENGTH - 6)
            gsub(/,/, "\047, \047", flags)
            flags = ", flags = {\047" flags "\047}"
        }
        i = 2
    }
    nc = 0
    for (; i <= nk; i++) {
        if (nc == 0 || KL[i] !~ /^[ \t]/ \
            && KL[i] !~ /^(end|else|elseif|until)([^A-Za-z0-9_]|$)/ \
            && KL[i] !~ /^[})]/)
        {
            cs[++nc] = i
        }
    }
    cs[nc + 1] = nk + 1
    stop = nc + 1
    last = 0
    for (j = 1; j <= nc; j++) {
        w = KL[cs[j]]
        isfn[j] = (w ~ /^local function [A-Za-z_][A-Za-z0-9_]*\(/)
        decl[j] = ""
        if (!isfn[j] && match(w, /^local [A-Za-z_][A-Za-z0-9_, ]*/)) {
            rest = substr(w, RLENGTH + 1)
            if (rest == "" || rest ~ /^ *=/) {
                decl[j] = substr(w, 7, RLENGTH - 6)
                sub(/ +$/, "", decl[j])
            }
        }
        if (!isfn[j] && decl[j] == "") {
            stop = j
            break
        }
        if (isfn[j]) {
            last = j
        }
    }
    LB[++nlb] = "do"
    for (j = 1; j <= last; j++) {
        if (isfn[j]) {
            for (i = cs[j]; i < cs[j + 1]; i++) {
                LB[++nlb] = KL[i]
            }
            continue
        }
        if (KC[cs[j]]) {
            for (i = cs[j]; i < cs[j + 1]; i++) {
                LB[++nlb] = KL[i]
            }
            continue
        }
        nn = split(decl[j], nm, /[ ,]+/)
        for (k = 1; k <= nn; k++) {
            if ((nm[k] in seen) || (nm[k] in ISG)) {
                print "ngx_kefu_lua.sh: " name ": the local " nm[k] \
                      " before a function is declared twice or is a" \
                      " name of a global" > "/dev/stderr"
                failed = 1
                exit 1
            }
            seen[nm[k]] = 1
        }
        LB[++nlb] = "local " decl[j]
    }
    LB[++nlb] = "kefu_register{function_name = \047@KEFU_LIB@_" name "\047," \
                " callback = function(k, a)"
    LB[++nlb] = "KEYS, ARGV = k, a"
    LB[++nlb] = "if not redis then " GLOBALS " = G() end"
    for (j = 1; j <= last; j++) {
        if (isfn[j] || KC[cs[j]]) {
            continue
        }
        w = KL[cs[j]]
        sub(/^local /, "", w)
        if (w !~ /=/) {
            w = w " = nil"
        }
        LB[++nlb] = w
        for (i = cs[j] + 1; i < cs[j + 1]; i++) {
            LB[++nlb] = KL[i]
        }
    }
    for (i = cs[last + 1]; i <= nk; i++) {
        LB[++nlb] = KL[i]
    }
    LB[++nlb] = "end" flags "}"
    LB[++nlb] = "end"
}
# the body of a C string literal: not gsub(), whose "\\\\" in the replacement
# is one backslash in mawk (the awk of Debian) and two in gawk
function cstr(s,    o, i, c) {
    o = ""
    for (i = 1; i <= length(s); i++) {
        c = substr(s, i, 1)
        if (c == "\\" || c == "\"") {
            o = o "\\"
        }
        o = o c
    }
    return o
}
function include(file,    l, r) {
    if (included[file]) {
        return
    }
    included[file] = 1
    while ((r = (getline l < file)) > 0) {
        emit(l)
    }
    if (r < 0) {
        print "ngx_kefu_lua.sh: cannot read " file > "/dev/stderr"
        failed = 1
        exit 1
    }
    close(file)
}
function finish() {
    if (name != "") {
        shake()
        print "), { 0 }, ngx_string(\"@KEFU_LIB@_" name "\") };"
        print ""
    }
}
BEGIN {
    # the globals of Lua and Redis that the scripts use, kept in locals of
    # the library: the globals of a function are an empty table whose
    # __index is the real one, so each read of one misses first (issue
    # 18: 12,000 instructions of a msg_batch call).  They are taken at the first
    # call (G(), defined before the locals of the same names, returns the
    # globals): at load time a library sees little more than
    # redis.register_function.
    GLOBALS = "redis, cjson, tonumber, tostring, ipairs, pairs, type, unpack, string, math, table, pcall, error, next, select"
    split(GLOBALS, gl, /, /)
    for (j in gl) {
        ISG[gl[j]] = 1
    }
    LB[nlb = 1] = "#!lua name=@KEFU_LIB@"
    LB[++nlb] = "local KEYS, ARGV"
    LB[++nlb] = "local function G() return " GLOBALS " end"
    LB[++nlb] = "local kefu_register = redis.register_function"
    LB[++nlb] = "local " GLOBALS
    print "/* generated by lua/ngx_kefu_lua.sh from the .lua files: do not edit */"
    print ""
    print "#include \"ngx_kefu.h\""
    print "#include \"ngx_kefu_redis.h\""
    print ""
    print "/* generated by lua/ngx_kefu_lua.sh from the .lua files: do not edit */" > hdr
    print "" > hdr
    print "#ifndef _NGX_KEFU_LUA_H_INCLUDED_" > hdr
    print "#define _NGX_KEFU_LUA_H_INCLUDED_" > hdr
    print "" > hdr
}
FNR == 1 {
    finish()
    name = FILENAME
    sub(/^.*\//, "", name)
    sub(/\.lua$/, "", name)
    if (name !~ /^[a-z][a-z0-9_]*$/) {
        print "ngx_kefu_lua.sh: " FILENAME ": a script name is [a-z0-9_]" > "/dev/stderr"
        failed = 1
        exit 1
    }
    names[++n] = name
    split("", included)
    print ""
    print "ngx_kefu_script_t  ngx_kefu_script_" name " = { ngx_string("
    print "extern ngx_kefu_script_t  ngx_kefu_script_" name ";" > hdr
}
{
    emit($0)
}
END {
    if (failed) {
        exit 1
    }
    finish()
    print ""
    print "ngx_kefu_script_t  *ngx_kefu_scripts[] = {"
    for (i = 1; i <= n; i++) {
        print "    &ngx_kefu_script_" names[i] ","
    }
    print "    NULL"
    print "};"
    print ""
    print "ngx_str_t  ngx_kefu_lua_library = ngx_string("
    for (i = 1; i <= nlb; i++) {
        print "\"" cstr(LB[i]) "\\n\""
        print LB[i] > libtext
    }
    print ");"
    print "" > hdr
    print "extern ngx_kefu_script_t  *ngx_kefu_scripts[];" > hdr
    print "extern ngx_str_t  ngx_kefu_lua_library;" > hdr
    print "" > hdr
    print "#endif /* _NGX_KEFU_LUA_H_INCLUDED_ */" > hdr
}
' "$src"/*.lua > "$out/ngx_kefu_lua.c.tmp"

# The library's name, and its functions' (function names are global to
# a Redis server), carry a short hash of its text: two builds' libraries,
# in a rolling upgrade, live side by side in one Redis.  The "p" after it
# (PUBLISH) becomes "s" where kefu_redis cluster makes the PUBLISHes
# SPUBLISHes (ngx_kefu_redis.c): the two texts are two libraries.
h=$(cksum < "$out/kefu_library.lua.tmp" | awk '{ printf "%08x", $1 }')
sed "s/@KEFU_LIB@/kefu_${h}p/g" "$out/ngx_kefu_lua.c.tmp" > "$out/ngx_kefu_lua.c.tmp2"
rm -f "$out/ngx_kefu_lua.c.tmp" "$out/kefu_library.lua.tmp"
mv -f "$out/ngx_kefu_lua.c.tmp2" "$out/ngx_kefu_lua.c"

# the header only changes with the set of scripts: leaving it alone
# otherwise keeps make from rebuilding every object for a script's edit
if cmp -s "$out/ngx_kefu_lua.h.tmp" "$out/ngx_kefu_lua.h"; then
    rm -f "$out/ngx_kefu_lua.h.tmp"
else
    mv -f "$out/ngx_kefu_lua.h.tmp" "$out/ngx_kefu_lua.h"
fi
