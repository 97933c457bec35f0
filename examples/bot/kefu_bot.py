#!/usr/bin/env python3
"""An external bot for ngx_kefu_module (bot.mode "external").

Reads the site's event stream (kefu:{s:<site>}:events) as a Redis consumer
group member, and answers visitors' messages over the HTTP API as the bot
from a keyword table: the first entry one of whose keywords is in the
message.  Standard library only: a small RESP client, urllib, hmac.

    kefu_bot.py --redis 127.0.0.1:6379 --api http://127.0.0.1:8080/kefu/api \
                --site shop1 --secret <site secret> [--table table.json]

--redis takes one Redis, or any nodes of a Redis Cluster, comma-separated
(host:port,host:port): the bot follows MOVED and ASK to the master that
holds the site's stream.  When a connection drops (a restart, a
failover) it connects again, to the last master it was sent to and
then to each address given (give several: one of them may be the master
that died), and reads what it had not acknowledged first; Redis answering LOADING, TRYAGAIN or CLUSTERDOWN is waited out.

The table is a JSON array of {"keywords": [...], "reply"?: "...",
"buttons"?: [{"text", "value"?}], "handoff"?: true}: an entry with
"handoff" gives the conversation to a person after its reply
(POST .../convs/<conv>/handoff; the words 人工/human/agent alone and the
handoff button need no bot: nginx hands those off itself).  Entries are
acknowledged (XACK) once answered, so a bot that crashes answers what it
had not acknowledged when it starts again (the reply's cid, "x:<entry
id>", makes a second answer to the same entry a duplicate, and a second
handoff changes nothing).
"""

import argparse
import base64
import hashlib
import hmac
import json
import socket
import sys
import time
import urllib.error
import urllib.request

DEFAULT_TABLE = [
    {"keywords": ["发货", "shipping", "delivery"],
     "reply": "We ship within 48 hours. 48小时内发货。",
     "buttons": [{"text": "Order status", "value": "order status"}]},
    {"keywords": ["退货", "return"],
     "reply": "Unopened tea can be returned within 7 days. 未拆封7天内可退。"},
    {"keywords": ["真人", "客服", "person", "someone"],
     "reply": "Connecting you to a person. 正在为您转接人工客服。",
     "handoff": True},
]


