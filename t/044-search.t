# Search (docs/api.md, "Search"): conversations found by words of their
# messages (English by lower-cased words, Chinese by characters and
# character pairs) and by their visitors (id, name, contact), over the
# HTTP API with admin, service and agent tokens; an agent finds only what
# it may read; results across two hosts sharing Redis; limits and paging;
# the index's keys expire (kefu_search_retention); a site with
# search=off is not indexed and its search answers 404.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::WS qw(kefu_connect jwt_hs256);

our $S = 'shops-secret-0123456789abcdef';

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shops secret=shops-secret-0123456789abcdef anonymous=on default_group=sa;
    kefu_site other secret=other-secret-0123456789abcdef anonymous=on;
    kefu_site hush secret=hush-secret-0123456789abcdef anonymous=on search=off;
    kefu_search_retention 2h;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shops/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; kefu_message_rate 100r/s burst=100; }
    location /kefu/api/ { kefu_api; }
_EOC_

# the index is the site's: a site of this run's own
our $SHOP = site_of_run('shops');
our $HUSH = site_of_run('hush');

$Kefu::API::Token = api_token(secret => $S, site => $SHOP, role => 'admin', sub => 'boss');

sub agent_token {
    my ($id, $groups) = @_;
    return jwt_hs256({sub => $id, role => 'agent', site => $main::SHOP, exp => time + 600,
                      name => "Agent $id", groups => $groups, capacity => 5}, $main::S);
}

sub agent {
    my ($id, $groups, %o) = @_;
    my ($ws, $w);
    for (1 .. 50) {
        ($ws, $w) = kefu_connect(role => 'agent', site => $main::SHOP, token => main::agent_token($id, $groups), %o);
        last unless $w->{type} eq 'error' && $w->{code} eq 'unavailable';
        sleep 0.1;
    }
    die "agent hello: $w->{type} $w->{message}\n" unless $w->{type} eq 'welcome';
    return $ws;
}

# a visitor's conversation with these messages; returns (ws, welcome, conv)
sub visitor {
    my ($group, $texts, %hello) = @_;
    my ($v, $w) = kefu_connect(role => 'visitor', site => $main::SHOP, group => $group, %hello);
    my $conv;
    my $n = 0;
    for my $t (@$texts) {
        $v->send_json({type => 'msg', cid => 'c' . ++$n, text => $t});
        my $ack = $v->recv_type('ack') or die "no ack\n";
        $conv //= $ack->{conv};
    }
    return ($v, $w, $conv);
}

sub q { my $s = shift; utf8::encode($s) if utf8::is_utf8($s); $s =~ s/([^A-Za-z0-9_.~-])/sprintf '%%%02X', ord $1/ge; $s }

