# Attachments, the upload and the links: every allowed type checked by its
# bytes (sizes from headers), names that lie, SVG and HTML, empty and
# over-limit files, bodies cut off, tokens of the wrong kind or site,
# participants only, links that expire or were tampered with, ranges, the
# quota, two hosts sharing one directory.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Route qw(agent_token wait_for);
use Kefu::Upload;
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use Encode ();

our $S1 = 'shop1-secret-0123456789abcdef';
our $S2 = 'shop2-secret-0123456789abcdef';

BEGIN { $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1) }

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=up1;
    kefu_site shop2 secret=shop2-secret-0123456789abcdef anonymous=on upload_types=png,pdf upload_max_size=1000 upload_quota=3;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
    kefu_upload_types png jpeg gif webp pdf txt;
    kefu_upload_max_size 64k;
_EOC_

our $LOC = <<'_EOC_';
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location /files {
        kefu_upload;
        client_max_body_size 1m;
        client_body_buffer_size 4k;
    }
_EOC_

api_blocks(ready => '/kefu/api/sites/shop1/convs', http => $main::SITE,
    config => $main::LOC);

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');

our $DIR = $ENV{TEST_NGINX_UPLOAD_DIR};

# a visitor with a conversation: ($ws, $token, $conv)
sub visitor_conv {
    my ($site, $group) = @_;
    my ($v, $w) = kefu_connect(role => 'visitor', site => $site // 'shop1',
                               ($group ? (group => $group) : ()));
    die "visitor: $w->{type}\n" unless $w->{type} eq 'welcome';
    $v->send_json({type => 'msg', cid => 'c0', text => 'hello'});
    my $ack = $v->recv_type('ack') or die "no ack\n";
    return ($v, $w->{token}, $ack->{conv});
}

