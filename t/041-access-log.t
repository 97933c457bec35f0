# The access log line of a WebSocket session: written once, when the session
# ends (not at the 101), with the $kefu_* variables of the session and the
# usual request variables ($status 101, $request, $http_user_agent...).
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

workers(2);
master_on();

our $HTTP = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site stat41 secret=stat41-secret-0123456789abcdef anonymous=on default_group=g41;
    log_format kefu 'role=$kefu_role user=$kefu_user site=$kefu_site '
                    'group=$kefu_group session=$kefu_session '
                    'in=$kefu_messages_in out=$kefu_messages_out '
                    'close=$kefu_close_code by=$kefu_close_by '
                    'status=$status request="$request" uri=$uri args=$args '
                    'ua="$http_user_agent" xff="$http_x_forwarded_for" '
                    'host=$host bytes=$bytes_sent body=$body_bytes_sent '
                    'time=$request_time duration=$kefu_duration';
_EOC_

sub log_path { Test::Nginx::Socket::server_root() . "/logs/kefu.log" }

# the lines of the session log, waiting up to 5 s for at least n of them
sub log_lines {
    my ($n) = @_;
    my @l;
    for (1 .. 100) {
        if (open my $fh, '<', log_path()) {
            @l = <$fh>;
            close $fh;
        }
        last if @l >= $n;
        sleep 0.05;
    }
    chomp @l;
    return @l;
}

sub fields {
    my ($line) = @_;
    my %f;
    while ($line =~ /(\w+)=("([^"]*)"|(\S*))/g) {
        $f{$1} = defined $3 ? $3 : $4;
    }
    return \%f;
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', $main::HTTP . ($block->http_config // ''));
});

run_tests();

__DATA__

=== TEST 1: a visitor's session: one line at the end with its values
--- config
    location = /chat { kefu_chat; access_log logs/kefu.log kefu; }
--- ws
my $ws = ws_connect(path => '/chat?src=widget',
                    headers => ['User-Agent: KefuTest/1.0 (line 41)',
                                'X-Forwarded-For: 203.0.113.7']);
$ws->send_json({type => 'hello', role => 'visitor', site => 'stat41'});
my $welcome = $ws->recv_type('welcome');
my $got = 1;
for my $k (1 .. 3) {
    $ws->send_json({type => 'msg', cid => "c$k", text => "t$k"});
    $ws->recv_type('ack');
    $got++;
}
# the notices kept meanwhile, whatever came before the pong, and the pong
my @rest = $ws->until_pong;
$got += @rest + 1;
sleep 0.3;      # a session of at least 0.3 s

my @before = main::log_lines(0);
is(scalar @before, 0, 'nothing logged while the session is open');

my ($code) = $ws->close_ws(1000, 'done');
is($code, 1000, 'closed');
close $ws->sock;
# and what came after the pong, before the server's close frame (a
# notice of the new conversation that took longer, as on a cluster)
$got += grep { $_->{op} == 1 } @{ $ws->{before_close} || [] };

my @l = main::log_lines(1);
is(scalar @l, 1, 'one line for the session');
my $f = main::fields($l[0]);
is($f->{role}, 'visitor', 'role');
is($f->{user}, $welcome->{id}, 'user id');
is($f->{site}, 'stat41', 'site');
is($f->{group}, 'g41', "the visitor's group");
is($f->{session}, $welcome->{session}, 'session id as in welcome');
is($f->{in}, 5, 'messages in: hello, 3 msg, ping');
is($f->{out}, $got, 'messages out: what the client received');
is($f->{close}, 1000, 'close code');
is($f->{by}, 'client', 'closed by the client');
is($f->{status}, 101, '$status 101');
is($f->{request}, 'GET /chat?src=widget HTTP/1.1', '$request');
is($f->{uri}, '/chat', '$uri');
is($f->{args}, 'src=widget', '$args');
is($f->{ua}, 'KefuTest/1.0 (line 41)', '$http_user_agent');
is($f->{xff}, '203.0.113.7', '$http_x_forwarded_for');
is($f->{host}, 'localhost', '$host');
ok($f->{bytes} > $f->{body}, '$bytes_sent counts the 101 too');
ok($f->{body} > 50, '$body_bytes_sent: the frames');
like($f->{time}, qr/^\d+\.\d{3}$/, '$request_time');
ok($f->{time} >= 0.3, 'covers the session');
like($f->{duration}, qr/^\d+\.\d{3}$/, '$kefu_duration');



