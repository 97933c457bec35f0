# The module's version, in every place it is reported: the error log at
# start (nginx -V style), $kefu_version, the status endpoint (JSON and
# Prometheus); and the changelog and the Debian package say the same.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;

our $Version;
BEGIN {
    open my $h, '<', kefu_root() . '/ngx_kefu_module/ngx_kefu.h' or die $!;
    /^#define NGX_KEFU_VERSION\s+"([^"]+)"/ and $Version = $1 while <$h>;
    die "no NGX_KEFU_VERSION\n" unless $Version;
    $ENV{TEST_NGINX_KEFU_VERSION} = $Version;
}

sub first_line_of {
    my ($file, $re) = @_;
    open my $fh, '<', kefu_root() . "/$file" or die "$file: $!\n";
    while (<$fh>) { return $1 if /$re/ }
    return undef;
}

# what is merged since the release is listed above it, under "Unreleased"
is(first_line_of('CHANGELOG.md', qr/^## (?!Unreleased$)(\S+)/), $Version,
   "CHANGELOG.md's first release is this version");
like(first_line_of('CHANGELOG.md', qr/^## (.*\S)/), qr/^(Unreleased|\Q$Version\E\b)/,
   '... under an Unreleased section or none');
is(first_line_of('packaging/debian/changelog', qr/^\S+ \(([^-)]+)-/), $Version,
   'the Debian changelog packages this version');

run_tests();

__DATA__

=== the version in the error log at start, with what it was built for
--- config
    location = /t { return 204; }
--- request
GET /t
--- error_code: 204
--- error_log eval
[qr/\[notice\] .*kefu: ngx_kefu_module\/\Q$::Version\E built for nginx\/1\.\d+\.\d+ with hiredis \d+\.\d+\.\d+, jansson \d+\.\d+(\.\d+)?, OpenSSL \d/]



=== $kefu_version anywhere nginx takes a variable
--- config
    location = /t {
        add_header X-Kefu-Version $kefu_version;
        return 200 "kefu $kefu_version\n";
    }
--- request
GET /t
--- response_headers eval
"X-Kefu-Version: $::Version"
--- response_body eval
"kefu $::Version\n"



=== the status endpoint reports it, in JSON and Prometheus
--- config
    location = /status { kefu_status; }
--- ws
my ($code, undef, $body) = http_raw("GET /status HTTP/1.0\r\n\r\n");
is($code, 200, 'status answers');
is(json_dec($body)->{version}, $::Version, 'JSON version');
($code, undef, $body) = http_raw("GET /status?format=prometheus HTTP/1.0\r\n\r\n");
like($body, qr/^kefu_info\{version="\Q$::Version\E"\} 1$/m, 'kefu_info{version}');