sub err_is {
    my ($got, $status, $code, $what, $re) = @_;
    my ($st, $j, $h) = @$got;
    is($st, $status, "$what: $status");
    is(ref $j eq 'HASH' && ref $j->{error} eq 'HASH' ? $j->{error}{code} : undef,
       $code, "$what: error code $code");
    like($j->{error}{message} // '', $re, "$what: the message says why") if $re;
    like($h->{'content-type'} // '', qr{^application/json}, "$what: JSON");
}

sub stored { my ($site, $sha) = @_; return "$DIR/$site/" . substr($sha, 0, 2) . "/$sha" }

sub tmp_files { my ($site) = @_; my @f = glob("$DIR/$site/tmp/*"); return scalar @f }

run_tests();

__DATA__

=== TEST 1: every allowed type, by its bytes; sizes from the headers; the file stored by its SHA-256 and served back
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my %files = (
    'photo.png'   => [png(640, 480), 'image/png', 640, 480],
    'photo.JPG'   => [jpeg(1024, 768), 'image/jpeg', 1024, 768],
    'anim.gif'    => [gif(32, 16), 'image/gif', 32, 16],
    'pic.webp'    => [webp(300, 200), 'image/webp', 300, 200],
    'invoice.pdf' => [pdf(), 'application/pdf'],
    'notes.txt'   => [txt(), 'text/plain'],
);
for my $name (sort keys %files) {
    my ($data, $type, $w, $h) = @{ $files{$name} };
    my ($st, $j) = upload(token => $token, conv => $conv, name => $name, data => $data,
                          type => 'application/x-whatever');
    is($st, 201, "$name: 201");
    my $a = $j->{attachment} || {};
    is($a->{type}, $type, "$name: type $type from the bytes, not the Content-Type");
    is($a->{size}, length $data, "$name: size");
    is($a->{name}, $name, "$name: the name as given");
    is($a->{width}, $w, "$name: width") if defined $w;
    is($a->{height}, $h, "$name: height") if defined $h;
    ok(!exists $a->{width}, "$name: no width for a document") unless defined $w;
    like($a->{id}, qr/^[0-9a-f]{64}\.[A-Za-z0-9_-]{22}$/, "$name: id is sha.mac");
    is(substr($a->{id}, 0, 64), sha256_hex($data), "$name: content-addressed by SHA-256");
    ok(-f main::stored('shop1', sha256_hex($data)), "$name: on disk under the site's directory");
    like($a->{url}, qr{^/files/shop1/\Q$conv\E/[0-9a-f]{64}\.\w+\?e=\d+&n=.+&s=[A-Za-z0-9_-]{43}$}, "$name: a signed link");
    my ($fs, $fh, $body) = fetch($a->{url});
    is($fs, 200, "$name: the link serves it");
    is($body, $data, "$name: the same bytes");
    like($fh->{'content-type'}, qr{^\Q$type\E}, "$name: Content-Type $type");
    is($fh->{'x-content-type-options'}, 'nosniff', "$name: nosniff");
    like($fh->{'content-security-policy'} // '', qr/default-src 'none'.*sandbox/, "$name: a restrictive CSP");
    my $disp = $type =~ m{^image/} ? 'inline' : 'attachment';
    like($fh->{'content-disposition'} // '', qr/^$disp; filename="\Q$name\E"; filename\*=UTF-8''/, "$name: Content-Disposition $disp");
}
is(main::tmp_files('shop1'), 0, 'no temporary file left');

# the multipart form browsers send, a name with a path and non-ASCII
my ($st, $j) = upload(token => $token, conv => $conv, name => 'C:\\Users\\me\\发票 1.pdf', data => pdf(), multipart => 1);
is($st, 201, 'multipart: 201');
is($j->{attachment}{name}, Encode::decode('UTF-8', '发票 1.pdf'), 'multipart: the filename of the part, without its path');
is($j->{attachment}{size}, length pdf(), 'multipart: only the part is the file');
my ($fs, $fh, $body) = fetch($j->{attachment}{url});
is($body, pdf(), 'multipart: the same bytes served');
like($fh->{'content-disposition'}, qr/filename="_+ 1\.pdf"; filename\*=UTF-8''%E5%8F%91%E7%A5%A8%201\.pdf$/, 'an ASCII name and the UTF-8 one');

# no extension: the type's is added
($st, $j) = upload(token => $token, conv => $conv, name => 'image', data => png(10, 10));
is($j->{attachment}{name}, 'image.png', 'a name without extension gets its type\'s');

# a visitor without conv: its open conversation
($st, $j) = upload(token => $token, name => 'a.png', data => png(1, 1));
is($st, 201, 'a visitor may leave conv out');
like($j->{attachment}{url}, qr{^/files/shop1/\Q$conv\E/}, 'its open conversation');

=== TEST 2: names that lie, types never served, empty and over-limit files, unknown bytes
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my @u = (token => $token, conv => $conv);
main::err_is([upload(@u, name => 'invoice.pdf', data => png(10, 10))], 415, 'unsupported_media_type',
             'a PNG renamed .pdf', qr/PNG image but its name ends in \.pdf/);
main::err_is([upload(@u, name => 'cat.png', data => "<!DOCTYPE html><html><script>alert(1)</script></html>")],
             415, 'unsupported_media_type', 'HTML renamed .png', qr/HTML page, which is never accepted/);
main::err_is([upload(@u, name => 'logo.svg', data => qq{<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>})],
             415, 'unsupported_media_type', 'an SVG', qr/SVG image, which is never accepted/);
main::err_is([upload(@u, name => 'logo.png', data => qq{<svg xmlns="http://www.w3.org/2000/svg"/>})],
             415, 'unsupported_media_type', 'an SVG renamed .png', qr/SVG/);
main::err_is([upload(@u, name => 'setup.exe', data => "MZ\x90\0" . ("\0" x 100))],
             415, 'unsupported_media_type', 'an executable', qr/executable/);
main::err_is([upload(@u, name => 'blob.bin', data => "\0\1\2\3" x 50)],
             415, 'unsupported_media_type', 'unknown bytes', qr/no type this site accepts \(png, jpeg, gif, webp, pdf, txt\)/);
main::err_is([upload(@u, name => 'data.zip', data => "PK\3\4" . ("\0" x 40))],
             415, 'unsupported_media_type', 'a type the site does not allow', qr/ZIP archive, not a type this site accepts/);
main::err_is([upload(@u, name => 'empty.txt', data => '')], 400, 'bad_request', 'a zero-byte file', qr/empty/);
main::err_is([upload(@u, name => 'big.png', data => png(1, 1, 65536 + 1))], 413, 'too_large',
             'one byte over kefu_upload_max_size (64k)', qr/larger than this site's upload limit/);
my ($st) = upload(@u, name => 'limit.png', data => png(1, 1, 65536));
is($st, 201, 'exactly the limit is fine');
main::err_is([upload(@u, name => "../../etc/passwd\x01", data => txt())], 400, 'bad_request', 'a name with a control character');
main::err_is([upload(@u, data => txt())], 400, 'bad_request', 'no name', qr/"name" is required/);
main::err_is([upload(@u, name => 'x.txt', data => txt(), site => 'nosuch')], 404, 'not_found', 'an unknown site');

# shop2: its own limits on kefu_site (1000 bytes; png and pdf only)
my ($v2, $t2, $c2) = main::visitor_conv('shop2');
main::err_is([upload(token => $t2, site => 'shop2', conv => $c2, name => 'a.png', data => png(1, 1, 1001))],
             413, 'too_large', "shop2's own limit: one byte over");
($st) = upload(token => $t2, site => 'shop2', conv => $c2, name => 'a.png', data => png(1, 1, 1000));
is($st, 201, "shop2: its limit exactly");
main::err_is([upload(token => $t2, site => 'shop2', conv => $c2, name => 'a.gif', data => gif(1, 1))],
             415, 'unsupported_media_type', "shop2 takes png and pdf only", qr/\(png, pdf\)/);

# multipart bodies without a part named "file", or not closed
for my $body ("--b1\r\nContent-Disposition: form-data; name=\"other\"; filename=\"a.png\"\r\n\r\nxx\r\n--b1--\r\n",
              "--b1\r\nContent-Disposition: form-data; name=\"file\"; filename=\"a.png\"\r\n\r\n" . png(1, 1) . "\r\n--b1")
{
    main::err_is([upload(@u, data => $body, type => 'multipart/form-data; boundary=b1')], 400, 'bad_request',
                 'a multipart body without a closed part named file', qr/last part named "file"/);
}
main::err_is([upload(@u, name => 'x.png', data => 'x', type => 'multipart/form-data')], 400, 'bad_request',
             'multipart without a boundary', qr/boundary/);

# a chunked body over the limit is refused after reading, with JSON too
my $big = png(1, 1, 70000);
my $req = "POST /files?site=shop1&conv=$conv&name=big.png HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        . "Authorization: Bearer $token\r\nTransfer-Encoding: chunked\r\n\r\n"
        . sprintf("%x\r\n", length $big) . $big . "\r\n0\r\n\r\n";
main::err_is([api_raw($req)], 413, 'too_large', 'a chunked body over the limit');
is(main::tmp_files('shop1'), 0, 'nothing left behind by the refusals');

=== TEST 3: tokens: none, bad, expired, another site's; participants only
--- ws
my ($v, $token, $conv) = main::visitor_conv('shop1', 'tk');
my ($v2, $token2, $conv2) = main::visitor_conv('shop1', 'tk');
my @f = (conv => $conv, name => 'a.png', data => png(2, 2));
main::err_is([upload(@f)], 401, 'unauthorized', 'no token', qr/Bearer/);
main::err_is([upload(@f, token => 'not.a.jwt')], 401, 'unauthorized', 'not a JWT');
main::err_is([upload(@f, token => jwt_hs256({sub => 'x', role => 'visitor', site => 'shop1', exp => time + 60}, 'wrong-secret-0123456789abcdef'))],
             401, 'unauthorized', 'a bad signature');
main::err_is([upload(@f, token => agent_token('a1', exp => time - 3600))], 401, 'unauthorized', 'an expired token', qr/expired/);
main::err_is([upload(@f, token => agent_token('a1', site => 'shop2', secret => $main::S2))],
             403, 'forbidden', "another site's token", qr/another site/);
main::err_is([upload(@f, token => $token2)], 403, 'forbidden', "another visitor's conversation", qr/not your conversation/);
main::err_is([upload(@f, token => agent_token('stranger', groups => ['tk']))], 403, 'forbidden', 'an agent not in the conversation');
main::err_is([upload(@f, conv => undef, token => agent_token('stranger', groups => ['tk']))], 400, 'bad_request', 'an agent must name the conversation');
main::err_is([upload(@f, conv => '999999999', token => $token)], 403, 'forbidden', 'a conversation that does not exist');
my ($st) = upload(@f, token => api_token(secret => $main::S1, site => 'shop1', role => 'admin'));
is($st, 201, 'an admin uploads to any conversation of the site');
($st) = upload(@f, token => $Kefu::API::Token);
is($st, 201, 'so does the shop\'s backend (service)');
($st) = upload(@f, token => $token);
is($st, 201, 'the visitor itself');
my ($s, $j, $h, $b) = api_raw("GET /files?site=shop1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
is($s, 404, 'GET of the upload location itself: 404');
($s, $j, $h) = api_raw("PUT /files?site=shop1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n");
is($s, 405, 'PUT: 405');
like($h->{allow}, qr/POST/, 'Allow names POST');

=== TEST 4: links: tampered, another conversation, another site, expired (403 with JSON); ranges; HEAD
--- http_config
    kefu_upload_link_ttl 2s;
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my ($st, $j) = upload(token => $token, conv => $conv, name => 'r.txt', data => txt());
my $url = $j->{attachment}{url};
my ($fs, $fh, $body) = fetch($url, headers => ['Range: bytes=0-4']);
is($fs, 206, 'a range: 206');
is($body, substr(txt(), 0, 5), 'the first five bytes');
like($fh->{'content-range'}, qr{^bytes 0-4/\d+$}, 'Content-Range');
($fs, $fh, $body) = fetch($url, headers => ['Range: bytes=-3']);
is($body, substr(txt(), -3), 'the last three bytes');
($fs, $fh) = fetch($url, method => 'HEAD');
is($fs, 200, 'HEAD');
is($fh->{'content-length'}, length txt(), 'HEAD: its length');
ok($fh->{etag}, 'an ETag');

my ($c2) = $url =~ m{^/files/shop1/([^/]+)/};
(my $other = $url) =~ s{^/files/shop1/[^/]+/}{/files/shop1/123456/};
my ($s, $e) = fetch($other);
is($s, 403, 'the link moved to another conversation: 403');
(my $site2 = $url) =~ s{^/files/shop1/}{/files/shop2/};
($s) = fetch($site2);
is($s, 403, 'the link moved to another site: 403');
(my $later = $url) =~ s{e=(\d+)}{'e=' . ($1 + 3600)}e;
($s, my $h, my $b) = fetch($later);
is($s, 403, 'a later expiry: 403');
is(eval { json_dec($b)->{error}{code} }, 'forbidden', 'forbidden, as JSON');
(my $renamed = $url) =~ s{n=[^&]+}{n=evil.html};
($s) = fetch($renamed);
is($s, 403, 'another name: 403');
(my $ext = $url) =~ s{\.txt\?}{.png?};
($s) = fetch($ext);
is($s, 403, 'another type (extension): 403');
($s) = fetch('/files/shop1/' . $conv . '/' . ('0' x 64) . '.txt?e=99999999999&n=x&s=' . ('A' x 43));
is($s, 403, 'a made-up link: 403');

sleep 3;
($s, $h, $b) = fetch($url);
is($s, 403, 'expired: 403');
my $err = eval { json_dec($b) } || {};
is($err->{error}{code}, 'expired', 'error code expired');
like($err->{error}{message}, qr/fresh one/, 'says to ask for a fresh one');
like($h->{'content-type'}, qr{^application/json}, 'as JSON');

=== TEST 5: the quota: a visitor's files per hour (shop2: 3)
--- ws
my ($v, $token, $conv) = main::visitor_conv('shop2');
for my $i (1 .. 3) {
    my ($st) = upload(token => $token, site => 'shop2', conv => $conv, name => "q$i.png", data => png($i, $i));
    is($st, 201, "upload $i of 3");
}
main::err_is([upload(token => $token, site => 'shop2', conv => $conv, name => 'q4.png', data => png(4, 4))],
             429, 'rate_limited', 'the fourth in the hour', qr/quota of 3 files an hour/);
my ($v2, $token2, $conv2) = main::visitor_conv('shop2');
my ($st) = upload(token => $token2, site => 'shop2', conv => $conv2, name => 'q.png', data => png(5, 5));
is($st, 201, 'another visitor has its own quota');
($st) = upload(token => api_token(secret => $main::S2, site => 'shop2', role => 'admin'), site => 'shop2',
               conv => $conv, name => 'q.png', data => png(6, 6));
is($st, 201, 'staff have none');

=== TEST 6: a body cut off mid-upload stores nothing; the next upload works
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my $data = png(9, 9, 60000);
my $sock = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $Kefu::WS::Port) or die $!;
print $sock "POST /files?site=shop1&conv=$conv&name=cut.png HTTP/1.1\r\nHost: x\r\n"
          . "Authorization: Bearer $token\r\nContent-Length: " . length($data) . "\r\n\r\n"
          . substr($data, 0, 20000);
sleep 0.5;
close $sock;
# the next request on the server waits behind nothing; nginx has dropped the body
my ($st, $j) = upload(token => $token, conv => $conv, name => 'whole.png', data => png(8, 8, 30000));
is($st, 201, 'the next upload works');
ok(!-e main::stored('shop1', sha256_hex($data)), 'the cut file is not stored');
my $ok = 0;
for (1 .. 50) { if (main::tmp_files('shop1') == 0) { $ok = 1; last } sleep 0.1 }
ok($ok, 'no temporary file left');
# client_body_temp_path of the test's nginx.conf
my ($spooldir) = grep { -d } map { Test::Nginx::Socket::server_root() . $_ } '/tmp/body', '/client_body_temp';
ok($spooldir, "nginx's body spool directory is there");
my @spool = grep { -f } glob("$spooldir/*"), glob("$spooldir/*/*"), glob("$spooldir/*/*/*");
is(scalar @spool, 0, "nginx's spooled body is gone too");

=== TEST 7: two hosts on one directory: a file uploaded on one is served by the other; the same bytes are one file
--- ws
# hosts sharing a directory run nginx as the same user (here: the test's)
my ($port2, $stop) = start_host($main::SITE, <<'_EOC_', 'user ' . getpwuid($<) . ';');
    location /files { kefu_upload; client_max_body_size 1m; }
_EOC_
my ($v, $token, $conv) = main::visitor_conv();
my $data = png(77, 66, 5000);
# a host just started answers 503 until its Redis connection is ready
my ($st, $j);
for (1 .. 50) {
    ($st, $j) = upload(token => $token, conv => $conv, name => 'two.png', data => $data, port => $port2);
    last unless $st == 503;
    sleep 0.1;
}
is($st, 201, 'uploaded on host B');
my ($fs, $fh, $body) = fetch($j->{attachment}{url});
is($fs, 200, 'served by host A');
is($body, $data, 'the same bytes');
($st, my $j2) = upload(token => $token, conv => $conv, name => 'again.png', data => $data);
is($st, 201, 'the same bytes uploaded on host A');
is(substr($j2->{attachment}{id}, 0, 64), substr($j->{attachment}{id}, 0, 64), 'the same file id');
my @same = glob("$main::DIR/shop1/*/" . sha256_hex($data));
is(scalar @same, 1, 'one file on disk');
($fs, $fh, $body) = fetch($j2->{attachment}{url}, port => $port2);
is($body, $data, 'host B serves host A\'s link');
$stop->();

=== TEST 8: nginx -t: what the directives refuse
--- ws
my @bad = (
    ['location /f { kefu_upload; }', qr/"kefu_upload" needs "kefu_upload_path"/, 'no path'],
    ['kefu_upload_path /tmp; kefu_upload_types png svg;', qr/unknown type "svg"/, 'svg is not a type one may allow'],
    ['kefu_upload_path /tmp; kefu_upload_max_size 0;', qr/takes a size greater than 0/, 'a zero size'],
    ['kefu_upload_path /tmp; kefu_upload_link_ttl 30d;', qr/from 1s to 7d/, 'a link ttl too long'],
    ['kefu_upload_path /tmp; kefu_upload_scan nonsense:xyz;', qr/"kefu_upload_scan" takes off, unix/, 'a bad scanner address'],
    ['kefu_site s1 secret=0123456789abcdef0123 upload_types=png,html;', qr/invalid upload_types/, 'a site may not allow html'],
    ['kefu_site s1 secret=0123456789abcdef0123 upload_max_size=x;', qr/invalid upload_max_size/, 'a bad site size'],
    ['kefu_upload_path /tmp; location = /f { kefu_upload; }', qr/needs a prefix location/, 'an exact location'],
    ['kefu_upload_path /tmp; location /f { kefu_upload; }', qr/"kefu_upload" needs "kefu_redis"/, 'no Redis'],
);
for my $b (@bad) {
    my $srv = $b->[0] =~ /location/ ? "server { listen 127.0.0.1:1; $b->[0] }" : '';
    my $http = $b->[0] =~ /location/ ? ($b->[0] =~ /kefu_upload_path (\S+);/ ? "kefu_upload_path $1;" : '') : $b->[0];
    $http .= ' kefu_redis 127.0.0.1:1;' unless $b->[2] eq 'no Redis';
    $srv =~ s/kefu_upload_path \S+; //;
    my ($rc, $out) = nginx_t("events {} http { $http $srv }");
    isnt($rc, 0, "$b->[2]: nginx -t fails");
    like($out, $b->[1], "$b->[2]: says why");
}
my ($rc, $out) = nginx_t("events {} http { kefu_redis 127.0.0.1:1; kefu_upload_path /tmp; kefu_upload_scan unix:/run/clamav/clamd.ctl; kefu_site s1 secret=0123456789abcdef0123 upload_types=png,pdf upload_max_size=5m upload_quota=0; server { listen 127.0.0.1:1; location /f/ { kefu_upload; } } }");
is($rc, 0, 'a good configuration passes') or diag $out;