=== TEST 2: closed by the server, and before any hello
--- config
    location = /chat { kefu_chat; kefu_hello_timeout 300ms; access_log logs/kefu.log kefu; }
--- ws
my $a = ws_connect();
$a->send_json({type => 'hello', role => 'visitor', site => 'stat41', token => 'not.a.token'});
is($a->recv_type('error')->{code}, 'unauthorized', 'unauthorized');
my ($c1) = $a->recv_close;
is($c1, 4401, 'closed 4401');
close $a->sock;

my $b = ws_connect();
my ($c2) = $b->recv_close(30);
is($c2, 4401, 'hello timeout');
close $b->sock;

my @l = main::log_lines(2);
is(scalar @l, 2, 'two lines');
for my $f (map { main::fields($_) } @l) {
    is($f->{by}, 'server', 'closed by the server');
    is($f->{close}, 4401, 'close 4401');
    is($f->{session}, '-', 'no session');
    is($f->{user}, '-', 'no user');
    is($f->{status}, 101, 'status 101');
}
is(main::fields($l[0])->{in}, 1, 'the bad hello came in');
is(main::fields($l[1])->{in}, 0, 'nothing came in');



=== TEST 3: a connection that drops without a close frame; agents; refused handshakes log as usual
--- config
    location = /chat { kefu_chat; access_log logs/kefu.log kefu; }
--- ws
my $tok = jwt_hs256({sub => 'ag41', role => 'agent', site => 'stat41', exp => time + 600,
                     groups => ['g41'], capacity => 3}, 'stat41-secret-0123456789abcdef');
my $a = ws_connect();
$a->send_json({type => 'hello', role => 'agent', site => 'stat41', token => $tok});
is($a->recv_type('welcome')->{role}, 'agent', 'agent welcomed');
close $a->sock;

my ($st) = http_raw("GET /chat HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
is($st, 426, 'a plain GET is refused');

my @l = main::log_lines(2);
is(scalar @l, 2, 'two lines');
my ($ag) = grep { /role=agent/ } @l;
my ($http) = grep { /status=426/ } @l;
ok($ag, 'the agent session');
ok($http, 'the refused request, logged at once');
my $f = main::fields($ag // '');
is($f->{user}, 'ag41', 'agent id');
is($f->{group}, '-', 'no group for agents');
is($f->{by}, 'network', 'dropped without a close frame');
is($f->{close}, '-', 'no close code');
is(main::fields($http // '')->{role}, '-', 'no kefu values on a plain request');



=== TEST 4: access_log off, and the default format, still work
--- config
    location = /chat { kefu_chat; access_log off; }
    location = /chat2 { kefu_chat; access_log logs/kefu.log; }
--- ws
my $a = ws_connect();
$a->close_ws(1000, 'x');
# nginx hangs up once the session is over, its log line (if any) written
ok($a->expect_eof, 'the first session is over');
close $a->sock;
my $b = ws_connect(path => '/chat2', headers => ['User-Agent: Combined/2', 'Referer: http://shop.example/p/1']);
$b->close_ws(1000, 'x');
close $b->sock;
my @l = main::log_lines(1);
is(scalar @l, 1, 'one line: /chat logs nothing');
like($l[0], qr{^127\.0\.0\.1 - - \[[^\]]+\] "GET /chat2 HTTP/1\.1" 101 \d+ "http://shop\.example/p/1" "Combined/2"$},
     'combined format');



=== TEST 5: sessions closed by a reload are logged by the old worker, 1001 by the server
--- config
    location = /chat { kefu_chat; access_log logs/kefu.log kefu; }
--- ws
my @ws;
for (1 .. 3) {
    my $w = ws_connect();
    $w->send_json({type => 'hello', role => 'visitor', site => 'stat41'});
    $w->recv_type('welcome');
    push @ws, $w;
}
kill 'HUP', nginx_pid();
for my $w (@ws) {
    my ($c) = $w->recv_close(5);
    is($c, 1001, 'going away');
    close $w->sock;
}
my @l = main::log_lines(3);
is(scalar @l, 3, 'three lines');
for my $f (map { main::fields($_) } @l) {
    is($f->{close}, 1001, 'close 1001');
    is($f->{by}, 'server', 'by the server');
    is($f->{role}, 'visitor', 'a visitor');
    is($f->{in}, 1, 'its hello');
}
