# docs/deploy.md's Redis recipes, on a Redis of this file's own that
# demands a password (requirepass) and has an ACL user limited to the
# module's keys and channels: the module signs in with kefu_redis
# password= and with user= password=, and chats (a message stored, routed
# to an agent over pub/sub, answered); a wrong password is refused, logged,
# and answered "unavailable" without losing the connection; nginx -t names
# the directive for a user without a password.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route qw(agent_token wait_for uniq_group);
use File::Temp qw(tempdir);
use IO::Socket::INET;

workers(2);
master_on();

our $RDIR = tempdir(CLEANUP => 1);
our $RPORT = do {
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1', LocalPort => 0, Listen => 1);
    my $p = $s->sockport; close $s; $p;
};
$ENV{TEST_NGINX_AUTH_REDIS_PORT} = $RPORT;

# the recipe's redis.conf lines, as docs/deploy.md gives them
open my $rc, '>', "$RDIR/redis.conf" or die $!;
print $rc <<"EOC";
port $RPORT
bind 127.0.0.1
dir $RDIR
appendonly yes
save ""
daemonize yes
logfile $RDIR/redis.log
pidfile $RDIR/redis.pid
requirepass default-pass-0123456789
user kefu on >kefu-pass-0123456789 ~kefu:* &kefu:* +\@all -\@dangerous
EOC
close $rc;
system("redis-server $RDIR/redis.conf") == 0 or die "redis-server: $?";

# one command as the default user
sub rcli { my $o = `redis-cli -p $RPORT -a default-pass-0123456789 --no-auth-warning @_ 2>&1`; chomp $o; $o }
for (1 .. 100) { last if rcli('PING') eq 'PONG'; sleep 0.05 }
END { rcli('SHUTDOWN', 'NOSAVE') if $RPORT }

# a full chat through the module, on whatever Redis its configuration names
sub chat_works {
    my ($label) = @_;
    my $group = uniq_group('auth');
    my ($agent, $aw) = kefu_connect(role => 'agent', site => 'shop1', status => 'online',
                                    token => agent_token("agent-$group", groups => [$group]));
    is($aw->{type}, 'welcome', "$label: an agent signs in");
    ok(wait_for($agent, sub { $_[0]{type} eq 'presence' }), "$label: and is online");
    my ($v) = kefu_connect(role => 'visitor', site => 'shop1', group => $group);
    $v->send_json({type => 'msg', cid => 'c1', text => 'hello through auth'});
    my $ack = wait_for($v, sub { $_[0]{type} =~ /^(ack|error)$/ });
    is($ack && $ack->{type}, 'ack', "$label: the message is stored");
    my $m = wait_for($agent, sub { $_[0]{type} eq 'msg' });
    is($m && $m->{text}, 'hello through auth', "$label: routed and delivered to the agent");
    $agent->send_json({type => 'msg', cid => 'a1', conv => $ack->{conv}, text => 'hi back'});
    $m = wait_for($v, sub { $_[0]{type} eq 'msg' && $_[0]{from}{role} eq 'agent' });
    is($m && $m->{text}, 'hi back', "$label: the answer reaches the visitor");
    return $ack->{conv};
}

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('config', "    location = /chat { kefu_chat; }\n");
});

run_tests();

__DATA__

=== TEST 1: requirepass: kefu_redis password= signs in, and the chat works
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_AUTH_REDIS_PORT password=default-pass-0123456789;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- ws
# the workers' links are ready once they have signed in
for (1 .. 100) {
    last if `cat $ENV{TEST_NGINX_SERVROOT}/logs/error.log` =~ /redis \S+ connection ready/;
    sleep 0.05;
}
my $conv = chat_works('requirepass');
like(main::rcli('--scan', '--pattern', "'kefu:*'"), qr/\Q$conv\E/,
     'the conversation is in the password-protected Redis');
--- no_error_log
refused the handshake



=== TEST 2: an ACL user: kefu_redis user= password= signs in as it (AUTH user password), limited to kefu:* keys and channels
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_AUTH_REDIS_PORT user=kefu password=kefu-pass-0123456789;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- ws
for (1 .. 100) {
    last if `cat $ENV{TEST_NGINX_SERVROOT}/logs/error.log` =~ /redis \S+ connection ready/;
    sleep 0.05;
}
chat_works('ACL user');
my $clients = main::rcli('CLIENT', 'LIST');
like($clients, qr/\buser=kefu\b/, 'Redis sees the connections as user kefu');
unlike(join("\n", grep { /\bname=|\bcmd=/ && !/cmd=client/ } split /\n/, $clients),
       qr/\buser=default\b/, 'and none as the default user');
--- no_error_log
refused the handshake
NOPERM



=== TEST 3: a wrong password is refused and logged; clients are told "unavailable" and stay connected
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_AUTH_REDIS_PORT user=kefu password=wrong-pass-0123456789;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on;
--- ws
for (1 .. 100) {
    last if `cat $ENV{TEST_NGINX_SERVROOT}/logs/error.log` =~ /refused the handshake/;
    sleep 0.05;
}
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1');
is($w->{type}, 'error', 'a visitor cannot start without its Redis');
is($w->{code}, 'unavailable', 'and is told it is unavailable, not unauthorized');
$v->send_json({type => 'ping', id => 'p'});
my $pong = $v->recv_type('pong');
is($pong && $pong->{id}, 'p', 'the connection stays open');
--- error_log eval
[qr/kefu: redis \S+ refused the handshake: WRONGPASS/]



=== TEST 4: nginx -t names the directive: a user needs a password, neither may be empty
--- ws
my $conf = sub { "events {}\nhttp {\n kefu_redis 127.0.0.1:6379 $_[0];\n}\n" };
for my $c (['user=kefu', qr/"kefu_redis" directive has user= without password=/],
           ['user= password=x', qr/"kefu_redis" directive has an empty user=/],
           ['password=', qr/"kefu_redis" directive has an empty password=/]) {
    my ($rc, $out) = nginx_t($conf->($c->[0]));
    isnt($rc, 0, "$c->[0] fails nginx -t");
    like($out, $c->[1], "$c->[0]: the message names the directive");
}
my ($rc, $out) = nginx_t($conf->('user=kefu password=kefu-pass db=2'));
is($rc, 0, 'user= with password= passes') or diag($out);