# GET search: waits (at most 10 s) until the answer satisfies $pred, as
# the index is written by its own call once a message is stored
sub search_until {
    my ($query, $pred, %o) = @_;
    my ($st, $j);
    my $path = "/kefu/api/sites/$main::SHOP/search?q=" . main::q($query) . ($o{args} // '');
    for (1 .. 100) {
        ($st, $j) = api(GET => $path, undef, %o);
        return ($st, $j) if $st == 200 && $pred->($j);
        select undef, undef, undef, 0.1;
    }
    return ($st, $j);
}

sub convs_of { my $j = shift; my %c = map { $_->{conv} => 1 } @{ $j->{hits} }; [sort keys %c] }

run_tests();

__DATA__

=== TEST 1: English and Chinese words, every term must match, what a hit carries
--- ws
use utf8;
my $ann = main::agent('ann', ['sa']);
my ($v1, $w1, $c1) = main::visitor('sa', ['My ORDER 12345 has not arrived yet', '我的退款什么时候到账？']);
my ($v2, $w2, $c2) = main::visitor('sa', ['Where is my order? It says shipped.']);
my ($st, $j) = main::search_until('order', sub { @{ main::convs_of($_[0]) } == 2 });
is($st, 200, 'search: 200');
is_deeply(main::convs_of($j), [sort $c1, $c2], '"order" finds both conversations (case folded, punctuation apart)');
my ($h) = grep { $_->{conv} eq $c1 } @{ $j->{hits} };
is($h->{seq} > 0 && $h->{ts} > 0 ? 1 : 0, 1, 'a hit has its seq and ts');
is($h->{from}{role}, 'visitor', 'and who wrote it');
is($h->{from}{id}, $w1->{id}, 'its id');
is($h->{text}, 'My ORDER 12345 has not arrived yet', 'and the text as written');
is($j->{q}, 'order', 'the query is echoed');
is($j->{hits}[0]{ts} >= $j->{hits}[-1]{ts} ? 1 : 0, 1, 'newest first');
($st, $j) = main::search_until('Order ARRIVED', sub { 1 });
is_deeply(main::convs_of($j), [$c1], 'two words: only the conversation that has both');
($st, $j) = main::search_until('12345', sub { 1 });
is_deeply(main::convs_of($j), [$c1], 'a number is a word');
($st, $j) = main::search_until('退款', sub { @{ $_[0]{hits} } });
is_deeply(main::convs_of($j), [$c1], 'Chinese: a pair of characters');
is($j->{hits}[0]{text}, '我的退款什么时候到账？', 'the Chinese text comes back as written');
($st, $j) = main::search_until('款', sub { 1 });
is_deeply(main::convs_of($j), [$c1], 'Chinese: one character');
($st, $j) = main::search_until('什么时候到账', sub { 1 });
is_deeply(main::convs_of($j), [$c1], 'Chinese: a phrase of several pairs');
($st, $j) = main::search_until('到账 退款', sub { 1 });
is_deeply(main::convs_of($j), [$c1], 'Chinese: two words in any order');
($st, $j) = main::search_until('退货', sub { 1 });
is_deeply(main::convs_of($j), [], 'characters that are not next to each other in any text: nothing');
($st, $j) = main::search_until('退款 shipped', sub { 1 });
is_deeply(main::convs_of($j), [], 'Chinese and English that no message has together: nothing');
($st, $j) = main::search_until('ｏｒｄｅｒ', sub { 1 });
is_deeply(main::convs_of($j), [sort $c1, $c2], 'full-width letters are the ASCII ones');
# an agent's reply and a private note are found too
$ann->send_json({type => 'accept', conv => $c1});
$ann->send_json({type => 'msg', conv => $c1, cid => 'r1', text => 'Refund approved, 3 working days'});
$ann->recv_type('ack') or die 'no ack';
$ann->send_json({type => 'msg', conv => $c1, cid => 'n1', text => 'customer is VIP, expedite', private => JSON::PP::true()});
$ann->recv_type('ack') or die 'no ack';
($st, $j) = main::search_until('refund approved', sub { @{ $_[0]{hits} } });
is($j->{hits}[0]{from}{id}, 'ann', "an agent's reply is found");
($st, $j) = main::search_until('expedite', sub { @{ $_[0]{hits} } });
ok($j->{hits}[0]{private}, 'a private note is found, marked private');
# a message from the HTTP API is indexed too
($st) = api(POST => "/kefu/api/sites/$main::SHOP/convs/$c2/messages",
            {cid => 'ship-1', text => 'Tracking number SF1234567890', from => {role => 'bot', id => 'orderbot'}});
is($st, 201, 'the API writes a message');
($st, $j) = main::search_until('sf1234567890', sub { @{ $_[0]{hits} } });
is_deeply(main::convs_of($j), [$c2], "the API's message is found");
is($j->{hits}[0]{from}{role}, 'bot', 'from the bot');
# a resend (dup) is not indexed twice
$v2->send_json({type => 'msg', cid => 'c1', text => 'Where is my order? It says shipped.'});
ok($v2->recv_type('ack')->{dup}, 'a resend is a dup');
($st, $j) = main::search_until('shipped', sub { 1 });
is(scalar @{ $j->{hits} }, 1, 'found once');



=== TEST 2: who may search what: admins and services the site, agents their own and their groups' queues
--- ws
my $ann = main::agent('ann2', ['pa']);
my $bob = main::agent('bob2', ['pb']);
# bob goes away: pb's conversations queue
$bob->send_json({type => 'status', status => 'away'});
$bob->recv_type('presence', 5);
my ($va, $wa, $ca) = main::visitor('pa', ['parcel lost somewhere']);
my ($vb, $wb, $cb) = main::visitor('pb', ['parcel damaged on arrival']);
$ann->send_json({type => 'accept', conv => $ca});
my ($st, $j) = main::search_until('parcel', sub { @{ main::convs_of($_[0]) } == 2 });
is_deeply(main::convs_of($j), [sort $ca, $cb], 'an admin finds both');
my $svc = api_token(secret => $main::S, site => $main::SHOP, role => 'service');
($st, $j) = main::search_until('parcel', sub { @{ main::convs_of($_[0]) } == 2 }, token => $svc);
is_deeply(main::convs_of($j), [sort $ca, $cb], 'a service finds both');
($st, $j) = main::search_until('parcel', sub { 1 }, token => main::agent_token('ann2', ['pa']));
is($st, 200, 'an agent token: 200');
is_deeply(main::convs_of($j), [$ca], 'ann finds her conversation only');
($st, $j) = main::search_until('parcel', sub { 1 }, token => main::agent_token('bob2', ['pb']));
is_deeply(main::convs_of($j), [$cb], "bob finds the one queued in his group, not ann's");
($st, $j) = main::search_until('parcel', sub { 1 }, token => main::agent_token('cat2', ['pc']));
is_deeply(main::convs_of($j), [], 'an agent of another group: nothing');
# tokens that may not search
my $vis = jwt_hs256({sub => 'v1', role => 'visitor', site => $main::SHOP, exp => time + 600}, $main::S);
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/search?q=parcel", undef, token => $vis);
is($st, 403, 'a visitor token: 403');
is($j->{error}{code}, 'forbidden', 'forbidden');
my $other = api_token(secret => 'other-secret-0123456789abcdef', site => 'other', role => 'admin');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/search?q=parcel", undef, token => $other);
is($st, 403, "another site's token: 403");
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/search?q=parcel", undef, token => undef);
is($st, 401, 'no token: 401');
($st, $j) = api(GET => "/kefu/api/sites/other/search?q=parcel", undef, token => $other);
is_deeply($j->{hits}, [], "another site's index has none of these");
# elsewhere an agent token reads only what the console shows
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/queues/pb", undef, token => main::agent_token('ann2', ['pa']));
is($st, 403, "an agent token elsewhere in the API (another group's queue): 403");
is($j->{error}{code}, 'forbidden', 'forbidden');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/visitors/pa-none/export", undef, token => main::agent_token('ann2', ['pa']));
is($st, 403, 'an agent token elsewhere in the API (export): 403');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/queues/pa", undef, token => main::agent_token('ann2', ['pa']));
is($st, 200, 'its own group\'s queue: 200');



=== TEST 3: visitors by id, name and contact details; their conversations
--- ws
use utf8;
my ($v, $w, $conv) = main::visitor('sa', ['hi there'], name => 'Zhang Wei');
$v->send_json({type => 'contact', email => 'wei.zhang@example.com', phone => '+86 138 0013 8000'});
$v->recv_type('contact', 5);
my ($v2, $w2, $conv2) = main::visitor('sa', ['你好'], name => '王小明');
my ($st, $j) = main::search_until('zhang', sub { @{ $_[0]{visitors} } });
is(scalar @{ $j->{visitors} }, 1, 'one visitor by name');
is($j->{visitors}[0]{id}, $w->{id}, 'its id');
is($j->{visitors}[0]{name}, 'Zhang Wei', 'its name');
is_deeply($j->{visitors}[0]{convs}, [$conv], 'its conversations');
is($j->{visitors}[0]{contact}{email}, 'wei.zhang@example.com', 'its contact details');
($st, $j) = main::search_until('wei.zhang@example.com', sub { @{ $_[0]{visitors} } });
is($j->{visitors}[0]{id}, $w->{id}, 'by e-mail');
($st, $j) = main::search_until('8000', sub { @{ $_[0]{visitors} } });
is($j->{visitors}[0]{id}, $w->{id}, 'by phone digits');
($st, $j) = main::search_until($w2->{id}, sub { @{ $_[0]{visitors} } });
is($j->{visitors}[0]{id}, $w2->{id}, 'by id');
($st, $j) = main::search_until('小明', sub { @{ $_[0]{visitors} } });
is($j->{visitors}[0]{name}, '王小明', 'by a Chinese name');
($st, $j) = main::search_until('王', sub { @{ $_[0]{visitors} } });
is($j->{visitors}[0]{id}, $w2->{id}, 'by one character of it');
($st, $j) = main::search_until('zhang', sub { 1 }, token => main::agent_token('zed3', ['zz']));
is_deeply($j->{visitors}, [], 'an agent who may read none of its conversations does not find the visitor');



=== TEST 4: across two hosts sharing Redis
--- ws
(my $site = $main::SITE) =~ s/\bshops\b/$main::SHOP/;
my ($port2) = start_host($site, "location /kefu/api/ { kefu_api; }");
api_ready("/kefu/api/sites/$main::SHOP/convs", port => $port2) or die 'host 2 not ready';
my ($v, $w) = kefu_connect(port => $port2, role => 'visitor', site => $main::SHOP);
$v->send_json({type => 'msg', cid => 'h2', text => 'written on the second host: zebra'});
my $ack = $v->recv_type('ack') or die 'no ack';
my ($st, $j) = main::search_until('zebra', sub { @{ $_[0]{hits} } });
is_deeply(main::convs_of($j), [$ack->{conv}], 'host 1 finds what was written on host 2');
my ($v1, $w1, $c1) = main::visitor('sa', ['written on the first host: giraffe']);
($st, $j) = main::search_until('giraffe', sub { @{ $_[0]{hits} } }, port => $port2);
is_deeply(main::convs_of($j), [$c1], 'host 2 finds what was written on host 1');



=== TEST 5: limits, paging, bad queries, the index's keys expire
--- ws
my ($v, $w, $conv) = main::visitor('sa', [map { "pelican number $_" } 1 .. 25]);
my ($st, $j) = main::search_until('pelican', sub { @{ $_[0]{hits} } == 20 });
is(scalar @{ $j->{hits} }, 20, 'at most 20 hits by default');
($st, $j) = main::search_until('pelican', sub { @{ $_[0]{hits} } == 25 }, args => '&limit=50');
is(scalar @{ $j->{hits} }, 25, 'all 25 with limit=50');
is($j->{next}, undef, 'and no next');
my (@seqs, $next);
for my $page (1 .. 4) {
    ($st, $j) = main::search_until('pelican', sub { 1 }, args => '&limit=10' . ($next ? "&before=$next" : ''));
    push @seqs, map { $_->{seq} } @{ $j->{hits} };
    $next = $j->{next} or last;
}
is(scalar @seqs, 25, 'pages of 10 with before=next cover all 25');
my %u = map { $_ => 1 } @seqs;
is(scalar keys %u, 25, 'none twice');
is_deeply(\@seqs, [sort { $b <=> $a } @seqs], 'newest first across the pages');
for my $bad (['', 'q=', 'no q'], ['?!', 'q=%3F%21', 'only punctuation'], ['long', 'q=' . ('a' x 201), 'over 200 bytes'],
             ['limit', 'q=x&limit=0', 'limit 0'], ['limit', 'q=x&limit=51', 'limit 51'],
             ['before', 'q=x&before=abc', 'before not a number'], ['utf8', 'q=%FF%FE', 'not UTF-8'],
             ['terms', 'q=' . join('+', 'a' .. 'q'), '17 words']) {
    ($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/search?$bad->[1]");
    is($st, 400, "$bad->[2]: 400");
    is($j->{error}{code}, 'bad_request', "$bad->[2]: bad_request");
}
# a long message: its first 200 distinct terms are indexed (one call of 200 keys and more)
my @w = map { sprintf 'lw%03d', $_ } 1 .. 250;
$v->send_json({type => 'msg', cid => 'long', text => join ' ', @w});
$v->recv_type('ack') or die 'no ack';
($st, $j) = main::search_until('lw001 lw200', sub { @{ $_[0]{hits} } });
is(scalar @{ $j->{hits} }, 1, 'the first and the 200th term of a long message are found');
ok($j->{hits}[0]{cut}, 'its text is cut, and says so');
is(length $j->{hits}[0]{text}, 300, 'at 300 bytes');
($st, $j) = api(GET => "/kefu/api/sites/$main::SHOP/search?q=lw201");
is_deeply($j->{hits}, [], 'the 201st is not');
($st, $j) = api(POST => "/kefu/api/sites/$main::SHOP/search?q=x", {});
is($st, 405, 'POST: 405');
# (asked where the site's slot lives: with --cluster3 a script declaring a
# key of it goes there)
my $keys = redis('EVAL', "return redis.call('KEYS', ARGV[1])", 1, "kefu:{s:$main::SHOP}:ix",
                 "kefu:{s:$main::SHOP}:ix:*");
ok(@$keys > 3, 'the index has keys');
my @ttl = map { redis('TTL', $_) } @$keys;
# (a term's key 10 s more: the postings added while it is not due for
# its pruning are kept their 2h, ngx_kefu_search.c)
is(scalar(grep { $_ > 0 && $_ <= 7210 } @ttl), scalar @ttl, 'every index key expires within kefu_search_retention (2h, and 10 s)');



=== TEST 6: messages of several connections written at once, each connection's in one write: indexed together (one call per pass and site), every one found by search once, with its conversation and seq
--- ws
my (@v, %want);
for my $i (1 .. 3) {
    my ($v, $w, $conv) = main::visitor('sa', ["osprey hello $i"]);
    push @v, $v;
}
for my $i (0 .. $#v) {
    my $bytes = '';
    for my $k (1 .. 20) {
        $bytes .= Protocol::WebSocket::Frame->new(
            buffer => Kefu::WS::json_enc({type => 'msg', cid => "b$k", text => "kestrel nest${i}x$k"}),
            type => 'text', masked => 1, max_payload_size => 0)->to_bytes;
    }
    $v[$i]->send_raw($bytes) or die "write failed\n";
}
for my $i (0 .. $#v) {
    my @again;
    for (1 .. 20) {
        my $a = $v[$i]->wait_for(sub { ($_[0]{type} // '') =~ /^(ack|error)$/ }, 20) or die "no answer\n";
        my $k = substr($a->{cid}, 1);
        # a link not up yet (a cluster's master): resent, as clients do
        if ($a->{type} eq 'error' && $a->{code} eq 'unavailable') { push @again, $k; next }
        die "not stored: $a->{type} " . ($a->{code} // '') . "\n" unless $a->{type} eq 'ack' && !$a->{dup};
        $want{"nest${i}x$k"} = "$a->{conv}:$a->{seq}";
    }
    for my $k (@again) {
        my $a;
        for (1 .. 50) {
            $v[$i]->send_json({type => 'msg', cid => "b$k", text => "kestrel nest${i}x$k"});
            $a = $v[$i]->wait_for(sub { ($_[0]{cid} // '') eq "b$k" }, 20) or die "no answer\n";
            last if $a->{type} eq 'ack';
            select undef, undef, undef, 0.1;
        }
        die "not stored: b$k\n" unless $a->{type} eq 'ack';
        $want{"nest${i}x$k"} = "$a->{conv}:$a->{seq}";
    }
}
# all pages, until the 60 are there (at most 10 s)
my (@all, $st, $j);
for (1 .. 100) {
    @all = ();
    my $next;
    for (1 .. 5) {
        ($st, $j) = main::search_until('kestrel', sub { 1 }, args => '&limit=50' . ($next ? "&before=$next" : ''));
        push @all, map { "$_->{conv}:$_->{seq}" } @{ $j->{hits} };
        $next = $j->{next} or last;
    }
    last if @all >= 60;
    select undef, undef, undef, 0.1;
}
is_deeply([sort @all], [sort values %want], 'the 60 messages found, each once');
my $own = 0;
for my $word (sort keys %want) {
    ($st, $j) = main::search_until($word, sub { @{ $_[0]{hits} } });
    $own++ if @{ $j->{hits} } == 1 && "$j->{hits}[0]{conv}:$j->{hits}[0]{seq}" eq $want{$word};
}
is($own, 60, 'each by its own word');
--- no_error_log
search index



=== TEST 7: what a hit shows of a text with quotes, backslashes, control characters and characters outside the BMP, and where a long one is cut: the text as written (the hit's document is written without jansson, issue 18)
--- ws
use utf8;
my @texts = ("tern \"quoted\" back\\slash /slash/",
             "tern line\none\ttab\r\x01\x1f\x7f end",
             "tern 🦜 emoji ünïcödé 鸟",
             'tern ' . ('é' x 200),
             'tern ' . ("\"\\\n" x 150));
my ($v, $w, $conv) = main::visitor('sa', \@texts);
my ($st, $j) = main::search_until('tern', sub { @{ $_[0]{hits} } == @texts }, args => '&limit=50');
is(scalar @{ $j->{hits} }, scalar @texts, 'every message found');
my %by = map { $_->{seq} => $_ } @{ $j->{hits} };
my @hits = map { $by{$_} } sort { $a <=> $b } keys %by;
for my $i (0 .. 2) {
    is($hits[$i]{text}, $texts[$i], "text $i comes back as written");
    ok(!$hits[$i]{cut}, "text $i is not cut");
    is($hits[$i]{from}{id}, $w->{id}, "text $i: who wrote it");
    is($hits[$i]{conv}, $conv, "text $i: its conversation");
}
# 'é' is two bytes: 300 bytes end after 'tern ' and 147 of them, cut at
# the character's boundary (299 bytes)
my $b = $texts[3];
utf8::encode($b);
ok($hits[3]{cut}, 'a long text is cut, and says so');
my $h = $hits[3]{text};
utf8::encode($h);
is(length $h, 299, 'at the last character boundary within 300 bytes');
is($h, substr($b, 0, 299), 'its start as written');
ok($hits[4]{cut}, 'a long text of escaped characters is cut');
is($hits[4]{text}, substr($texts[4], 0, 300), 'at 300 bytes of the text, not of its JSON');
($st, $j) = main::search_until('ünïcödé', sub { @{ $_[0]{hits} } });
is(scalar @{ $j->{hits} }, 1, 'a word of letters outside ASCII is a term');
($st, $j) = main::search_until('quoted slash', sub { @{ $_[0]{hits} } });
is(scalar @{ $j->{hits} }, 1, 'words between quotes and slashes are terms');



=== TEST 8: kefu_site search=off: the site's messages, visitors and contact details are stored and delivered but not indexed, its search answers 404 with why; search= is checked by nginx -t
--- ws
my ($v, $w) = kefu_connect(role => 'visitor', site => $main::HUSH, name => 'Quiet Heron');
die "hello: $w->{type}\n" unless $w->{type} eq 'welcome';
$v->send_json({type => 'contact', email => 'heron@example.com'});
$v->recv_type('contact', 5);
$v->send_json({type => 'msg', cid => 'h1', text => 'heron quietly waits'});
my $ack = $v->recv_type('ack') or die "no ack\n";
is($ack->{seq}, 1, 'the message is stored (acked, seq 1)');
my $svc = api_token(secret => 'hush-secret-0123456789abcdef', site => $main::HUSH, role => 'admin', sub => 'boss');
my ($st, $j) = api(GET => "/kefu/api/sites/$main::HUSH/convs/$ack->{conv}/messages", undef, token => $svc);
is($st, 200, 'its conversation is read over the API');
is((grep { ($_->{text} // "") eq "heron quietly waits" } @{ $j->{msgs} || [] }) + 0, 1, "with the message");
# a message of an indexed site written after it, found: the index's calls
# of both (were there one for hush) have reached Redis by then
my (undef, undef, $conv) = main::visitor('sa', ['heron after']);
($st, $j) = main::search_until('heron', sub { @{ $_[0]{hits} } });
is_deeply(main::convs_of($j), [$conv], 'the indexed site finds its own message, not the other site\'s');
my $keys = redis('EVAL', "return redis.call('KEYS', ARGV[1])", 1, "kefu:{s:$main::HUSH}:ix",
                 "kefu:{s:$main::HUSH}:ix:*");
is_deeply($keys, [], 'no index key of the site with search=off (message, visitor, contact)');
($st, $j) = api(GET => "/kefu/api/sites/$main::HUSH/search?q=heron", undef, token => $svc);
is($st, 404, 'its search: 404');
is($j->{error}{code}, 'not_found', '... not_found');
like($j->{error}{message}, qr/search=off/, '... saying why');
for (['search=maybe', qr/invalid parameter "search=maybe" in "kefu_site"/], ['search=', qr/invalid parameter "search=" in "kefu_site"/]) {
    my ($rc, $out) = nginx_t("events {} http { kefu_site s1 secret=0123456789abcdef0123 $_->[0]; }");
    isnt($rc, 0, "$_->[0] refused");
    like($out, $_->[1], '... naming the directive');
}
my ($rc, $out) = nginx_t("events {} http { kefu_site s1 secret=0123456789abcdef0123 search=off; kefu_site s2 secret=0123456789abcdef0123 search=on; }");
is($rc, 0, 'search=off and search=on pass') or diag $out;
