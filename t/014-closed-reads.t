# Closed conversations stay readable (contract v2, "Clarifications"): by
# their visitor on any later connection (welcome.convs, history, resume,
# rate), by the agent who closed one and by admins; an agent who
# transferred one away, another visitor, another site: forbidden.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Route;

add_block_preprocessor(sub {
    my $block = shift;
    $block->set_value('http_config', "kefu_redis 127.0.0.1:\$TEST_NGINX_REDIS_PORT;\n"
        . "kefu_site shop1 secret=$Kefu::Route::SECRET anonymous=on capacity=2;\n"
        . "kefu_site shop2 secret=shop2-secret-fedcba9876543210;\n");
    $block->set_value('config', "location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }\n");
});

sub err_of {
    my ($ws, $msg) = @_;
    $ws->send_json($msg);
    return wait_for($ws, sub { $_[0]{type} eq 'error' && ($_[0]{cid} // '') eq ($msg->{cid} // '') });
}

sub history_of {
    my ($ws, $conv, $cid) = @_;
    $ws->send_json({type => 'history', conv => $conv, cid => $cid});
    return wait_for($ws, sub { $_[0]{type} eq 'history' || ($_[0]{type} eq 'error' && ($_[0]{cid} // '') eq $cid) });
}

run_tests();

__DATA__

=== TEST 1: the visitor reads its closed conversation on a later connection, and rates it
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ca$r", groups => [$g], status => 'online', name => 'Ann');
my ($v, $vw, $ack) = visitor($g, text => 'where is my parcel?');
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open');
$a->send_json({type => 'msg', conv => $c, cid => 'a1', text => 'it ships today'});
wait_for($a, sub { $_[0]{type} eq 'ack' });
$a->send_json({type => 'close', conv => $c, cid => 'a2'});
wait_conv($v, $c, state => 'closed');
$v->close_ws(1000, 'bye');

my ($v2, $w2) = kefu_connect(role => 'visitor', site => 'shop1', token => $vw->{token});
is($w2->{type}, 'welcome', 'the visitor comes back');
my ($sum) = grep { $_->{conv} eq $c } @{ $w2->{convs} };
ok($sum, 'welcome.convs lists the closed conversation');
is($sum->{state}, 'closed', '... as closed');
ok($sum->{unread} >= 1, '... with the unread answer counted');
my $h = history_of($v2, $c, 'h1');
is($h->{type}, 'history', 'history of the closed conversation is answered');
my @texts = map { $_->{text} // '' } @{ $h->{msgs} };
ok((grep { $_ eq 'where is my parcel?' } @texts), 'with the question');
ok((grep { $_ eq 'it ships today' } @texts), 'and the answer');
ok((grep { ($_->{event} // '') eq 'closed' } @{ $h->{msgs} }), 'and the close');
$v2->send_json({type => 'rate', conv => $c, score => 5, cid => 'r1'});
my $rated = wait_conv($v2, $c, state => 'closed');
is($rated->{rating}{score}, 5, 'and rates it from the later connection');
$v2->close_ws(1000, 'bye');

my ($v3, $w3) = kefu_connect(role => 'visitor', site => 'shop1', token => $vw->{token},
                             resume => {$c => 1});
is($w3->{type}, 'welcome', 'a resuming connection');
my $re = wait_for($v3, sub { $_[0]{type} eq 'msg' && ($_[0]{text} // '') eq 'it ships today' });
ok($re, 'resume replays the closed conversation after the given seq');

my ($x) = kefu_connect(role => 'visitor', site => 'shop1');
is(history_of($x, $c, 'hx')->{code}, 'forbidden', "another visitor cannot read it");
is(history_of($x, '123456789', 'hy')->{code}, 'forbidden', 'nor a conversation that does not exist');

my ($a2) = agent("ca$r", groups => [$g]);
is(history_of($a2, $c, 'ha')->{type}, 'history', 'the agent who closed it reads it on a new connection');
my ($adm) = agent("adm$r", role => 'admin');
is(history_of($adm, $c, 'hm')->{type}, 'history', 'so does an admin');
my ($o) = kefu_connect(role => 'admin', site => 'shop2',
                       token => agent_token("o$r", role => 'admin', site => 'shop2',
                                            secret => 'shop2-secret-fedcba9876543210'));
is(history_of($o, $c, 'ho')->{code}, 'forbidden', "another site's admin cannot");
my ($other) = agent("cb$r", groups => [$g]);
is(history_of($other, $c, 'hb')->{code}, 'forbidden', 'an agent it never was with cannot');
--- timeout: 30



=== TEST 2: an agent who transferred a conversation away no longer reads it, the taker does after closing
--- ws
my $g = uniq_group();
my $r = int rand 1e6;
my ($a) = agent("ta$r", groups => [$g], status => 'online');
my ($b) = agent("tb$r", groups => [$g]);
my ($v, $vw, $ack) = visitor($g, text => 'hello');
my $c = $ack->{conv};
wait_conv($a, $c, state => 'open');
$a->send_json({type => 'transfer', conv => $c, agent => "tb$r", cid => 't1'});
wait_conv($b, $c, state => 'open', agent => "tb$r");
$b->send_json({type => 'close', conv => $c, cid => 't2'});
wait_conv($v, $c, state => 'closed');
my ($a2) = agent("ta$r", groups => [$g]);
is(history_of($a2, $c, 'h1')->{code}, 'forbidden', 'the giver cannot read it');
my ($b2) = agent("tb$r", groups => [$g]);
is(history_of($b2, $c, 'h2')->{type}, 'history', 'the agent who closed it can');
--- timeout: 30
