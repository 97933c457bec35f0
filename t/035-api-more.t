# What docs/api.md promises beyond the everyday: assign and transfer to an
# unknown agent (404) or an offline one (409); a list that pages past the
# 2000 conversations one page scans.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;

our $S = 'shopm-secret-0123456789abcdef';

api_blocks(ready => '/kefu/api/sites/shopm/convs', http => <<'_EOC_', config => <<'_EOC_');
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shopm secret=shopm-secret-0123456789abcdef anonymous=on grace=0 default_group=ma;
_EOC_
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
_EOC_

# lists and agents of its own: a site of this run's own
our $SHOP = site_of_run('shopm');
$Kefu::API::Token = api_token(secret => $S, site => $SHOP);

run_tests();

__DATA__

=== TEST 1: assign and transfer to an unknown agent: 404; to an offline one: 409; nothing changes
--- ws
my $r = int rand 1e6;
my $t = jwt_hs256({sub => "off$r", role => 'agent', site => 'shopm', exp => time + 600, groups => ["mg$r"]}, $main::S);
my ($a, $aw) = kefu_connect(role => 'agent', site => 'shopm', token => $t);
is($aw->{type}, 'welcome', 'an agent connects');
close $a->sock;
# grace=0: offline as soon as its connection is gone
my $state = '';
for (1 .. 400) {
    my (undef, $j) = api(GET => '/kefu/api/sites/shopm/agents');
    ($state) = map { $_->{state} } grep { $_->{id} eq "off$r" } @{ $j->{agents} || [] };
    last if ($state // '') eq 'offline';
    sleep 0.05;
}
is($state, 'offline', 'and is offline once it left');

my ($v, $w) = kefu_connect(role => 'visitor', site => 'shopm', group => "mq$r");
$v->send_json({type => 'msg', cid => 'q', text => 'anyone?'});
my $conv = $v->recv_type('ack')->{conv};
my $A = "/kefu/api/sites/shopm/convs/$conv";
my ($st, $j) = api(POST => "$A/assign", {agent => "nobody$r"});
is($st, 404, 'assign to an unknown agent: 404');
is($j->{error}{code}, 'not_found', '... not_found');
($st, $j) = api(POST => "$A/assign", {agent => "off$r"});
is($st, 409, 'assign to an offline agent: 409');
is($j->{error}{code}, 'conflict', '... conflict');
# transfer needs an open conversation: give it to an online agent first
my $t2 = jwt_hs256({sub => "on$r", role => 'agent', site => 'shopm', exp => time + 600, groups => ["mg$r"]}, $main::S);
my ($b) = kefu_connect(role => 'agent', site => 'shopm', token => $t2, status => 'online');
($st, $j) = api(POST => "$A/assign", {agent => "on$r"});
is($st, 200, 'assigned to an online agent');
($st, $j) = api(POST => "$A/transfer", {agent => "nobody$r"});
is($st, 404, 'transfer to an unknown agent: 404');
is($j->{error}{code}, 'not_found', '... not_found');
($st, $j) = api(POST => "$A/transfer", {agent => "off$r"});
is($st, 409, 'transfer to an offline agent: 409');
is($j->{error}{code}, 'conflict', '... conflict');
($st, $j) = api(GET => $A);
is($j->{agent}, "on$r", 'the conversation stayed with its agent');



=== TEST 2: a selective filter past the 2000 conversations a page scans: follow next, find every one once
--- ws
my $r = int rand 1e6;
my @rare;
my $post = sub {
    my ($group, $n) = @_;
    my ($st, $j) = api(POST => "/kefu/api/sites/shopm/visitors/v$r-$n/messages",
                       {cid => "c$r-$n", text => 'hi', group => $group, from => {role => 'bot', id => 'b'}});
    die "conversation $n: $st\n" unless $st == 201;
    return $j->{conv};
};
push @rare, $post->("rare$r", "r$_") for 1 .. 3;
my @mine = (@rare, map { $post->("common$r", $_) } 1 .. 2050);

my (%seen, $pages, $empty, $cursor);
for (1 .. 100) {
    my ($st, $j) = api(GET => "/kefu/api/sites/shopm/convs?group=rare$r&limit=10" . ($cursor ? "&cursor=$cursor" : ''));
    is($st, 200, 'a page') unless $st == 200;
    $pages++;
    $empty++ unless @{ $j->{convs} };
    $seen{$_->{conv}}++ for @{ $j->{convs} };
    $cursor = $j->{next} or last;
}
ok(!$cursor, 'next ends at null');
ok($pages > 1, "more than one page was needed ($pages)");
ok($empty, 'a page scanned 2000 others and came back short, with a next');
is_deeply([sort keys %seen], [sort @rare], 'every conversation of the filter, found past them');
is(scalar(grep { $_ > 1 } values %seen), 0, 'each once');

# without a filter: pages of 200 cover all of this run's 2053 once
my (%all, $c2);
for (1 .. 100) {
    my ($st, $j) = api(GET => '/kefu/api/sites/shopm/convs?limit=200' . ($c2 ? "&cursor=$c2" : ''));
    die "list: $st\n" unless $st == 200;
    $all{$_->{conv}}++ for @{ $j->{convs} };
    $c2 = $j->{next} or last;
}
is(scalar(grep { !$all{$_} } @mine), 0, "the whole list has this block's 2053 conversations");
is(scalar(grep { $_ > 1 } values %all), 0, 'none twice');
--- timeout: 120
