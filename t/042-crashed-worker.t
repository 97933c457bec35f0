# A worker that crashes (here: SIGKILL) leaves its sessions in the shared
# zone; the worker that replaces it removes them (docs/storage.md,
# docs/status.md); the other worker's clients are not disturbed.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

workers(2);
master_on();
worker_connections(1024);

free_port('TEST_NGINX_REUSEPORT_PORT');

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop42 secret=shop42-secret-0123456789abcdef anonymous=on;\n"
        . "server { listen 127.0.0.1:\$TEST_NGINX_REUSEPORT_PORT reuseport;\n"
        . "  location = /chat { kefu_chat; }\n"
        . "  location = /status { kefu_status; } }\n");
    $block->set_value('config', "location = /chat { kefu_chat; }\n");
});

sub status {
    my ($code, $h, $body) = http_raw("GET /status HTTP/1.0\r\nHost: x\r\n\r\n",
                                     port => $ENV{TEST_NGINX_REUSEPORT_PORT});
    die "status: $code\n" unless $code == 200;
    return json_dec($body);
}

run_tests();

__DATA__

=== TEST 1: the sessions of a worker killed by SIGKILL are removed from the zone by its replacement
--- worker_killed
--- ws
my $log = server_root() . '/logs/error.log';
my (%pid_of, @ws);
# visitors until both workers hold some (reuseport spreads them)
for (1 .. 60) {
    my ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop42', port => $ENV{TEST_NGINX_REUSEPORT_PORT});
    push @ws, [$ws, $w->{id}];
    open my $fh, '<', $log or die $!;
    %pid_of = map { /\[info\] (\d+)#.*visitor "(v_\w+)" of site "shop42" authenticated/ ? ($2 => $1) : () } <$fh>;
    my %n;
    $n{$_}++ for values %pid_of;
    last if @ws >= 6 && keys %n >= 2 && keys %pid_of == @ws;
}
my %by;
push @{ $by{ $pid_of{ $_->[1] } } }, $_->[0] for @ws;
is(scalar keys %by, 2, 'sessions on both workers');
is(status()->{zone}{sessions}, scalar @ws, 'all of them in the zone');

my ($victim, $survivor) = sort { @{ $by{$b} } <=> @{ $by{$a} } } keys %by;
kill 'KILL', $victim;
ok($_->expect_eof(30), 'a client of the killed worker loses its connection') for @{ $by{$victim} };
# the replacement cleans up: poll the zone until it holds only the survivor's
my $left;
for (1 .. 600) {
    $left = eval { status()->{zone}{sessions} };
    last if defined $left && $left == @{ $by{$survivor} };
    sleep 0.05;
}
is($left, scalar @{ $by{$survivor} }, "the zone holds only the other worker's sessions");
for my $ws (@{ $by{$survivor} }) {
    $ws->send_json({type => 'ping', id => 'alive'});
    is($ws->recv_type('pong')->{id}, 'alive', "the other worker's clients are not disturbed");
}
my ($new, $hw) = kefu_connect(role => 'visitor', site => 'shop42', port => $ENV{TEST_NGINX_REUSEPORT_PORT});
# the replacement may still be bringing its Redis links up (on a cluster,
# a link a master and its id node): what was answered unavailable is sent
# again, as a client does, the hello until the welcome (the connection
# stays open), then the message until the ack
for (1 .. 100) {
    last unless $hw && ($hw->{code} // '') eq 'unavailable';
    sleep 0.1;
    $new->send_json({type => 'hello', role => 'visitor', site => 'shop42'});
    $hw = $new->wait_for(sub { $_[0]{type} eq 'welcome' || $_[0]{type} eq 'error' });
}
is($hw && $hw->{type}, 'welcome', "the replacement's hello is answered");
my $got;
for (1 .. 100) {
    $new->send_json({type => 'msg', cid => 'c1', text => 'after the crash'});
    $got = $new->wait_for(sub { ($_[0]{cid} // '') eq 'c1' });
    last unless $got && ($got->{code} // '') eq 'unavailable';
    sleep 0.1;
}
is($got && $got->{type}, 'ack', 'new visitors are served');
--- error_log eval
[qr/worker process \d+ exited on signal 9/]
