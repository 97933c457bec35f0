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
# redis() is Kefu::Net's, exported here too for the API tests
use Kefu::Net qw(redis);

our @EXPORT = qw(api api_token api_raw api_ready api_blocks redis);

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

# waits (at most 20 s) until a GET of the path is not 503: a freshly started
# nginx answers unavailable until its Redis connection is ready
sub api_ready {
    my ($path, %o) = @_;
    my $deadline = time + 20;
    while (time < $deadline) {
        my ($st) = eval { api(GET => $path, undef, %o) };
        return 1 if defined $st && $st != 503;
        select(undef, undef, undef, 0.05);
    }
    return 0;
}

# Every block's nginx for an API test: http is its http_config and config
# its locations (each before the block's own); ready: a path every block's
# ws waits on (api_ready) before it starts.
sub api_blocks {
    my (%o) = @_;
    Test::Nginx::Socket::add_block_preprocessor(sub {
        my $block = shift;
        # on one line: the block's own line numbers stay as they are
        $block->set_value('ws', "api_ready('$o{ready}') or die 'Redis not ready'; " . $block->ws)
            if $o{ready} && defined $block->ws;
        $block->set_value('http_config', $o{http} . ($block->http_config // ''));
        $block->set_value('config', $o{config} . ($block->config // ''));
    });
}

sub api_raw {
    my ($req, %o) = @_;
    my ($status, $h, $b) = http_raw($req, ($o{port} ? (port => $o{port}) : ()),
                                    timeout => $o{timeout} || 10);
    my $j = (defined $b && length $b) ? eval { json_dec($b) } : undef;
    return ($status, $j, $h, $b);
}

1;
