# kefu_status: the host's counters move exactly as the traffic the test made,
# the same whichever of the 2 workers answers (they are in the zone), in
# JSON and in Prometheus text (every line valid exposition syntax); the
# queue and conversation figures come from Redis and go absent, never
# wrong, when Redis is down.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use IO::Socket::INET;
use IO::Select;

workers(2);
master_on();
worker_connections(1024);

# a second listener with reuseport, to spread connections over workers
free_port('TEST_NGINX_REUSEPORT_PORT');
# a port nothing listens on (privileged: nobody's test takes it)
$ENV{TEST_NGINX_DEAD_PORT} = 1;

our $SERVER = <<'_EOC_';
    server {
        listen 127.0.0.1:$TEST_NGINX_REUSEPORT_PORT reuseport;
        location = /chat { kefu_chat; }
        location = /slow { kefu_chat; kefu_message_rate 1r/s burst=1; }
        location = /status { kefu_status; add_header X-Worker $pid always; }
    }
_EOC_

sub rport { $ENV{TEST_NGINX_REUSEPORT_PORT} }

# a Redis of this file's own, stalled by TEST 6 (SIGSTOP: it answers
# nothing until SIGCONT, however long the test needs)
our $R = redis_server();
$ENV{TEST_NGINX_OWN_REDIS_PORT} = $R->port;
sub stall { kill 'STOP', $main::R->pid }
sub resume { kill 'CONT', $main::R->pid }
END { resume() if $main::R }

