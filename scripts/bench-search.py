#!/usr/bin/env python3
"""scripts/bench search: fills the search index through the HTTP API, then
times searches.  Run by scripts/bench (which starts nginx and Redis).

  bench-search.py fill PORT SITE SECRET N        N messages, 8 connections
  bench-search.py query PORT SITE SECRET ROUNDS  each query ROUNDS times

Messages are half English (6-14 words of a 400-word vocabulary, Zipf-like,
and an order number), half Chinese (8-24 characters of 500 common ones),
from 1000 visitors.  Queries: a frequent word, a rare word, two words, a
Chinese pair, a Chinese phrase, a visitor's name; by an admin, and by an
agent who may read none of them (the worst case: every posting looked at
and filtered out)."""

import base64, hashlib, hmac, http.client, json, random, sys, threading, time
from urllib.parse import quote

EN = ("order delivery refund package shipped arrived address payment invoice "
      "size colour color return exchange discount coupon price account login "
      "password email phone cart checkout stock available tomorrow today week "
      "month late damaged broken wrong missing tracking number courier store "
      "warranty repair replace cancel change update receipt bank card transfer "
      "help question answer problem thanks please hello yes no maybe sure ok "
      "shirt shoes jacket dress bag watch phone case cable charger laptop "
      "screen keyboard mouse headphones speaker camera lens battery box gift").split()
EN += ["w%03d" % i for i in range(400 - len(EN))]
ZH = ("的一是在不了有和人这中大为上个国我以要他时来用们生到作地于出就分对成会可主发年动"
      "同工也能下过子说产种面而方后多定行学法所民得经十三之进着等部度家电力里如水化高自二理"
      "起小物现实加量都两体制机当使点从业本去把性好应开它合还因由其些然前外天政四日那社义事"
      "平形相全表间样与关各重新线内数正心反你明看原又么利比或但质气第向道命此变条只没结解问"
      "意建月公无系军很情者最立代想已通并提直题党程展五果料象员革位入常文总次品式活设及管特"
      "件长求老头基资边流路级少图山统接知较将组见计别她手角期根论运农指几九区强放决西被干做"
      "必战先回则任取据处队南给色光门即保治北造百规热领七海口东导器压志世金增争济阶油思术极"
      "交受联什认六共权收证改清己美再采转更单风切打白教速花带安场身车例真务具万每目至达走积"
      "示议声报斗完类八离华名确才科张信马节话米整空元况今集温传土许步群广石记需段研界拉林律"
      "叫且究观越织装影算低持音众书布复容儿须际商非验连断深难近矿千周委素技备半办青省列习响"
      "约支般史感劳便团往酸历市克何除消构府称太准精值号率族维划选标写存候毛亲快效斯院查江型"
      "眼王按格养易置派层片始却专状育厂京识适属圆包火住调满县局照参红细引听该铁价严龙飞退款")

def token(secret, site, role, sub):
    b = lambda x: base64.urlsafe_b64encode(x).rstrip(b"=")
    body = b(json.dumps({"alg": "HS256", "typ": "JWT"}).encode()) + b"." + b(json.dumps(
        {"sub": sub, "role": role, "site": site, "exp": int(time.time()) + 7200,
         "groups": ["nobody"]}).encode())
    return (body + b"." + b(hmac.new(secret.encode(), body, hashlib.sha256).digest())).decode()

def zipf(rng, seq, s=1.1):
    # index ~ 1/rank^s over the sequence
    while True:
        i = int(rng.paretovariate(s)) - 1
        if i < len(seq):
            return seq[i]

def text(rng, i):
    if i % 2:
        return " ".join(zipf(rng, EN) for _ in range(rng.randint(6, 14))) + " #%d" % rng.randint(1000, 99999)
    return "".join(zipf(rng, ZH, 1.05) for _ in range(rng.randint(8, 24)))

def fill(port, site, secret, n):
    tok = token(secret, site, "service", "bench")
    hdr = {"Authorization": "Bearer " + tok, "Content-Type": "application/json"}
    done, errs, lock = [0], [0], threading.Lock()
    def worker(k):
        rng = random.Random(k)
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        for i in range(k, n, 8):
            body = json.dumps({"cid": "b%d" % i, "text": text(rng, i), "from": {"role": "bot", "id": "filler"}})
            for _ in range(5):
                try:
                    c.request("POST", "/kefu/api/sites/%s/visitors/bv%d/messages" % (site, i % 1000), body, hdr)
                    r = c.getresponse(); r.read()
                    if r.status in (200, 201):
                        break
                except Exception:
                    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                time.sleep(0.05)
            else:
                with lock: errs[0] += 1
            with lock: done[0] += 1
    t0 = time.time()
    ts = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()
    dt = time.time() - t0
    print("filled: %d messages in %.1f s (%.0f/s), %d failed" % (n, dt, n / dt, errs[0]))

def query(port, site, secret, rounds):
    admin = token(secret, site, "admin", "boss")
    agent = token(secret, site, "agent", "nobody1")
    qs = [("frequent word", EN[0]), ("rare word", EN[300]), ("two words", EN[1] + " " + EN[2]),
          ("Chinese pair", ZH[0] + ZH[1]), ("Chinese phrase", ZH[2] + ZH[3] + ZH[4])]
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    out = {}
    for who, tok in (("admin", admin), ("agent", agent)):
        for name, q in qs:
            lat, hits = [], 0
            for _ in range(rounds):
                t0 = time.perf_counter()
                c.request("GET", "/kefu/api/sites/%s/search?q=%s&limit=20" % (site, quote(q)),
                          headers={"Authorization": "Bearer " + tok})
                r = c.getresponse(); b = r.read()
                lat.append((time.perf_counter() - t0) * 1000)
                if r.status != 200:
                    print("%s %s: %d %s" % (who, name, r.status, b[:200])); break
                hits = len(json.loads(b)["hits"])
            lat.sort()
            p = lambda x: lat[min(len(lat) - 1, int(len(lat) * x))]
            print("%-5s %-15s %-12s hits=%-2d p50=%6.2f ms  p95=%6.2f ms  p99=%6.2f ms  max=%6.2f ms"
                  % (who, name, q, hits, p(0.5), p(0.95), p(0.99), lat[-1]))
            out["%s_%s" % (who, name.replace(" ", "_"))] = p(0.5)
    print("SUMMARY mode=search " + " ".join("%s_p50_ms=%.2f" % kv for kv in sorted(out.items())))

if __name__ == "__main__":
    mode, port, site, secret, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], int(sys.argv[5])
    (fill if mode == "fill" else query)(port, site, secret, n)
