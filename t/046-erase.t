# A visitor's data on request: the HTTP API exports everything stored about
# one visitor as JSON, and erases it (conversations, messages, attributes,
# pages, ratings, contact, attachments and their files), closing the
# visitor's connections on every host; the event stream says
# visitor.erased without content.  Two nginx hosts share one Redis.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Lua qw(lua_script);
use Kefu::Upload;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);

our $S1 = 'shop1-secret-0123456789abcdef';

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=am;
    kefu_site shop2 secret=shop2-secret-0123456789abcdef anonymous=on;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location /files/ { kefu_upload; }
_EOC_

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');
$Kefu::Upload::Path = '/files/';

our $DIR = $ENV{TEST_NGINX_UPLOAD_DIR};

sub stored { my ($sha) = @_; return "$DIR/shop1/" . substr($sha, 0, 2) . "/$sha" }

# a second nginx host on the same Redis, with the same sites
sub host2 {
    return start_host(<<"_EOC_", "location /kefu/api/ { kefu_api; }\n location /files/ { kefu_upload; }");
    kefu_redis 127.0.0.1:$ENV{TEST_NGINX_REDIS_PORT};
    kefu_site shop1 secret=$main::S1 anonymous=on default_group=am;
    kefu_upload_path $main::DIR;
_EOC_
}

# every key of the tests' Redis whose name holds the string
sub keys_with {
    my ($s) = @_;
    (my $p = $s) =~ s/([*?\[\]\\{}])/\\$1/g;
    return sort @{ redis('KEYS', "*$p*") || [] };
}

# a search (admin token) until the answer satisfies the predicate: the
# index is written right after a message is stored.  The answer, or undef
sub search_until {
    my ($q, $pred) = @_;
    for (1 .. 100) {
        my ($st, $j) = api(GET => "/kefu/api/sites/shop1/search?q=$q");
        return $j if $st == 200 && $pred->($j);
        select undef, undef, undef, 0.1;
    }
    return undef;
}

# the connection is still open: a ping is answered, and nothing closed it before
sub still_open {
    my ($ws) = @_;
    my @before = eval { $ws->until_pong };
    return !$@ && !grep { ref $_ eq 'HASH' && $_->{_close} } @before;
}

# a visitor with a history: attrs and a page at hello, a first
# conversation with an agent, closed and rated, contact details, a second
# one still open.  Returns ($v, $welcome, $agent_ws, $closed_conv, $open_conv)
sub history {
    my ($g, %o) = @_;
    my ($a) = agent("er-$g", groups => [$g], status => 'online', name => 'Ann', %{ $o{agent} || {} });
    my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g, name => 'Li Lei',
                               attrs => {plan => 'gold', orders => 3},
                               page => {url => 'https://shop.example/cart', title => 'Cart'});
    die "visitor: $w->{type}\n" unless $w->{type} eq 'welcome';
    $v->send_json({type => 'msg', cid => 'c1', text => 'where is my order?'});
    my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
    my $c1 = $ack->{conv};
    wait_conv($a, $c1, state => 'open') or die "not assigned\n";
    $a->send_json({type => 'msg', cid => 'a1', conv => $c1, text => 'it shipped today'});
    wait_for($a, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'a1' }) or die "no agent ack\n";
    $a->send_json({type => 'close', conv => $c1});
    wait_conv($v, $c1, state => 'closed') or die "not closed\n";
    $v->send_json({type => 'rate', conv => $c1, score => 5, comment => 'quick, thanks'});
    wait_for($v, sub { $_[0]{type} eq 'conv' && $_[0]{rating} }) or die "not rated\n";
    $v->send_json({type => 'contact', email => 'lilei@example.com', phone => '+86 10 1234'});
    wait_for($v, sub { $_[0]{type} eq 'contact' }) or die "no contact answer\n";
    $v->send_json({type => 'page', url => 'https://shop.example/orders/77', title => 'Order 77'});
    $v->send_json({type => 'msg', cid => 'c2', text => 'one more thing'});
    $ack = wait_for($v, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'c2' }) or die "no ack 2\n";
    my $c2 = $ack->{conv};
    wait_conv($a, $c2, state => 'open') or die "second not assigned\n";
    return ($v, $w, $a, $c1, $c2);
}


run_tests();

__DATA__