# requests nginx has read so far (its debug log), and a wait for n of them
sub requests_read {
    open my $fh, '<', server_root() . '/logs/error.log' or return 0;
    return scalar grep { m{http request line: "GET /status} } <$fh>;
}
sub wait_requests_read {
    my ($n) = @_;
    for (1 .. 600) { return 1 if requests_read() >= $n; sleep 0.05 }
    return 0;
}

# GET the status: (status code, headers, body)
sub status_get {
    my ($query, @headers) = @_;
    my $h = join '', map { "$_\r\n" } @headers;
    return http_raw("GET /status$query HTTP/1.0\r\nHost: localhost\r\n$h\r\n",
                    port => rport());
}

sub status_json {
    my ($code, $h, $body) = status_get('');
    die "status answered $code\n" unless $code == 200;
    my $j = json_dec($body);
    $j->{_worker} = $h->{'x-worker'};
    return $j;
}

# Exposition format 0.0.4, line by line: every line is a HELP, a TYPE or a
# sample of a family whose TYPE came before.  Returns ({series => value},
# {family => type}, [errors]).
sub prom_parse {
    my ($text) = @_;
    my (%v, %type, @err);
    my $name = qr/[a-zA-Z_:][a-zA-Z0-9_:]*/;
    my $value = qr/(?:[-+]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][-+]?\d+)?|[-+]?Inf|NaN)/;
    my $label = qr/[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\["\\n])*"/;
    push @err, 'does not end with a newline' unless $text =~ /\n\z/;
    for my $l (split /\n/, $text) {
        if ($l =~ /^# HELP ($name) (.*)$/) {
            next;
        }
        if ($l =~ /^# TYPE ($name) (counter|gauge|histogram|summary|untyped)$/) {
            push @err, "TYPE twice: $l" if $type{$1};
            $type{$1} = $2;
            next;
        }
        if ($l =~ /^($name)((?:\{(?:$label(?:,$label)*)?\})?) ($value)$/) {
            my ($n, $labels, $val) = ($1, $2, $3);
            my $fam = $n;
            $fam =~ s/_(bucket|sum|count)$// unless $type{$fam};
            push @err, "sample before its TYPE: $l" unless $type{$fam};
            push @err, "not kefu_: $l" unless $n =~ /^kefu_/;
            push @err, "sample twice: $l" if exists $v{"$n$labels"};
            $v{"$n$labels"} = $val;
            next;
        }
        push @err, "invalid line: '$l'";
    }
    return (\%v, \%type, \@err);
}

sub status_prom {
    my ($code, $h, $body) = status_get('?format=prometheus');
    die "status answered $code\n" unless $code == 200;
    my ($v, $t, $err) = prom_parse($body);
    die "bad exposition: @$err\n" if @$err;
    return $v;
}

# status answers from both workers; dies if one never answers
sub status_both {
    my ($want) = @_;
    my %by;
    for (1 .. 200) {
        my $j = status_json();
        $by{ $j->{_worker} } ||= $j;
        last if keys %by >= 2;
    }
    die "only one worker answered the status\n" if keys %by < 2;
    return values %by;
}

# polls until both workers' Redis connections are ready (just started)
sub wait_redis {
    my $j;
    for (1 .. 100) {
        $j = status_json();
        return $j if $j->{redis}{state} eq 'up'
                     && 2 == grep { $_->{command} eq 'up' && $_->{pubsub} eq 'up' }
                                  @{ $j->{redis}{workers} };
        sleep 0.05;
    }
    return $j;
}

# polls until the connections gauge is back to n (closing takes a moment)
sub wait_connections {
    my ($n) = @_;
    my $j;
    for (1 .. 100) {
        $j = status_json();
        return $j if $j->{connections}{total} == $n;
        sleep 0.05;
    }
    return $j;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', ($block->http_config // '') . $main::SERVER);
});

# its queue and conversation figures must be this run's: a site of its own
site_of_run('stat40');

run_tests();

__DATA__

=== TEST 1: JSON: the numbers move with the traffic, the same from both workers
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on default_group=presales;
--- config
    location = /chat { kefu_chat; }
--- ws
my $port = main::rport();
my $s0 = main::wait_redis();
is($s0->{redis}{state}, 'up', 'redis up');
is($s0->{connections}{total}, 0, 'no connection yet');
ok(exists $s0->{zone}{pages_free}, 'zone usage');

my ($n, $m) = (6, 3);
my (@ws, $received);
for my $i (1 .. $n) {
    my ($w, $welcome) = kefu_connect(role => 'visitor', site => 'stat40', port => $port);
    is($welcome->{type}, 'welcome', "visitor $i welcomed");
    $received++;
    push @ws, $w;
}
for my $w (@ws) {
    for my $k (1 .. $m) {
        $w->send_json({type => 'msg', cid => "c$k", text => "hello $k"});
        is($w->recv_type('ack')->{seq}, $k, "ack $k");
    }
    $w->send_json({type => 'no_such_type', cid => 'x'});
    is($w->recv_type('error')->{code}, 'bad_request', 'an unknown type');
}
for my $w (@ws) {
    # everything the server sent: the acks and the error read above, the
    # notices kept meanwhile, whatever came before the pong, and the pong
    my @rest = $w->until_pong;
    $received += @rest + $m + 1 + 1;
}

my @open = main::status_both();
for my $s (@open) {
    my $tag = "worker $s->{_worker}";
    is($s->{connections}{total}, $n, "$tag: $n connections");
    is($s->{connections}{visitor}, $n, "$tag: $n visitors");
    is($s->{connections}{unauthenticated}, 0, "$tag: none before hello");
    is($s->{zone}{sessions}, $n, "$tag: $n sessions in the zone");
    is($s->{zone}{subscriptions}, 2 * $n, "$tag: each visitor's channel and conversation subscribed");
    is($s->{handshakes} - $s0->{handshakes}, $n, "$tag: $n handshakes");
    is($s->{messages_in} - $s0->{messages_in}, $n * ($m + 3), "$tag: hello, msgs, the bad one and the ping in");
    is($s->{messages_out} - $s0->{messages_out}, $received, "$tag: exactly what the clients got, out");
    is($s->{acks} - $s0->{acks}, $n * $m, "$tag: $n x $m acks");
    is($s->{errors}{bad_request} - $s0->{errors}{bad_request}, $n, "$tag: bad_request errors");
    ok($s->{redis}{latency}{count} > $s0->{redis}{latency}{count}, "$tag: Redis commands timed");
    is(scalar(grep { $_->{command} eq 'up' && $_->{pubsub} eq 'up' } @{ $s->{redis}{workers} }),
       2, "$tag: both workers' Redis links up");
}

for my $w (@ws) {
    my ($c) = $w->close_ws(1000, 'bye');
    is($c, 1000, 'close 1000 echoed');
    close $w->sock;
}
my $s1 = main::wait_connections(0);
is($s1->{connections}{total}, 0, 'connections back to 0');
is($s1->{zone}{sessions}, 0, 'sessions gone from the zone');
is($s1->{zone}{subscriptions}, 0, 'and their subscriptions');
is($s1->{closes}{1000} - $s0->{closes}{1000}, $n, 'the close 1000 echoed n times');

# a rate limit that is hit: 2 pings into an empty bucket, then 4429
my $sock = ws_connect(path => '/slow', port => $port);
$sock->send_json({type => 'hello', role => 'visitor', site => 'stat40'});
$sock->recv_type('welcome');
$sock->send_json({type => 'ping', id => "p$_"}) for 1 .. 2;
my @errs = grep { $_ } map { $sock->recv_type('error') } 1 .. 2;
is(scalar @errs, 2, 'two rate_limited errors');
is($_->{code}, 'rate_limited', 'rate_limited') for @errs;
my ($cc) = $sock->recv_close;
is($cc, 4429, 'then closed 4429');
my $s2 = main::status_json();
is($s2->{rate_limited} - $s1->{rate_limited}, 2, 'rate-limit hits counted');
is($s2->{errors}{rate_limited} - $s1->{errors}{rate_limited}, 2, 'and the errors by code');
is($s2->{closes}{4429} - $s1->{closes}{4429}, 1, 'and the close 4429');
is($s2->{sites}{stat40}{queues}{presales}, $n, 'the default group queues the conversations no agent took');
is($s2->{sites}{stat40}{conversations}{queued}, $n, 'and counts them queued');



=== TEST 2: Prometheus text: valid line by line, same traffic accounting
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $port = main::rport();
main::wait_redis();
my ($code, $h, $body) = main::status_get('?format=prometheus');
is($code, 200, 'status 200');
like($h->{'content-type'}, qr{^text/plain; version=0\.0\.4}, 'exposition content type');
my ($v0, $types, $err) = main::prom_parse($body);
is_deeply($err, [], 'every line is valid exposition syntax');
is($types->{kefu_messages_in_total}, 'counter', 'a counter');
is($types->{kefu_connections}, 'gauge', 'a gauge');
is($types->{kefu_redis_command_duration_seconds}, 'histogram', 'a histogram');
ok(exists $v0->{'kefu_errors_total{code="unauthorized"}'}, 'errors by code');
ok(exists $v0->{'kefu_closes_total{code="4401"}'}, 'closes by code');
ok(exists $v0->{'kefu_sessions{role="agent"}'}, 'sessions by role');
ok(exists $v0->{'kefu_zone_pages{state="free"}'}, 'zone pages');
is($v0->{kefu_redis_status_up}, 1, 'redis read');

# the Accept header of a Prometheus server asks for it too
my (undef, $h2, $b2) = main::status_get('', 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1');
like($h2->{'content-type'}, qr{^text/plain}, 'Accept: text/plain gives the exposition');
like($b2, qr/^# HELP /, 'text');

my $n = 4;
my @ws;
for (1 .. $n) {
    my ($w) = kefu_connect(role => 'visitor', site => 'stat40', port => $port);
    $w->send_json({type => 'msg', cid => 'a', text => 'x'});
    $w->recv_type('ack');
    push @ws, $w;
}
# an unauthenticated hello: unauthorized, close 4401
my $bad = ws_connect(port => $port);
$bad->send_json({type => 'hello', role => 'visitor', site => 'stat40', token => 'x.y.z'});
is($bad->recv_type('error')->{code}, 'unauthorized', 'a bad token');
my ($cc) = $bad->recv_close;
is($cc, 4401, 'closed 4401');
close $bad->sock;
is(main::wait_connections($n)->{connections}{total}, $n, 'the refused one is gone');

my %seen;
for (1 .. 200) {
    my ($c, $hh, $b) = main::status_get('?format=prometheus');
    my ($v, undef, $e) = main::prom_parse($b);
    is_deeply($e, [], 'valid') unless $seen{ $hh->{'x-worker'} };
    $seen{ $hh->{'x-worker'} } ||= $v;
    last if keys %seen >= 2;
}
is(scalar keys %seen, 2, 'both workers answered');
for my $w (sort keys %seen) {
    my $v = $seen{$w};
    is($v->{kefu_connections}, $n, "worker $w: $n connections");
    is($v->{'kefu_sessions{role="visitor"}'}, $n, "worker $w: $n visitor sessions");
    is($v->{kefu_messages_in_total} - $v0->{kefu_messages_in_total}, 2 * $n + 1, "worker $w: messages in");
    is($v->{kefu_acks_total} - $v0->{kefu_acks_total}, $n, "worker $w: acks");
    is($v->{'kefu_errors_total{code="unauthorized"}'} - $v0->{'kefu_errors_total{code="unauthorized"}'}, 1, "worker $w: unauthorized");
    is($v->{'kefu_closes_total{code="4401"}'} - $v0->{'kefu_closes_total{code="4401"}'}, 1, "worker $w: close 4401");
    is($v->{kefu_handshakes_total} - $v0->{kefu_handshakes_total}, $n + 1, "worker $w: handshakes");

    # a histogram: cumulative buckets, +Inf is the count
    my @b = map { $v->{$_} } sort { my ($x) = $a =~ /le="([^"]+)"/; my ($y) = $b =~ /le="([^"]+)"/;
                                    ($x eq '+Inf' ? 1e9 : $x) <=> ($y eq '+Inf' ? 1e9 : $y) }
            grep { /^kefu_redis_command_duration_seconds_bucket/ } keys %$v;
    ok(@b >= 5, "worker $w: buckets");
    is_deeply([sort { $a <=> $b } @b], \@b, "worker $w: cumulative");
    is($b[-1], $v->{kefu_redis_command_duration_seconds_count}, "worker $w: +Inf is the count");
    ok($v->{kefu_redis_command_duration_seconds_count} > $v0->{kefu_redis_command_duration_seconds_count},
       "worker $w: commands timed");
}

my ($c4, $h4) = main::status_get('?format=xml');
is($c4, 400, 'an unknown format: 400');
my ($c5, $h5, $b5) = http_raw("POST /status HTTP/1.0\r\nHost: x\r\nContent-Length: 0\r\n\r\n", port => $port);
is($c5, 405, 'POST: 405');
like($b5, qr/"code":"method_not_allowed"/, 'with a JSON body');



=== TEST 3: queue lengths and conversations by state, read from Redis
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40q secret=stat40q-secret-0123456789abcdef default_group=presales;
    kefu_site stat40r secret=stat40r-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
--- ws
main::wait_redis();
# one site's keys per command: they share a slot (scripts/test --cluster)
redis('DEL', 'kefu:{s:stat40q}:counts', 'kefu:{s:stat40q}:groups', 'kefu:{s:stat40q}:q:presales',
      'kefu:{s:stat40q}:q:vip', 'kefu:{s:stat40q}:q:empty');
redis('DEL', 'kefu:{s:stat40r}:counts');
redis('HSET', 'kefu:{s:stat40q}:counts', queued => 3, open => 5, closed => 7);
redis('SADD', 'kefu:{s:stat40q}:groups', qw(vip empty presales));
redis('ZADD', 'kefu:{s:stat40q}:q:presales', 1, 'c1', 2, 'c2', 3, 'c3');
redis('ZADD', 'kefu:{s:stat40q}:q:vip', 1, 'c4');

my $s = main::status_json();
is_deeply($s->{sites}{stat40q}{conversations}, {queued => 3, open => 5, closed => 7}, 'conversations by state');
is_deeply($s->{sites}{stat40q}{queues}, {presales => 3, vip => 1, empty => 0}, 'queue per group');
is_deeply($s->{sites}{stat40r}{conversations}, {queued => 0, open => 0, closed => 0}, 'a site with nothing yet');
is_deeply($s->{sites}{stat40r}{queues}, {default => 0}, 'its default group');

my $v = main::status_prom();
is($v->{'kefu_conversations{site="stat40q",state="open"}'}, 5, 'prometheus: open');
is($v->{'kefu_conversations{site="stat40q",state="queued"}'}, 3, 'prometheus: queued');
is($v->{'kefu_queue_length{site="stat40q",group="presales"}'}, 3, 'prometheus: presales queue');
is($v->{'kefu_queue_length{site="stat40q",group="vip"}'}, 1, 'prometheus: vip queue');
is($v->{'kefu_queue_length{site="stat40r",group="default"}'}, 0, 'prometheus: stat40r');

redis('ZADD', 'kefu:{s:stat40q}:q:vip', 2, 'c5');
is(main::status_json()->{sites}{stat40q}{queues}{vip}, 2, 'it follows Redis');



=== TEST 3b: a group's queue is reported once a conversation has waited in it: nothing seeded by hand
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40g secret=stat40g-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
use Kefu::Route ();
use Kefu::WS qw(kefu_connect);
main::wait_redis();
redis('DEL', 'kefu:{s:stat40g}:groups', 'kefu:{s:stat40g}:q:vip', 'kefu:{s:stat40g}:counts');
is_deeply(main::status_json()->{sites}{stat40g}{queues}, {default => 0}, 'before: only the default group');
# an agent names the group in its token, away: a vip visitor waits
my ($ag, $aw) = kefu_connect(role => 'agent', site => 'stat40g', status => 'away',
    token => Kefu::Route::agent_token('vipdesk', site => 'stat40g',
        secret => 'stat40g-secret-0123456789abcdef', groups => ['vip']));
is($aw->{type}, 'welcome', 'the vip agent is in, away');
my ($v, $vw) = kefu_connect(role => 'visitor', site => 'stat40g', group => 'vip');
$v->send_json({type => 'msg', cid => 'q1', text => 'waiting'});
my $n = $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{state} });
is($n->{state}, 'queued', 'queued in vip');
is($n->{group}, 'vip', '... the vip group');
my $s = main::status_json();
is($s->{sites}{stat40g}{queues}{vip}, 1, 'the status reports the vip queue');
is(main::status_prom()->{'kefu_queue_length{site="stat40g",group="vip"}'}, 1, 'and Prometheus too');



=== TEST 3c: an agent's connection stays in its latest 16 closed conversations, not in every one it closed
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40c secret=stat40c-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }
--- ws
use Kefu::Route ();
use Kefu::WS qw(kefu_connect);
main::wait_redis();
my ($ag, $aw) = kefu_connect(role => 'agent', site => 'stat40c', status => 'online',
    token => Kefu::Route::agent_token('closer', site => 'stat40c', capacity => 100,
        secret => 'stat40c-secret-0123456789abcdef'));
