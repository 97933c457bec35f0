# Reload and shutdown: a worker told to exit sends its WebSocket clients
# close 1001 at once, so they reconnect to the new workers.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

workers(2);
master_on();

run_tests();

__DATA__

=== TEST 1: nginx -s reload: every client gets 1001 promptly, new connections work
--- config
    location = /chat { kefu_chat; kefu_hello_timeout 1h; }
--- ws
my @ws = map { ws_connect() } 1 .. 6;
$_->send_json({type => 'ping', id => 'before'}) for @ws;
is($_->recv_json->{id}, 'before', 'connected') for @ws;
kill 'HUP', nginx_pid();
# promptly: the clients' hello timeout is an hour
for my $ws (@ws) {
    my ($code, $reason) = $ws->recv_close(30);
    is($code, 1001, 'going away');
    is($reason, 'server shutting down', 'reason says why');
    ok($ws->expect_eof, 'and the old worker closes the connection');
}
# An old worker that has not yet seen the signal may still accept a
# connection and then close it (1001, or before the upgrade); a client
# reconnects then, as these did.  Each such attempt must end that way.
my ($served, @lost);
for (1 .. 20) {
    my $ws = eval { ws_connect() };
    if (!$ws) { push @lost, "handshake: $@"; next }
    $ws->send_json({type => 'ping', id => 'after'});
    my $m = $ws->recv_json(30);
    if ($m && ($m->{id} // '') eq 'after') { $served = 1; last }
    push @lost, $m && $m->{_close} ? "close $m->{_close}[0]" : 'eof';
}
ok($served, 'the new workers serve');
is_deeply([grep { !/^(close 1001|eof|handshake: .*)$/ } @lost], [],
          'a connection an old worker took was closed as shutting down');
--- no_error_log
[alert]
[crit]
open socket



=== TEST 2: graceful stop (QUIT) also closes clients with 1001 and the master exits
--- config
    location = /chat { kefu_chat; kefu_hello_timeout 1h; }
--- ws
my @ws = map { ws_connect() } 1 .. 3;
$_->send_json({type => 'ping'}) for @ws;
$_->recv_json for @ws;
my $pid = nginx_pid();
kill 'QUIT', $pid;
for my $ws (@ws) {
    my ($code) = $ws->recv_close(30);
    is($code, 1001, 'going away on quit');
    # as a browser does: answer the close and hang up
    $ws->send_frame(8, ws_close_payload(1001));
    close $ws->sock;
}
# an exiting master removes its pid file (it is our child: a zombie after)
my $gone = 0;
for (1 .. 600) { if (!defined nginx_pid()) { $gone = 1; last } sleep 0.05 }
ok($gone, 'the master exited');
--- no_error_log
[alert]
[crit]