=== TEST 1: export: the visitor, its pages, its conversations with every message, the rating, the contact
--- ws
my $g = uniq_group('ex');
my ($v, $w, $a, $c1, $c2) = main::history($g);
my $id = $w->{id};
my ($st, $j) = api(GET => "/kefu/api/sites/shop1/visitors/$id/export");
is($st, 200, 'exported');
is($j->{site}, 'shop1', 'the site');
is($j->{visitor}{id}, $id, 'the visitor');
is($j->{visitor}{name}, 'Li Lei', 'its name');
is_deeply($j->{visitor}{attrs}, {plan => 'gold', orders => 3}, 'its attributes');
is($j->{visitor}{contact}{email}, 'lilei@example.com', 'its contact details');
is_deeply([map { $_->{url} } @{ $j->{pages} }],
          ['https://shop.example/cart', 'https://shop.example/orders/77'], 'its page trail, oldest first');
is_deeply([map { $_->{conv} } @{ $j->{conversations} }], [$c1, $c2], 'both conversations, oldest first');
my ($x1, $x2) = @{ $j->{conversations} };
is($x1->{state}, 'closed', 'the first is closed');
is($x1->{score}, 5, 'rated 5');
is($x1->{comment}, 'quick, thanks', 'with the comment');
is($x1->{agent}, "er-$g", 'its agent');
my @texts = map { $_->{text} // '' } @{ $x1->{messages} };
ok((grep { $_ eq 'where is my order?' } @texts), 'the visitor\'s message');
ok((grep { $_ eq 'it shipped today' } @texts), 'the agent\'s answer');
ok(scalar(grep { ($_->{event} // '') eq 'closed' } @{ $x1->{messages} }), 'the system entries too');
ok(scalar(@{ $x1->{assignments} }) >= 2, 'who had it when');
is($x2->{state}, 'open', 'the second is open');
is($x2->{messages}[0]{text}, 'one more thing', 'with its message');
is(ref $j->{attachments}, 'ARRAY', 'attachments: none');

# who may ask
my $vt = api_token(secret => $main::S1, site => 'shop1', role => 'visitor', sub => $id);
($st, $j) = api(GET => "/kefu/api/sites/shop1/visitors/$id/export", undef, token => $vt);
is($st, 403, 'a visitor token: 403');
is($j->{error}{code}, 'forbidden', 'forbidden');
($st, $j) = api(GET => "/kefu/api/sites/shop1/visitors/$id/export", undef, token => agent_token("er-$g"));
is($st, 403, 'an agent token: 403');
($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$id", undef, token => agent_token("er-$g"));
is($st, 403, 'an agent token may not erase: 403');
($st) = api(GET => "/kefu/api/sites/shop1/visitors/$id/export", undef, token => undef);
is($st, 401, 'no token: 401');
($st, $j) = api(GET => "/kefu/api/sites/shop2/visitors/$id/export", undef,
                token => api_token(secret => 'shop2-secret-0123456789abcdef', site => 'shop2'));
is($st, 404, 'another site knows nothing of it: 404');
is($j->{error}{code}, 'not_found', 'not_found');
($st, $j) = api(GET => "/kefu/api/sites/shop1/visitors/nobody-$g/export");
is($st, 404, 'an unknown visitor: 404');
($st, $j) = api(POST => "/kefu/api/sites/shop1/visitors/$id/export", {});
is($st, 405, 'POST: 405');
($st, $j, my $h) = api(PUT => "/kefu/api/sites/shop1/visitors/$id", {});
is($st, 405, 'PUT on the visitor: 405');
is($h->{allow}, 'DELETE', 'Allow: DELETE');



=== TEST 2: erase while connected on two hosts: every connection closed, the conversations and the visitor's keys gone, visitor.erased on the stream
--- ws
my ($port2, $stop) = main::host2();
my $ok = eval {
    my $g = uniq_group('er');
    my ($v, $w, $a, $c1, $c2) = main::history($g);
    my $id = $w->{id};
    # the same visitor in a tab on the other host
    my ($v2, $w2) = kefu_connect(port => $port2, role => 'visitor', site => 'shop1', token => $w->{token});
    is($w2->{type}, 'welcome', 'a second tab on host 2');
    my @k = main::keys_with($id);
    ok(scalar @k, 'the visitor has keys');
    @k = main::keys_with("{c:$c1}");
    ok(scalar @k, 'so has its conversation');
    # the search index holds its messages and finds it by name
    my $found = main::search_until('shipped', sub { grep { $_->{conv} eq $c1 } @{ $_[0]{hits} || [] } });
    ok($found, 'search finds the first conversation by a message');
    my @hits = main::keys_with(":ix:m:$c1:");
    ok(scalar @hits, 'its hits are stored');
    ok(main::search_until('lei', sub { grep { $_->{id} eq $id } @{ $_[0]{visitors} || [] } }),
       'search finds the visitor by name');
    my $last = redis('XREVRANGE', 'kefu:{s:shop1}:events', '+', '-', 'COUNT', 1)->[0][0];

    my ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$id", undef, port => $port2);
    is($st, 200, 'erased (asked on host 2): 200');
    is($j->{visitor}, $id, 'that visitor');
    is($j->{convs}, 2, 'two conversations');

    for ([$v, 'host 1'], [$v2, 'host 2']) {
        my ($ws, $where) = @$_;
        my ($code, $reason) = $ws->recv_close(10);
        is($code, 4403, "the tab on $where is closed with 4403");
        is($reason, 'visitor erased', 'reason: visitor erased');
    }

    # the open one was closed first: the agent is told and its load released
    ok(wait_conv($a, $c2, state => 'closed'), 'the agent hears the open conversation closed');

    is_deeply([main::keys_with($id)], [], 'no key names the visitor any more');
    is_deeply([main::keys_with(":ix:m:$_:")], [], "no search hit of $_ is left") for $c1, $c2;
    my ($sst, $sj) = api(GET => "/kefu/api/sites/shop1/search?q=shipped");
    ok(!grep({ $_->{conv} eq $c1 } @{ $sj->{hits} || [] }), 'search finds its messages no more');
    ($sst, $sj) = api(GET => "/kefu/api/sites/shop1/search?q=lei");
    ok(!grep({ ($_->{id} // '') eq $id } @{ $sj->{visitors} || [] }), 'nor the visitor');
    is_deeply([main::keys_with("{c:$c1}")], [], 'nothing of the first conversation');
    is_deeply([main::keys_with("{c:$c2}")], [], 'nothing of the second');
    ok(!defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $_), "$_ left the site's list") for $c1, $c2;
    ok(!defined redis('ZSCORE', "kefu:{s:shop1}:a:er-$g:convs", $_), "and the agent's") for $c1, $c2;
    is(redis('HGET', "kefu:{s:shop1}:a:er-$g", 'load'), 0, 'the agent carries no load');

    my $es = redis('XRANGE', 'kefu:{s:shop1}:events', "($last", '+');
    my @erased = grep { my %f = @{ $_->[1] }; $f{event} eq 'visitor.erased' } @$es;
    is(scalar @erased, 1, 'one visitor.erased entry');
    my %f = @{ $erased[0][1] };
    is($f{conv}, '', 'with no conversation');
    my $d = Kefu::WS::json_dec($f{data});
    is($d->{visitor}, $id, 'naming the visitor');
    is($d->{convs}, 2, 'and how many conversations went');
    is_deeply([sort keys %$d], [qw(by convs visitor)], 'and nothing of the content');

    ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$id");
    is($st, 404, 'erased again: 404, nothing is stored');
    ($st) = api(GET => "/kefu/api/sites/shop1/visitors/$id/export");
    is($st, 404, 'nothing to export');
    ($st) = api(GET => "/kefu/api/sites/shop1/convs/$c1");
    is($st, 404, 'the conversation is gone from the API');
    1;
};
$stop->();
die $@ unless $ok;



=== TEST 3: attachments: the files go from disk with the conversation, a file another conversation holds stays
--- ws
my $g = uniq_group('ea');
my ($a) = agent("ea-$g", groups => [$g], status => 'online');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
my $mine = png(64, 64, 500);
my $shared = pdf() . "% $g\n";
my @att;
for ([$mine, 'mine.png'], [$shared, 'shared.pdf']) {
    my ($st, $j) = upload(token => $w->{token}, name => $_->[1], data => $_->[0]);
    is($st, 201, "$_->[1] uploaded");
    push @att, $j->{attachment};
}
$v->send_json({type => 'msg', cid => "m$_", text => '', attachment => $att[$_]}) for 0, 1;
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' && $_[0]{cid} eq 'm1' }) or die "no ack\n";
my $conv = $ack->{conv};

# another visitor sends the same PDF: its conversation holds it too
my ($o, $ow) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
my ($st, $j) = upload(token => $ow->{token}, name => 'same.pdf', data => $shared);
$o->send_json({type => 'msg', cid => 'o1', text => '', attachment => $j->{attachment}});
my $oack = wait_for($o, sub { $_[0]{type} eq 'ack' });
ok($oack, 'the other visitor sent the same bytes');

($st, $j) = api(GET => "/kefu/api/sites/shop1/visitors/$w->{id}/export");
is_deeply([sort map { $_->{name} } @{ $j->{attachments} }], ['mine.png', 'shared.pdf'], 'the export lists both attachments');
is($j->{attachments}[0]{conv}, $conv, 'with their conversation');

my ($fm, $fs) = (main::stored(sha256_hex($mine)), main::stored(sha256_hex($shared)));
ok(-e $fm && -e $fs, 'both files are stored');
# a file renamed into place in the last seconds may be an upload of the
# same bytes under way, which erasure leaves to the sweep: these are older
utime(time - 60, time - 60, $fm, $fs);

($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$w->{id}");
is($st, 200, 'erased');
is($j->{files}, 1, 'one file deleted');
ok(!-e $fm, 'the visitor\'s own image is gone from disk');
ok(-e $fs, 'the PDF the other conversation holds stays');
is_deeply([main::keys_with(sha256_hex($mine))], [], 'its references are gone');
ok(!defined redis('ZSCORE', 'kefu:{s:shop1}:files', sha256_hex($mine)), 'and it left the sweep\'s list');
my @refs = grep { !/^p:/ } @{ redis('SMEMBERS', 'kefu:{s:shop1}:file:' . sha256_hex($shared)) };
is_deeply(\@refs, [$oack->{conv}], 'the PDF is now the other conversation\'s only');



=== TEST 4: an erasure that stopped half way is finished by asking again; a conversation of someone else in the visitor's index is left alone
--- ws
my $g = uniq_group('eh');
my ($a) = agent("eh-$g", groups => [$g], status => 'online');
my @v;
for my $n (1, 2) {
    my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
    $v->send_json({type => 'msg', cid => "x$n", text => "visitor $n"});
    my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
    push @v, [$v, $w, $ack->{conv}];
}
my ($id, $conv) = ($v[0][1]{id}, $v[0][2]);
my $other = $v[1][2];
# the other's message is in the search index
ok(main::search_until('visitor', sub { grep { $_->{conv} eq $other } @{ $_[0]{hits} || [] } }),
   "the other visitor's message is found by search");
# as if a worker died after the conversation's keys went: its index entries stay
redis('DEL', "kefu:{c:$conv}", "kefu:{c:$conv}:log", "kefu:{c:$conv}:assignments");
# and an index that names another visitor's conversation
redis('ZADD', "kefu:{s:shop1}:v:$id:convs", 1, $other);
my ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$id");
is($st, 200, 'erased');
is($j->{convs}, 0, 'no conversation of its own was left to erase');
# what the interrupted step had not reached yet: the dedup record of the
# message in the conversation that went, which expires with its window
my @left = main::keys_with($id);
is_deeply(\@left, ["kefu:{c:$conv}:cid:v:$id:x1"], 'nothing names the visitor but the dedup record the interrupted step left');
ok(redis('TTL', $left[0]) > 0, 'and it expires');
ok(!defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $conv), 'its gone conversation left the site\'s list');
is(redis('HGET', "kefu:{c:$other}", 'visitor'), $v[1][1]{id}, 'the other visitor\'s conversation is untouched');
ok(defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $other), 'and stays in the site\'s list');
my @hits = main::keys_with(":ix:m:$other:");
is(scalar @hits, 1, 'and its search hit stays');
my ($code) = $v[0][0]->recv_close(10);
is($code, 4403, 'the erased visitor was closed');
ok(main::still_open($v[1][0]), 'the other was not');



=== TEST 5: a conversation of more messages than one batch of search hits: every hit goes
--- ws
my $g = uniq_group('eb');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->send_json({type => 'msg', cid => 'b0', text => 'batch zero'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
my $conv = $ack->{conv};
for my $n (1 .. 150) {
    my ($st) = api(POST => "/kefu/api/sites/shop1/convs/$conv/messages", {cid => "b$n", text => "batch number $n"});
    die "message $n: $st\n" unless $st == 200 || $st == 201;
}
# the index call follows each message's: the last one's hit is the event to wait for
my $j = main::search_until('150', sub { grep { $_->{conv} eq $conv } @{ $_[0]{hits} || [] } });
ok($j, 'the last message is found by search');
my @hits = main::keys_with(":ix:m:$conv:");
ok(@hits > 128, 'more hits than two batches: ' . scalar @hits);
my ($st);
($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$w->{id}");
is($st, 200, 'erased');
is_deeply([main::keys_with(":ix:m:$conv:")], [], 'no hit of the conversation is left');



=== TEST 6: a conversation a supervisor joined: its joined set goes with it, and it leaves the supervisor's list
--- ws
my $g = uniq_group('ej');
my ($a) = agent("ej-$g", groups => [$g], status => 'online');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->send_json({type => 'msg', cid => 'j1', text => 'watch this'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
my $conv = $ack->{conv};
wait_conv($a, $conv, state => 'open') or die "not assigned\n";
my ($sup) = agent("ejs-$g", groups => ["x$g"], supervisor => JSON::PP::true());
$sup->send_json({type => 'join', conv => $conv, cid => 'sj'});
ok(wait_conv($sup, $conv, reason => 'joined'), 'a supervisor joined the conversation');
is_deeply(redis('SMEMBERS', "kefu:{c:$conv}:joined"), ["a:ejs-$g"], 'which has its joined set');
ok(defined redis('ZSCORE', "kefu:{s:shop1}:a:ejs-$g:convs", $conv), "and is in the supervisor's list");
$a->send_json({type => 'close', conv => $conv});
wait_conv($v, $conv, state => 'closed') or die "not closed\n";

my ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$w->{id}");
is($st, 200, 'erased');
is($j->{convs}, 1, 'one conversation');
is(redis('EXISTS', "kefu:{c:$conv}:joined"), 0, 'its joined set is gone');
ok(!defined redis('ZSCORE', "kefu:{s:shop1}:a:ejs-$g:convs", $conv), "it left the supervisor's list");
ok(!defined redis('ZSCORE', "kefu:{s:shop1}:a:ej-$g:convs", $conv), "and its agent's");
is_deeply([main::keys_with("{c:$conv}")], [], 'nothing of the conversation is left');
# kefu_redis cluster: the mark of its messages' events (event_put's) goes too
is(redis('HEXISTS', 'kefu:{s:shop1}:ev', $conv), 0, "the site's marks name it no more");



=== TEST 7: a supervisor joins a conversation whose keys an erasure took before it stopped (its routing record left): nothing of the conversation comes back without an expiry, and asking again finishes the erasure
--- ws
my $g = uniq_group('ez');
my ($a) = agent("ez-$g", groups => [$g], status => 'online');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
$v->send_json({type => 'msg', cid => 'z1', text => 'gone soon'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
my $conv = $ack->{conv};
wait_conv($a, $conv, state => 'open') or die "not assigned\n";
$a->send_json({type => 'close', conv => $conv});
wait_conv($v, $conv, state => 'closed') or die "not closed\n";
ok(redis('TTL', "kefu:{c:$conv}") > 0, 'the closed conversation expires');
# as if an erasure stopped after erase_conv: its keys gone, its routing
# record (the site's slot) not yet
redis('DEL', map { "kefu:{c:$conv}$_" } '', ':log', ':assignments', ':joined');
ok(redis('EXISTS', "kefu:{s:shop1}:r:$conv"), 'its routing record is left');
my ($sup) = agent("ezs-$g", groups => ["x$g"], supervisor => JSON::PP::true());
$sup->send_json({type => 'join', conv => $conv, cid => 'zj'});
wait_for($sup, sub { ($_[0]{cid} // '') eq 'zj' || (($_[0]{conv} // '') eq $conv && $_[0]{type} eq 'conv') })
    or die "no answer to the join\n";
my @forever = grep { redis('TTL', $_) < 0 } main::keys_with("{c:$conv}");
is_deeply(\@forever, [], 'no key of the conversation without an expiry');
ok(!redis('EXISTS', "kefu:{c:$conv}"), 'its hash is not made again');
ok(!redis('EXISTS', "kefu:{c:$conv}:log"), 'nor its log');
my ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$w->{id}");
is($st, 200, 'asked again: erased');
ok(!redis('EXISTS', "kefu:{s:shop1}:r:$conv"), 'its routing record went');
is_deeply([grep { !/:cid:/ } main::keys_with("{c:$conv}")], [], 'nothing of the conversation is left but dedup records, which expire');



=== TEST 8: a message's event put after the erasure (event_put late, as a worker's retry after a failover would put it): the file that went gets no references again
--- ws
my $g = uniq_group('el');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
my $data = pdf() . "% $g\n";
my ($st, $j) = upload(token => $w->{token}, name => 'late.pdf', data => $data);
is($st, 201, 'uploaded');
$v->send_json({type => 'msg', cid => 'l1', text => '', attachment => $j->{attachment}});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
my $conv = $ack->{conv};
my $sha = sha256_hex($data);
my $fk = "kefu:{s:shop1}:file:$sha";
my $held;
# with kefu_redis cluster the reference comes with the message's event
for (1 .. 100) { last if $held = redis('SISMEMBER', $fk, $conv); select undef, undef, undef, 0.05 }
ok($held, 'the conversation holds the file');
my $f = main::stored($sha);
utime(time - 60, time - 60, $f);
($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$w->{id}");
is($st, 200, 'erased');
ok(!-e $f, 'the file went from disk');
is(redis('EXISTS', $fk), 0, 'and its references');
# lua/event_put.lua as the worker calls it for that message (no seq: the
# file's part alone; the file's reference is kept in every case)
my $now = int(time * 1000);
redis('EVAL', lua_script('event_put'), 5, 'kefu:{s:shop1}:ev', 'kefu:{s:shop1}:events',
      'kefu:{s:shop1}:convs', 'kefu:{s:shop1}:erased', $fk, 'shop1', $conv, 0, '', $sha, '', 'msg', $now, '{}');
is(redis('EXISTS', $fk), 0, 'a late event_put makes no references of the file again');



=== TEST 9: the events of a conversation's messages put after its erasure (event_put late, a worker's retry): nothing of it comes back, not its place in the site's list, its mark, the visitor's record nor an event
--- ws
my $g = uniq_group('eq');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
my $id = $w->{id};
$v->send_json({type => 'msg', cid => 'q1', text => 'soon gone'});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' }) or die "no ack\n";
my $conv = $ack->{conv};
# with kefu_redis cluster the site's list gets it with the message's event
my $listed;
for (1 .. 100) { last if $listed = defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $conv); select undef, undef, undef, 0.05 }
ok($listed, "the conversation is in the site's list");
my ($st, $j) = api(DELETE => "/kefu/api/sites/shop1/visitors/$id");
is($st, 200, 'erased');
is($j->{convs}, 1, 'its conversation');
my $vk = "kefu:{s:shop1}:v:$id";
is(redis('EXISTS', $vk), 0, "the visitor's record went");
ok(!defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $conv), "the conversation left the site's list");
my $ttl = redis('TTL', 'kefu:{s:shop1}:erased');
ok($ttl > 0 && $ttl <= 3600, "the site's erased set expires within the hour ($ttl s)");
my $last = redis('XREVRANGE', 'kefu:{s:shop1}:events', '+', '-', 'COUNT', 1)->[0][0];
# lua/event_put.lua as a worker's retry would call it for two messages of
# the conversation: the first (the visitor's record kept alive, its
# routing record's preview), and one after it (prev 1: a mark behind it
# would ask for a heal)
my $now = int(time * 1000);
my $entry = sub { qq({"type":"msg","from":"v:$id","conv":"$conv","id":"$_[0]","seq":$_[0],"text":"late $_[0]","ts":$now}) };
my $r = redis('EVAL', lua_script('event_put'), 7, 'kefu:{s:shop1}:ev', 'kefu:{s:shop1}:events',
              'kefu:{s:shop1}:convs', 'kefu:{s:shop1}:erased', $vk, "kefu:{s:shop1}:r:$conv",
              "kefu:{s:shop1}:r:$conv",
              'shop1', $conv, 0, 86400, '', 1, 'msg', $now, $entry->(1),
              $conv, 1, '', '', 2, 'msg', $now, $entry->(2));
is_deeply($r, [], 'no heal is asked for it');
ok(!defined redis('ZSCORE', 'kefu:{s:shop1}:convs', $conv), "it is not in the site's list again");
is(redis('HEXISTS', 'kefu:{s:shop1}:ev', $conv), 0, 'nor has it a mark');
is(redis('EXISTS', $vk), 0, "nor is the visitor's record made again");
is(redis('EXISTS', "kefu:{s:shop1}:r:$conv"), 0, 'nor its routing record');
my $es = redis('XRANGE', 'kefu:{s:shop1}:events', "($last", '+');
is_deeply([grep { my %f = @{ $_->[1] }; $f{conv} eq $conv } @$es], [], 'no event of it is put');
