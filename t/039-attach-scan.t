# The scanning hook: a real clamd (Debian's clamav-daemon) with a signature
# database of this test's own (an .hdb hash of a "virus" file: there is no
# network for freshclam), on a unix socket.  A clean file passes, the
# infected one is refused and not stored, and with the scanner down uploads
# are refused (503), never passed unscanned.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use Kefu::Upload;
use Digest::MD5 qw(md5_hex);
use Digest::SHA qw(sha256_hex);
use File::Temp qw(tempdir);
use IO::Socket::UNIX;

our $S1 = 'shop1-secret-0123456789abcdef';
our $VIRUS = "%PDF-1.4\nKEFU-TEST-VIRUS: this file is what the test's signature matches\n%%EOF\n";
our ($CLAMD_PID, $CLAMD_DIR);

BEGIN {
    $ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $CLAMD_DIR = tempdir('kefu-clamd.XXXXXX', TMPDIR => 1, CLEANUP => 1);
    $ENV{TEST_NGINX_CLAMD_SOCK} = "$CLAMD_DIR/clamd.sock";
}

# clamd in the foreground, its database: one MD5 signature
sub start_clamd {
    my $d = $CLAMD_DIR;
    mkdir "$d/db";
    open my $db, '>', "$d/db/kefu-test.hdb" or die $!;
    print $db md5_hex($main::VIRUS) . ':' . length($main::VIRUS) . ":Kefu-Test-Virus\n";
    close $db;
    open my $c, '>', "$d/clamd.conf" or die $!;
    print $c "LocalSocket $d/clamd.sock\nDatabaseDirectory $d/db\nForeground yes\n"
           . "LogFile $d/clamd.log\nPidFile $d/clamd.pid\nTemporaryDirectory $d\n"
           . "MaxThreads 2\nStreamMaxLength 10M\nBytecode no\n";
    close $c;
    my $clamd = -x '/usr/sbin/clamd' ? '/usr/sbin/clamd' : die "no /usr/sbin/clamd (apt-get install clamav-daemon)\n";
    my $pid = fork // die "fork: $!";
    if (!$pid) {
        open STDOUT, '>', "$d/clamd.out"; open STDERR, '>&', \*STDOUT;
        exec $clamd, '-c', "$d/clamd.conf" or exit 127;
    }
    # ready when it answers PING
    for (1 .. 300) {
        my $s = IO::Socket::UNIX->new(Peer => "$d/clamd.sock");
        if ($s) {
            print $s "zPING\0";
            my $r = ''; sysread($s, $r, 16);
            return $pid if $r =~ /^PONG/;
        }
        select undef, undef, undef, 0.1;
    }
    die "clamd did not start: " . `cat $d/clamd.out $d/clamd.log 2>/dev/null`;
}

sub stop_clamd {
    return unless $CLAMD_PID;
    kill 'TERM', $CLAMD_PID;
    waitpid $CLAMD_PID, 0;
    $CLAMD_PID = undef;
}

END { stop_clamd() }

our $SITE = <<'_EOC_';
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef anonymous=on default_group=scan;
    kefu_upload_path $TEST_NGINX_UPLOAD_DIR;
    kefu_upload_scan_timeout 20s;
_EOC_

api_blocks(http => $main::SITE, ready => '/kefu/api/sites/shop1/convs', config => <<'_EOC_');
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
    location /files { kefu_upload; client_max_body_size 20m; }
_EOC_

$Kefu::API::Token = api_token(secret => $S1, site => 'shop1');

sub visitor_conv {
    my ($v, $w) = kefu_connect(role => 'visitor', site => 'shop1');
    $v->send_json({type => 'msg', cid => 'c0', text => 'hello'});
    my $ack = $v->recv_type('ack') or die "no ack\n";
    return ($v, $w->{token}, $ack->{conv});
}

sub stored { my ($sha) = @_; return "$ENV{TEST_NGINX_UPLOAD_DIR}/shop1/" . substr($sha, 0, 2) . "/$sha" }

run_tests();

__DATA__

=== TEST 1: with clamd: a clean file passes (also a large one, in many chunks), the infected one is refused and not stored
--- http_config
    kefu_upload_scan unix:$TEST_NGINX_CLAMD_SOCK;
--- ws
$main::CLAMD_PID = main::start_clamd();
my ($v, $token, $conv) = main::visitor_conv();
my ($st, $j) = upload(token => $token, conv => $conv, name => 'clean.pdf', data => pdf());
is($st, 201, 'a clean file: 201');
my $big = png(100, 100, 3 * 1024 * 1024 + 17);
($st, $j) = upload(token => $token, conv => $conv, name => 'big.png', data => $big, timeout => 30);
is($st, 201, 'a 3 MB file streams to the scanner: 201');
ok(-f main::stored(sha256_hex($big)), 'stored');
($st, $j) = upload(token => $token, conv => $conv, name => 'virus.pdf', data => $main::VIRUS);
is($st, 422, 'the infected file: 422');
is($j->{error}{code}, 'infected', 'error code infected');
like($j->{error}{message}, qr/Kefu-Test-Virus/, 'names what the scanner found');
ok(!-e main::stored(sha256_hex($main::VIRUS)), 'not stored');
my @tmp = glob("$ENV{TEST_NGINX_UPLOAD_DIR}/shop1/tmp/*");
is(scalar @tmp, 0, 'no temporary file left');

# the scanner goes away: refused, not passed
main::stop_clamd();
($st, $j) = upload(token => $token, conv => $conv, name => 'later.pdf', data => pdf() . "later\n");
is($st, 503, 'the scanner is down: 503');
is($j->{error}{code}, 'unavailable', 'error code unavailable');
like($j->{error}{message}, qr/virus scanner is unavailable/, 'says the scanner is unavailable');
ok(!-e main::stored(sha256_hex(pdf() . "later\n")), 'not stored');

=== TEST 2: a scanner address where nothing listens (TCP): 503
--- http_config
    kefu_upload_scan 127.0.0.1:1;
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my ($st, $j) = upload(token => $token, conv => $conv, name => 'a.txt', data => txt());
is($st, 503, 'refused: 503');
like($j->{error}{message}, qr/virus scanner/, 'the scanner is named');

=== TEST 3: scanning is off by default
--- ws
my ($v, $token, $conv) = main::visitor_conv();
my ($st, $j) = upload(token => $token, conv => $conv, name => 'v.pdf', data => $main::VIRUS);
is($st, 201, 'no kefu_upload_scan: stored unscanned');
