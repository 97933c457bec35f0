#!/usr/bin/env python3
"""Upload load for scripts/bench (modes upload and upload-mem).

  bench-upload.py rate PORT TOKEN CONV N CONC SIZE
      N uploads of SIZE-byte PNG files (distinct bytes each), CONC at a time
      over keep-alive connections: uploads/s, MB/s, latency percentiles.
  bench-upload.py one PORT TOKEN CONV SIZE
      one upload of SIZE bytes, sent in 64 KiB writes; prints its status and
      seconds (the caller samples the workers' memory meanwhile).
"""
import http.client, json, os, struct, sys, threading, time


def png(size, salt):
    head = b'\x89PNG\r\n\x1a\n' + struct.pack('>I', 13) + b'IHDR' + struct.pack('>II', 1920, 1080) \
        + b'\x08\x02\x00\x00\x00' + b'\0\0\0\0' + struct.pack('>Q', salt)
    block = os.urandom(65536)
    body = bytearray(head)
    while len(body) < size:
        body += block
    return bytes(body[:size])


def upload(conn, token, conv, data, name):
    conn.putrequest('POST', '/files?site=bench&conv=%s&name=%s' % (conv, name))
    conn.putheader('Authorization', 'Bearer ' + token)
    conn.putheader('Content-Type', 'application/octet-stream')
    conn.putheader('Content-Length', str(len(data)))
    conn.endheaders()
    view = memoryview(data)
    for i in range(0, len(data), 65536):
        conn.send(view[i:i + 65536])
    r = conn.getresponse()
    body = r.read()
    return r.status, body


def rate(port, token, conv, n, conc, size):
    files = [png(size, i) for i in range(n)]
    lat, errors, lock = [], [], threading.Lock()
    todo = list(range(n))

    def worker():
        conn = http.client.HTTPConnection('127.0.0.1', port, timeout=60)
        while True:
            with lock:
                if not todo:
                    return
                i = todo.pop()
            t0 = time.monotonic()
            st, body = upload(conn, token, conv, files[i], 'photo%d.png' % i)
            dt = time.monotonic() - t0
            with lock:
                lat.append(dt)
                if st != 201:
                    errors.append((st, body[:200]))

    t0 = time.monotonic()
    ts = [threading.Thread(target=worker) for _ in range(conc)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    wall = time.monotonic() - t0
    lat.sort()
    pct = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000
    ok = n - len(errors)
    print('uploads: %d of %d bytes, %d at a time: %d ok, %d failed%s' % (
        n, size, conc, ok, len(errors), (' (first: %r)' % (errors[0],)) if errors else ''))
    print('throughput: %.1f uploads/s, %.1f MB/s; latency p50 %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms' % (
        ok / wall, ok * size / wall / 1e6, pct(.5), pct(.9), pct(.99), lat[-1] * 1000))
    print('SUMMARY mode=upload n=%d conc=%d size=%d ok=%d uploads_per_s=%.1f mb_per_s=%.1f p50_ms=%.0f p99_ms=%.0f' % (
        n, conc, size, ok, ok / wall, ok * size / wall / 1e6, pct(.5), pct(.99)))


def one(port, token, conv, size):
    data = png(size, 1)
    conn = http.client.HTTPConnection('127.0.0.1', port, timeout=300)
    t0 = time.monotonic()
    st, body = upload(conn, token, conv, data, 'big.png')
    print('status %d in %.2f s: %s' % (st, time.monotonic() - t0, body[:160].decode(errors='replace')))


if __name__ == '__main__':
    a = sys.argv
    if a[1] == 'rate':
        rate(int(a[2]), a[3], a[4], int(a[5]), int(a[6]), int(a[7]))
    else:
        one(int(a[2]), a[3], a[4], int(a[5]))
