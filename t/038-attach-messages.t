# Attachments in messages: a msg carries what the upload answered, it is
# stored, acknowledged, delivered with a fresh link to every participant,
# replayed and resumed; history hands out fresh links; the event stream
# and the HTTP API carry it; nobody attaches what it did not upload; files
# whose conversations are gone are swept.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route;
use Kefu::Upload;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);

our $S1 = 'shop1-secret-0123456789abcdef';

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=am;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location /files/ { kefu_upload; client_max_body_size 20m; }
_EOC_

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');
$Kefu::Upload::Path = '/files/';

our $DIR = $ENV{TEST_NGINX_UPLOAD_DIR};

sub status_of { my @r = fetch(@_); return $r[0] }

sub stored { my ($sha) = @_; return "$DIR/shop1/" . substr($sha, 0, 2) . "/$sha" }

# the next msg (skipping others) on a connection
sub next_msg {
    my ($ws, $pred) = @_;
    return wait_for($ws, sub { $_[0]{type} eq 'msg' && (!$pred || $pred->($_[0])) });
}

run_tests();

__DATA__

=== TEST 1: a visitor pastes an image before its first message; the agent gets it with a link; the agent sends a PDF back
--- ws
my $g = uniq_group('att');
my ($a) = agent('att-agent', groups => [$g], status => 'online', name => 'Ann');
my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1', group => $g);
is($w->{upload}{url}, '/files/', 'welcome names the upload location');
is($w->{upload}{max_size}, 10 * 1024 * 1024, 'and the site\'s limit');
is_deeply($w->{upload}{types}, ['image/png', 'image/jpeg', 'image/gif', 'image/webp', 'application/pdf', 'text/plain'], 'and its types');

my $img = png(320, 240, 3000);
my ($st, $j) = upload(token => $w->{token}, name => 'teapot.png', data => $img);
is($st, 201, 'uploaded with no conversation yet');
my $att = $j->{attachment};
like($att->{url}, qr{^/files/shop1/v:\Q$w->{id}\E/}, 'its preview link is scoped to the visitor');
is(main::status_of($att->{url}), 200, 'the uploader can fetch it');

# a second tab of the same visitor
my ($v2) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token});

$v->send_json({type => 'msg', cid => 'img1', text => '', attachment => $att});
my $ack = wait_for($v, sub { $_[0]{type} eq 'ack' });
ok($ack && $ack->{seq}, 'acknowledged: stored');
my $conv = $ack->{conv};
wait_conv($a, $conv, state => 'open') or fail('the agent got the conversation');

my $m = next_msg($a, sub { $_[0]{conv} eq $conv && $_[0]{attachment} });
ok($m, 'the agent gets the msg with the attachment');
is($m->{text}, '', 'text may be empty');
is($m->{attachment}{$_}, $att->{$_}, "attachment $_ as uploaded") for qw(id name type size width height);
like($m->{attachment}{url}, qr{^/files/shop1/\Q$conv\E/[0-9a-f]{64}\.png\?e=\d+&n=teapot\.png&s=}, 'with a link for the conversation');
my ($fs, $fh, $body) = fetch($m->{attachment}{url});
is($fs, 200, 'the agent opens it');
is($body, $img, 'the same bytes');
is($fh->{'content-disposition'}, q{inline; filename="teapot.png"; filename*=UTF-8''teapot.png}, 'an image: inline');

