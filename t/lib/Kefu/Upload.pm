package Kefu::Upload;

# Helpers of the attachment tests: files of every type made from their
# magic numbers, uploads (raw or multipart) and fetches over real sockets,
# every wait bounded.
#
#   upload(token => .., site => .., conv => .., name => .., data => ..,
#          multipart => 1, port => .., path => '/files')
#       -> (status, JSON, {headers})
#   fetch($url, headers => [..], method => 'GET', port => ..)
#       -> (status, {headers}, body)

use strict;
use warnings;

use Exporter 'import';
use Kefu::API qw(api_raw);
use Kefu::WS qw(http_raw);

our @EXPORT = qw(upload fetch png jpeg gif webp pdf txt uri_escape);

# the upload location, as written in the configuration
our $Path = '/files';

sub uri_escape {
    my ($s) = @_;
    $s =~ s/([^A-Za-z0-9._~-])/sprintf('%%%02X', ord $1)/ge;
    return $s;
}

# a PNG header of the given size, padded to $len bytes (not decodable:
# the module reads headers, never pixels)
sub png {
    my ($w, $h, $len) = @_;
    my $d = "\x89PNG\r\n\x1a\n" . pack('N', 13) . 'IHDR' . pack('NN', $w, $h)
          . "\x08\x02\x00\x00\x00" . "\0\0\0\0";
    return _pad($d, $len // 64);
}

# JFIF, an EXIF-sized APP1 before the frame, then SOF0 with the size
sub jpeg {
    my ($w, $h, $len) = @_;
    my $app1 = 'Exif' . ("\0" x 2000);
    my $d = "\xff\xd8" . "\xff\xe0" . pack('n', 16) . "JFIF\0\x01\x01\0\0\x01\0\x01\0\0"
          . "\xff\xe1" . pack('n', 2 + length $app1) . $app1
          . "\xff\xc0" . pack('n', 17) . "\x08" . pack('nn', $h, $w) . "\x03"
          . "\x01\x22\x00\x02\x11\x01\x03\x11\x01";
    return _pad($d, $len // 2100);
}

sub gif {
    my ($w, $h) = @_;
    return 'GIF89a' . pack('vv', $w, $h) . "\x80\x00\x00" . ("\0" x 30) . ';';
}

# WebP, extended format (VP8X): width-1 and height-1 in 24 bits
sub webp {
    my ($w, $h) = @_;
    my $body = 'WEBP' . 'VP8X' . pack('V', 10) . "\0\0\0\0"
             . substr(pack('V', $w - 1), 0, 3) . substr(pack('V', $h - 1), 0, 3);
    $body .= "\0" x 20;
    return 'RIFF' . pack('V', length $body) . $body;
}

sub pdf { return "%PDF-1.4\n1 0 obj <<>> endobj\ntrailer <<>>\n%%EOF\n" }

sub txt { return "Order 1234: the teapot arrived broken.\n你好\n" }

sub _pad {
    my ($d, $len) = @_;
    return length $d >= $len ? $d : $d . ("\0" x ($len - length $d));
}

sub upload {
    my (%o) = @_;
    my $path = $o{path} // $Path;
    my @q = ("site=" . uri_escape($o{site} // 'shop1'));
    push @q, "conv=" . uri_escape($o{conv}) if defined $o{conv};
    push @q, "name=" . uri_escape($o{name}) if defined $o{name} && !$o{multipart};
    my $data = $o{data} // '';
    my $type = $o{type} // 'application/octet-stream';
    if ($o{multipart}) {
        my $b = 'kefuBoundary' . int(rand 1e9);
        my $fn = defined $o{name} ? qq{; filename="$o{name}"} : '';
        $data = "--$b\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n"
              . "--$b\r\nContent-Disposition: form-data; name=\"file\"$fn\r\n"
              . "Content-Type: application/octet-stream\r\n\r\n$data\r\n--$b--\r\n";
        $type = "multipart/form-data; boundary=$b";
    }
    my $req = "POST $path?" . join('&', @q) . " HTTP/1.1\r\nHost: localhost\r\n"
            . "Connection: close\r\nContent-Type: $type\r\n"
            . "Content-Length: " . length($data) . "\r\n";
    $req .= "Authorization: Bearer $o{token}\r\n" if defined $o{token};
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    $req .= "\r\n" . $data;
    return api_raw($req, port => $o{port}, timeout => $o{timeout} || 10);
}

sub fetch {
    my ($url, %o) = @_;
    my $m = $o{method} // 'GET';
    my $req = "$m $url HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n";
    $req .= "$_\r\n" for @{ $o{headers} || [] };
    $req .= "\r\n";
    my ($st, $h, $b) = http_raw($req, ($o{port} ? (port => $o{port}) : ()),
                                timeout => 10);
    return ($st, $h, $b);
}

1;