is($aw->{type}, 'welcome', 'the agent is in');
$ag->wait_for(sub { $_[0]{type} eq 'presence' && $_[0]{agent} eq 'closer' });
my $s0 = main::wait_connections(1)->{zone}{subscriptions};
my @convs;
for my $i (1 .. 20) {
    my ($v) = kefu_connect(role => 'visitor', site => 'stat40c');
    $v->send_json({type => 'msg', cid => "c$i", text => "question $i"});
    my $ack = $v->wait_for(sub { $_[0]{type} eq 'ack' });
    my $c = $ack->{conv};
    push @convs, $c;
    $ag->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && $_[0]{state} eq 'open' });
    $ag->wait_for(sub { $_[0]{type} eq 'msg' && $_[0]{conv} eq $c && $_[0]{cid} && $_[0]{cid} eq "c$i" });
    $ag->send_json({type => 'close', conv => $c, cid => "x$i"});
    $ag->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && $_[0]{state} eq 'closed' });
    $v->wait_for(sub { $_[0]{type} eq 'conv' && $_[0]{conv} eq $c && $_[0]{state} eq 'closed' });
    $v->close_ws(1000, 'bye');
    close $v->sock;
}
my $s = main::wait_connections(1);
my $subs = $s->{zone}{subscriptions};
for (1 .. 200) {
    last if $subs == $s0 + 16;
    sleep 0.05;
    $subs = main::status_json()->{zone}{subscriptions};
}
is($subs, $s0 + 16, 'subscribed to the latest 16 closed conversations, not 20');
# the ones left are still readable
$ag->send_json({type => 'history', conv => $convs[0], cid => 'h1'});
my $h = $ag->wait_for(sub { $_[0]{type} eq 'history' && $_[0]{conv} eq $convs[0] });
ok($h && grep({ ($_->{text} // '') eq 'question 1' } @{ $h->{msgs} }), 'the oldest one, left, is read with history');



=== TEST 4: Redis down: the status still answers at once, Redis figures absent
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_DEAD_PORT connect_timeout=200ms timeout=500ms;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $s = main::status_json();
is($s->{redis}{state}, 'down', 'redis: down');
ok(exists $s->{sites}{stat40}, 'the site is listed');
is($s->{sites}{stat40}{conversations}, undef, 'conversations: null');
is($s->{sites}{stat40}{queues}, undef, 'queues: null');
is(scalar(grep { $_->{command} eq 'up' } @{ $s->{redis}{workers} }), 0, 'no worker has Redis');
ok(defined $s->{handshakes}, 'the host counters are there');

my ($code, $h, $body) = main::status_get('?format=prometheus');
my ($v, undef, $err) = main::prom_parse($body);
is_deeply($err, [], 'valid exposition');
is($v->{kefu_redis_status_up}, 0, 'kefu_redis_status_up 0');
ok(!grep(/^kefu_(queue_length|conversations)\{/, keys %$v), 'no queue or conversation figures');
like($v->{'kefu_redis_up{worker="0",link="command"}'}, qr/^0$/, 'worker 0 command link down');
--- error_log
kefu: redis commands not available



=== TEST 5: the counters survive a reload; the new workers take the Redis slots
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
my $port = main::rport();
my $s0 = main::wait_redis();
for (1 .. 3) {
    my ($w) = kefu_connect(role => 'visitor', site => 'stat40', port => $port);
    $w->close_ws(1000, 'x');
    close $w->sock;
}
my $s1 = main::wait_connections(0);
is($s1->{handshakes} - $s0->{handshakes}, 3, 'three handshakes');
my %old = map { $_->{pid} => 1 } @{ $s1->{redis}{workers} };
is(scalar keys %old, 2, 'two workers');

kill 'HUP', nginx_pid();
my ($s2, @new);
for (1 .. 100) {
    sleep 0.1;
    $s2 = eval { main::status_json() } or next;
    @new = grep { $_->{command} eq 'up' && $_->{pubsub} eq 'up' && !$old{ $_->{pid} } }
           @{ $s2->{redis}{workers} };
    last if @new == 2 && @{ $s2->{redis}{workers} } == 2;
}
is(scalar @new, 2, 'two new workers, their Redis links up');
is(scalar @{ $s2->{redis}{workers} }, 2, 'the old ones are gone from the list');
is($s2->{handshakes}, $s1->{handshakes}, 'handshakes kept across the reload');
is($s2->{closes}{1000}, $s1->{closes}{1000}, 'close codes kept');
is($s2->{messages_in}, $s1->{messages_in}, 'messages kept');



=== TEST 6: a slow Redis: the status waits for it, up to kefu_redis's timeout; a client that leaves meanwhile is no trouble
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=60s;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
main::wait_redis();

# Redis stalled (SIGSTOP) until the request is in: the answer waits for it
my $read0 = main::requests_read();
main::stall();
my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => main::rport()) or die;
print $c "GET /status HTTP/1.0\r\nHost: x\r\n\r\n";
ok(main::wait_requests_read($read0 + 1), 'nginx read the request');
main::resume();
my $sel = IO::Select->new($c);
my $raw = '';
while ($sel->can_read(30)) { sysread($c, $raw, 65536, length $raw) or last }
my ($body) = $raw =~ /\r\n\r\n(.*)\z/s;
my $s = json_dec($body // '{}');
is($s->{redis}{state}, 'up', 'the answer waited for Redis: it has its figures');
ok(defined $s->{sites}{stat40}{conversations}, 'conversations');

# clients that leave while their answer waits for Redis
$read0 = main::requests_read();
main::stall();
my @c;
for (1 .. 4) {
    my $c = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => main::rport()) or die;
    print $c "GET /status HTTP/1.0\r\nHost: x\r\n\r\n";
    push @c, $c;
}
ok(main::wait_requests_read($read0 + 4), 'nginx read the four requests');
close $_ for @c;
main::resume();
is(main::status_json()->{redis}{state}, 'up', 'the next status is fine');
--- no_error_log
[emerg]



=== TEST 6b: Redis later than kefu_redis's timeout: the status comes without its figures
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_OWN_REDIS_PORT timeout=1s;
    kefu_site stat40 secret=stat40-secret-0123456789abcdef anonymous=on;
--- config
    location = /chat { kefu_chat; }
--- ws
main::wait_redis();
# stalled until the answer is in: it came by the timeout
main::stall();
my $s = eval { main::status_json() };
main::resume();
is($s->{redis}{state}, 'down', 'redis: down');
ok(exists $s->{sites}{stat40} && !defined $s->{sites}{stat40}{conversations}, 'conversations: null');
my $back = main::wait_redis();
is($back->{redis}{state}, 'up', 'Redis back');
ok($back->{redis}{failures} >= 1, 'the late command counted as failed');
ok($back->{redis}{reconnects} >= 1, 'and the reconnect');
--- no_error_log
[emerg]



=== TEST 7: no kefu_redis and no site: the status still has the host's counters
--- config
    location = /chat { kefu_chat; }
--- ws
my $port = main::rport();
my $s0 = main::status_json();
is($s0->{redis}{state}, 'none', 'redis: none');
ok(!exists $s0->{sites}, 'no sites');
ok($s0->{zone}{pages_total} > 0, 'the zone exists without sites');
my $w = ws_connect(port => $port);
$w->send_json({type => 'ping', id => 'x'});
is($w->recv_type('pong')->{id}, 'x', 'pong');
my ($c) = $w->close_ws(1000, 'bye');
close $w->sock;
my $s1 = main::wait_connections(0);
is($s1->{handshakes} - $s0->{handshakes}, 1, 'a handshake counted');
is($s1->{messages_in} - $s0->{messages_in}, 1, 'a message in');
is($s1->{messages_out} - $s0->{messages_out}, 1, 'a message out');
my ($code, $h, $body) = main::status_get('?format=prometheus');
my ($v, undef, $err) = main::prom_parse($body);
is_deeply($err, [], 'valid exposition');
ok(!grep(/^kefu_redis/, keys %$v), 'no Redis metrics');
is($v->{kefu_handshakes_total}, $s1->{handshakes}, 'same figures in both formats');
my ($st) = http_raw("GET /chat HTTP/1.1\r\nHost: x\r\n\r\n", port => $port);
is($st, 426, 'a plain GET on the chat');
is(main::status_json()->{handshake_failures} - $s1->{handshake_failures}, 1, 'counted as a handshake failure');



=== TEST 8: nginx -t: kefu_status takes no argument and wants a location of its own
--- config
    location = /chat { kefu_chat; }
--- ws
my $conf = sub { "events {}\nhttp {\n server {\n listen 127.0.0.1:1;\n location = /s {\n $_[0]\n }\n }\n}\n" };
my ($rc, $out) = nginx_t($conf->('kefu_status on;'));
isnt($rc, 0, 'an argument fails');
like($out, qr/invalid number of arguments in "kefu_status" directive/, 'named');
($rc, $out) = nginx_t($conf->('kefu_chat; kefu_status;'));
isnt($rc, 0, 'with kefu_chat in the same location fails');
like($out, qr/"kefu_status" directive is duplicate, or the location has another handler/, 'named');
($rc, $out) = nginx_t($conf->('kefu_status; allow 127.0.0.1; deny all;'));
is($rc, 0, 'a status location passes') or diag($out);