my $m2 = next_msg($v2, sub { ($_[0]{cid} // '') eq 'img1' });
ok($m2 && $m2->{attachment}{url}, "the visitor's other tab gets it with a link");

my $refs = redis('SMEMBERS', 'kefu:{s:shop1}:file:' . sha256_hex($img));
ok((grep { $_ eq $conv } @$refs), 'the file now belongs to the conversation');

# the agent answers with a PDF
my $atok = agent_token('att-agent', groups => [$g]);
($st, $j) = upload(token => $atok, conv => $conv, name => 'invoice-1234.pdf', data => pdf(), multipart => 1);
is($st, 201, 'the agent uploads a PDF');
$a->send_json({type => 'msg', cid => 'pdf1', conv => $conv, text => 'your invoice', attachment => $j->{attachment}});
$ack = wait_for($a, sub { $_[0]{type} eq 'ack' && ($_[0]{cid} // '') eq 'pdf1' });
ok($ack, 'acknowledged');
$m = next_msg($v, sub { ($_[0]{cid} // '') eq 'pdf1' });
is($m->{attachment}{type}, 'application/pdf', 'the visitor gets the PDF');
is($m->{text}, 'your invoice', 'with its text');
($fs, $fh, $body) = fetch($m->{attachment}{url});
is($body, pdf(), 'and downloads it');
like($fh->{'content-disposition'}, qr/^attachment; filename="invoice-1234\.pdf"/, 'as an attachment');

=== TEST 2: nobody attaches what it did not upload, or changed
--- ws
my $g = uniq_group('forge');
my ($a) = agent('forge-agent', groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $conv = $ack->{conv};
my ($st, $j) = upload(token => $w->{token}, conv => $conv, name => 'a.png', data => png(10, 10));
my $att = $j->{attachment};

my @cases = (
    ['a changed size', {%$att, size => $att->{size} + 1}, qr/not one this sender uploaded/],
    ['a changed type', {%$att, type => 'text/html'}, qr/must be the object the upload answered/],
    ['a changed name', {%$att, name => 'b.png'}, qr/not one this sender uploaded/],
    ['a made-up id', {%$att, id => ('0' x 64) . '.' . ('A' x 22)}, qr/not one this sender uploaded/],
    ['not an object', 'x', qr/must be the object/],
);
my $i = 0;
for my $c (@cases) {
    $v->send_json({type => 'msg', cid => 'f' . ++$i, attachment => $c->[1]});
    my $e = wait_for($v, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'ack' });
    is($e->{type}, 'error', "$c->[0]: refused");
    is($e->{code}, 'bad_request', "$c->[0]: bad_request");
    like($e->{message}, $c->[2], "$c->[0]: says why");
}
$a->send_json({type => 'msg', cid => 'steal', conv => $conv, attachment => $att});
my $e = wait_for($a, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'ack' });
is($e->{type} . '/' . ($e->{code} // ''), 'error/bad_request', "the agent cannot send the visitor's upload as its own");
$v->send_json({type => 'msg', cid => 'nothing'});
$e = wait_for($v, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'ack' });
is($e->{type}, 'error', 'no text and no attachment: refused');
# the attachment is checked before what follows it (text, conv, private)
$v->send_json({type => 'msg', cid => 'two', attachment => {%$att, name => 'b.png'}, private => 'yes'});
$e = wait_for($v, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'ack' });
like("$e->{code}: $e->{message}", qr/^bad_request: .*not one this sender uploaded/,
     'a forged attachment and a bad "private": the attachment is told first');
$v->send_json({type => 'msg', cid => 'two', attachment => $att, private => 'yes'});
$e = wait_for($v, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'ack' });
is("$e->{code}: $e->{message}", 'bad_request: "private" must be a boolean', 'a good one: then "private"');
my $url = $att->{url};
$url =~ s/&s=.*/&s=/;
$v->send_json({type => 'msg', cid => 'good', attachment => {%$att, url => 'http://evil.example/x'}});
my $ok = wait_for($v, sub { $_[0]{type} eq 'ack' || $_[0]{type} eq 'error' });
is($ok->{type}, 'ack', 'a url the client sends along is ignored');
my $m = next_msg($a, sub { ($_[0]{cid} // '') eq 'good' });
like($m->{attachment}{url}, qr{^/files/}, 'the server makes the link');

# a non-participant never sees it: another visitor reads no history of it
my ($v3) = visitor($g);
$v3->send_json({type => 'history', conv => $conv});
$e = wait_for($v3, sub { $_[0]{type} eq 'error' || $_[0]{type} eq 'history' });
is($e->{type} . '/' . ($e->{code} // ''), 'error/forbidden', 'another visitor gets no history, so no link');

=== TEST 3: history hands out fresh links; a resumed connection's replay has links; the event stream carries the attachment
--- http_config
    kefu_upload_link_ttl 60s;
--- ws
my $g = uniq_group('hist');
my ($a) = agent('hist-agent', groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $conv = $ack->{conv};
my ($st, $j) = upload(token => $w->{token}, conv => $conv, name => 'h.gif', data => gif(5, 6));
$v->send_json({type => 'msg', cid => 'h1', text => 'look', attachment => $j->{attachment}});
my $hack = wait_for($v, sub { $_[0]{type} eq 'ack' && ($_[0]{cid} // '') eq 'h1' });
my $live = next_msg($a, sub { ($_[0]{cid} // '') eq 'h1' });
my ($e1) = $live->{attachment}{url} =~ /e=(\d+)/;
sleep 1.1;
$a->send_json({type => 'history', conv => $conv});
my $h = wait_for($a, sub { $_[0]{type} eq 'history' });
my ($hm) = grep { $_->{cid} && $_->{cid} eq 'h1' } @{ $h->{msgs} };
ok($hm && $hm->{attachment}, 'history has the attachment');
my ($e2) = ($hm->{attachment}{url} // '') =~ /e=(\d+)/;
cmp_ok($e2, '>', $e1, 'with a fresh link (later expiry)');
is(main::status_of($hm->{attachment}{url}), 200, 'that works');

# resume from before the message: replayed with a link
my ($v2, $w2) = kefu_connect(role => 'visitor', site => 'shop1', token => $w->{token},
                             resume => {$conv => $hack->{seq} - 1});
my $r = next_msg($v2, sub { ($_[0]{cid} // '') eq 'h1' });
ok($r && $r->{attachment}{url}, 'the replay after resume has the link');
is(main::status_of($r->{attachment}{url}), 200, 'and it works');

# the event stream: the stored message, attachment without a link
my $ev = redis('XREVRANGE', 'kefu:{s:shop1}:events', '+', '-', 'COUNT', 50);
my ($msg) = grep { my %f = @{ $_->[1] }; $f{event} eq 'msg' && $f{conv} eq $conv && $f{data} =~ /"h1"/ } @$ev;
ok($msg, 'the msg is on the event stream');
my %f = @{ $msg->[1] };
my $d = json_dec($f{data});
is($d->{attachment}{id}, $j->{attachment}{id}, 'with its attachment');
ok(!exists $d->{attachment}{url}, 'no link in what is stored: links are minted for readers');

=== TEST 4: the HTTP API sends attachments and reads them back with links
--- ws
my $g = uniq_group('api');
my ($a) = agent('api-agent', groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $conv = $ack->{conv};
my ($st, $j) = upload(token => $Kefu::API::Token, conv => $conv, name => 'receipt.pdf', data => pdf());
is($st, 201, 'the backend uploads with its service token');
($st, my $r) = api(POST => "/kefu/api/sites/shop1/convs/$conv/messages",
                   {cid => 'api1', from => {role => 'bot', id => 'shopbot'}, attachment => $j->{attachment}});
is($st, 201, 'and sends it in a message (no text)');
my $m = next_msg($v, sub { $_[0]{cid} && ($_[0]{cid} // '') eq 'api1' });
is($m->{attachment}{name}, 'receipt.pdf', 'the visitor gets it');
is(main::status_of($m->{attachment}{url}), 200, 'with a working link');
($st, $r) = api(GET => "/kefu/api/sites/shop1/convs/$conv/messages");
my ($lm) = grep { ($_->{cid} // '') eq 'api1' } @{ $r->{msgs} };
like($lm->{attachment}{url}, qr{^/files/shop1/\Q$conv\E/}, 'the API log gives a link');
my ($vs, $vj) = upload(token => $w->{token}, conv => $conv, name => 'v.png', data => png(3, 3));
($st, $r) = api(POST => "/kefu/api/sites/shop1/convs/$conv/messages",
                {cid => 'api2', text => 'x', attachment => $vj->{attachment}});
is($st, 400, "the API cannot send a visitor's upload");
like($r->{error}{message}, qr/not one this sender uploaded/, 'says why');

=== TEST 5: a conversation that is gone takes its files with it at the next sweep; others stay
--- http_config
    kefu_upload_sweep 1s;
--- ws
my $g = uniq_group('sweep');
my ($a) = agent('sweep-agent', groups => [$g], status => 'online');
my ($v1, $w1, $ack1) = visitor($g);
my ($v2, $w2, $ack2) = visitor($g);
my $keep = png(11, 11, 200);
my $gone = png(22, 22, 200);
my ($st, $j1) = upload(token => $w1->{token}, conv => $ack1->{conv}, name => 'keep.png', data => $keep);
($st, my $j2) = upload(token => $w2->{token}, conv => $ack2->{conv}, name => 'gone.png', data => $gone);
ok(-f main::stored(sha256_hex($keep)) && -f main::stored(sha256_hex($gone)), 'both stored');
# what retention or erasing the visitor does to a conversation
redis('DEL', "kefu:{c:$ack2->{conv}}");
my $deleted = 0;
for (1 .. 150) { if (!-e main::stored(sha256_hex($gone))) { $deleted = 1; last } sleep 0.1 }
ok($deleted, 'the file of the deleted conversation is deleted');
ok(-f main::stored(sha256_hex($keep)), 'the other one, swept at the same time, stays');
is(redis('EXISTS', 'kefu:{s:shop1}:file:' . sha256_hex($gone)), 0, 'its reference is gone');
my ($fs) = fetch($j2->{attachment}{url});
is($fs, 404, 'its link answers 404');



=== TEST 6: a message naming a file whose references are gone (the sweep took them, an erasure) is stored, but makes no reference set again: one nothing would sweep and that never expires
--- ws
my $g = uniq_group('orphan');
my ($a) = agent('orphan-agent', groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $img = png(33, 33, 300);
my ($st, $j) = upload(token => $w->{token}, conv => $ack->{conv}, name => 'late.png', data => $img);
is($st, 201, 'uploaded');
my $fk = 'kefu:{s:shop1}:file:' . sha256_hex($img);
is(redis('EXISTS', $fk), 1, 'its references are there');
# what the sweep does once it found the file no conversation's
redis('DEL', $fk);
$v->send_json({type => 'msg', cid => 'late1', text => 'here it is', attachment => $j->{attachment}});
my $k = wait_for($v, sub { ($_[0]{cid} // '') eq 'late1' });
is($k && $k->{type}, 'ack', 'the message is stored');
is(redis('EXISTS', $fk), 0, 'no reference set made again');
$v->send_json({type => 'msg', cid => 'late2', text => 'and again'});
wait_for($v, sub { ($_[0]{cid} // '') eq 'late2' }) or fail('no answer to late2');
is(redis('EXISTS', $fk), 0, '... nor later');



=== TEST 7: a message that is only a file is found by a word of the file's name, and its hit names the file (the entry read from the stored JSON by ngx_kefu_search_doc.c)
--- ws
my $g = uniq_group('found');
my ($a) = agent('found-agent', groups => [$g], status => 'online');
my ($v, $w, $ack) = visitor($g);
my $word = 'quokka' . int(rand 1e6);
my ($st, $j) = upload(token => $w->{token}, conv => $ack->{conv}, name => "$word-invoice.png", data => png(21, 21, 200));
is($st, 201, 'uploaded');
$v->send_json({type => 'msg', cid => 'only-file', text => '', attachment => $j->{attachment}});
my $k = wait_for($v, sub { ($_[0]{cid} // '') eq 'only-file' });
is($k && $k->{type}, 'ack', 'the message is stored');
my $tok = api_token(secret => $main::S1, site => 'shop1', role => 'admin', sub => 'boss');
# the index is written by its own call once the message is stored
my ($s2, $r);
for (1 .. 100) {
    ($s2, $r) = api(GET => "/kefu/api/sites/shop1/search?q=$word", undef, token => $tok);
    last if $s2 == 200 && @{ $r->{hits} || [] };
    select undef, undef, undef, 0.1;
}
is($s2, 200, 'searched');
my ($hit) = grep { $_->{conv} eq ($k->{conv} // '') && $_->{seq} == ($k->{seq} // 0) } @{ $r->{hits} || [] };
ok($hit, 'found by a word of its file\'s name');
is($hit && $hit->{attachment}, "$word-invoice.png", 'the hit names the file');
is($hit && $hit->{text}, '', '... and its text is empty');