class Resp:
    """Just enough RESP2 for XGROUP, XREADGROUP and XACK."""

    def __init__(self, host, port, timeout=30):
        self.addr = (host, port)
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def command(self, *args):
        self.send(*args)
        return self.read()

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("Redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n)
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RuntimeError("unexpected RESP reply: %r" % line)


class RedisError(RuntimeError):
    """An error reply."""


def parse_addr(a):
    host, port = a.strip().rsplit(":", 1)
    return host, int(port)


class Redis:
    """One Redis, or the master of a cluster that holds the bot's key.

    A MOVED answer moves the connection to the master it names (the slot
    map changed, or the address given was another master); an ASK answer
    (a slot being moved) sends that one command there after ASKING.
    Errors that pass (LOADING after a restart, TRYAGAIN and CLUSTERDOWN
    during a failover) and a lost connection are retried after a pause,
    connecting again to the last master and then to each address given.
    """

    RETRY = ("LOADING", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN")

    def __init__(self, addrs, log):
        self.seeds = [parse_addr(a) for a in addrs.split(",") if a.strip()]
        self.log = log
        self.conn = None
        self.master = None

    def _connect(self):
        order = ([self.master] if self.master else []) + self.seeds
        last = None
        for addr in order:
            try:
                self.conn = Resp(*addr)
                self.master = addr
                return
            except OSError as e:
                last = e
        raise ConnectionError("no Redis of %s answers: %s"
                              % (",".join("%s:%d" % a for a in order), last))

    def drop(self):
        if self.conn:
            self.conn.close()
        self.conn = None

    def command(self, *args):
        """The command's reply; redirections and passing errors handled."""
        for _ in range(16):
            try:
                if self.conn is None:
                    self._connect()
                return self.conn.command(*args)
            except RedisError as e:
                word, _, rest = str(e).partition(" ")
                if word == "MOVED":
                    self.drop()
                    self.master = parse_addr(rest.split()[1])
                    self.log("kefu_bot: moved to %s:%d" % self.master)
                    continue
                if word == "ASK":
                    r = Resp(*parse_addr(rest.split()[1]))
                    try:
                        r.command("ASKING")
                        return r.command(*args)
                    finally:
                        r.close()
                if word in self.RETRY:
                    time.sleep(0.5)
                    continue
                raise
            except (OSError, ConnectionError) as e:
                self.drop()
                self.log("kefu_bot: Redis: %s; connecting again" % e)
                time.sleep(0.5)
        raise ConnectionError("Redis: %s failed 16 times" % args[0])


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def service_token(site, secret, ttl=3600):
    """An HS256 JWT of role service for the site (docs/tokens.md)."""
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    claims = b64url(json.dumps({"sub": "bot", "role": "service", "site": site,
                                "exp": int(time.time()) + ttl}).encode())
    sig = hmac.new(secret.encode(), ("%s.%s" % (header, claims)).encode(),
                   hashlib.sha256).digest()
    return "%s.%s.%s" % (header, claims, b64url(sig))


def answer(table, text):
    low = text.lower()
    for entry in table:
        if any(k.lower() in low for k in entry["keywords"]):
            return entry
    return None


def post(args, path, body):
    """POSTs to the site's API; the HTTP status, 599 when nginx is away.

    A token is minted for each call: a bot runs for days, a token for an
    hour."""
    req = urllib.request.Request(
        "%s/sites/%s/%s" % (args.api, args.site, path),
        data=json.dumps(body).encode(),
        headers={"Authorization": "Bearer "
                 + service_token(args.site, args.secret),
                 "Content-Type": "application/json"}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except (urllib.error.URLError, OSError):
        return 599


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--redis", default="127.0.0.1:6379")
    ap.add_argument("--api", required=True, help="the kefu_api location's URL")
    ap.add_argument("--site", required=True)
    ap.add_argument("--secret", required=True)
    ap.add_argument("--table", help="a JSON keyword table")
    ap.add_argument("--group", default="bot", help="the consumer group")
    ap.add_argument("--name", default="Bot", help="the bot's display name")
    args = ap.parse_args()

    table = DEFAULT_TABLE
    if args.table:
        with open(args.table, encoding="utf-8") as f:
            table = json.load(f)

    def log(line):
        print(line, file=sys.stderr, flush=True)

    r = Redis(args.redis, log)
    key = "kefu:{s:%s}:events" % args.site
    group_made = False

    # what this consumer had not acknowledged first ("0"), then new
    # entries (">"); back to "0" after a lost connection or an entry left
    # unanswered, so that nothing read is dropped
    start = "0"
    while True:
        try:
            if not group_made:
                try:
                    r.command("XGROUP", "CREATE", key, args.group, "$",
                              "MKSTREAM")
                except RedisError as e:
                    if "BUSYGROUP" not in str(e):
                        raise
                group_made = True
                print("kefu_bot: reading %s as %s" % (key, args.group),
                      flush=True)
            start = serve(r, key, args, table, start)
        except RedisError as e:
            # the stream or its group gone (a failover that lost them, an
            # erasure): made again; anything else is a bug to see
            if "NOGROUP" not in str(e):
                raise
            log("kefu_bot: %s; making the group again" % e)
            group_made = False
            start = "0"
        except (OSError, ConnectionError) as e:
            log("kefu_bot: %s; trying again" % e)
            r.drop()
            start = "0"
            time.sleep(1)


def serve(r, key, args, table, start):
    """Reads and answers one batch of entries; returns where to read next."""
    reply = r.command("XREADGROUP", "GROUP", args.group, "bot-1",
                      "COUNT", 100, "BLOCK", 5000, "STREAMS", key, start)
    entries = reply[0][1] if reply else []
    if start == "0" and not entries:
        return ">"
    unanswered = False
    for entry_id, fields in entries:
        # a pending entry the stream's MAXLEN trimmed away has no fields
        f = dict(zip(fields[0::2], fields[1::2])) if fields else {}
        if f.get(b"event") == b"msg" and not handle(f, entry_id, args, table):
            # not done (the API failed): left unacknowledged, read again
            unanswered = True
            continue
        r.command("XACK", key, args.group, entry_id)
    if unanswered:
        time.sleep(1)
        return "0"
    return start


def handle(f, entry_id, args, table):
    """Answers a msg entry from the table; False when the API failed."""
    m = json.loads(f[b"data"])
    if m.get("from", {}).get("role") != "visitor":
        return True
    hit = answer(table, m.get("text", ""))
    st = 200
    if hit and hit.get("reply"):
        body = {"cid": "x:" + entry_id.decode(), "text": hit["reply"],
                "from": {"role": "bot", "id": "bot", "name": args.name}}
        if hit.get("buttons"):
            body["buttons"] = hit["buttons"]
        st = post(args, "convs/%s/messages" % m["conv"], body)
    if hit and hit.get("handoff") and st < 500:
        # to a person: routed like a new conversation
        st = post(args, "convs/%s/handoff" % m["conv"], {})
    return st < 500


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
