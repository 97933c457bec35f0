# stop_pid PID: a server of this shell's stopped and reaped.  Asked again
# each second, since a Redis may refuse the first SIGTERM (a replica
# "Writing initial AOF, can't exit" after its master went first), then
# killed after 10 s: a bare wait would hang the run for good.
stop_pid() {
    local i
    kill "$1" 2>/dev/null || return 0
    for i in $(seq 1 100); do
        kill -0 "$1" 2>/dev/null || break
        [ $((i % 10)) = 0 ] && kill "$1" 2>/dev/null
        sleep 0.1
    done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
