package Kefu::API;

# An HTTP client for the kefu_api tests: one request per connection over a
# real socket, every wait bounded.  api() returns (status, decoded JSON body
# or undef, {lowercased headers}, raw body).

use strict;
use warnings;

use Exporter 'import';
use Time::HiRes qw(time);
use IO::Socket::INET ();
use Kefu::WS qw(http_raw json_enc json_dec jwt_hs256);

our @EXPORT = qw(api api_token api_raw api_ready redis);

# the token api() sends unless told otherwise
our $Token;

# api_token(secret => .., site => .., role => 'service', sub => .., exp => ..)
sub api_token {
    my (%c) = @_;
    my $secret = delete $c{secret} or die "api_token: no secret\n";
    return jwt_hs256({exp => int(time) + 3600, role => 'service',
                      sub => 'backend', %c}, $secret);
}

# api(METHOD, PATH, BODY (ref: JSON-encoded; string: as is; undef: none),
#     token => .. (undef: no Authorization), type => content type,
#     headers => [..], port => ..)
sub api {
    my ($method, $path, $body, %o) = @_;
    my $token = exists $o{token} ? $o{token} : $Token;
    my $req = "$method $path HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "Authorization: Bearer $token\r\n" if defined $token;
    my $data = defined $body ? (ref $body ? json_enc($body) : $body) : undef;
    if (defined $data) {
        $req .= "Content-Type: " . ($o{type} // 'application/json') . "\r\n"
            if defined $o{type} || !exists $o{type};
        $req .= "Content-Length: " . length($data) . "\r\n";
    }
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    $req .= "\r\n";
    $req .= $data if defined $data;
    return api_raw($req, %o);
}

# waits (at most 5 s) until a GET of the path is not 503: a freshly started
# nginx answers unavailable until its Redis connection is ready
sub api_ready {
    my ($path, %o) = @_;
    my $deadline = time + 5;
    while (time < $deadline) {
        my ($st) = eval { api(GET => $path, undef, %o) };
        return 1 if defined $st && $st != 503;
        select(undef, undef, undef, 0.05);
    }
    return 0;
}

sub api_raw {
    my ($req, %o) = @_;
    my ($status, $h, $b) = http_raw($req, ($o{port} ? (port => $o{port}) : ()),
                                    timeout => $o{timeout} || 5);
    my $j = (defined $b && length $b) ? eval { json_dec($b) } : undef;
    return ($status, $j, $h, $b);
}

# One Redis command over RESP (the tests' Redis, or port => N first):
# returns the reply (arrays as array refs; an error dies)
sub redis {
    my @cmd = @_;
    my $port = $ENV{TEST_NGINX_REDIS_PORT};
    if (@cmd > 2 && $cmd[0] eq 'port') { (undef, $port, @cmd) = @cmd }
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1', PeerPort => $port,
                                  Timeout => 3) or die "redis: $!\n";
    my $req = '*' . @cmd . "\r\n";
    $req .= '$' . length($_) . "\r\n$_\r\n" for @cmd;
    print $s $req;
    my $r = _resp($s);
    close $s;
    return $r;
}

sub _resp {
    my ($s) = @_;
    my $line = <$s>;
    die "redis: no reply\n" unless defined $line;
    $line =~ s/\r\n$//;
    my ($t, $v) = (substr($line, 0, 1), substr($line, 1));
    return $v if $t eq '+' || $t eq ':';
    die "redis: $v\n" if $t eq '-';
    if ($t eq '$') {
        return undef if $v < 0;
        my $buf = '';
        while (length $buf < $v + 2) {
            read($s, my $chunk, $v + 2 - length $buf) or die "redis: eof\n";
            $buf .= $chunk;
        }
        return substr($buf, 0, $v);
    }
    if ($t eq '*') {
        return undef if $v < 0;
        return [map { _resp($s) } 1 .. $v];
    }
    die "redis: cannot parse $line\n";
}

1;
