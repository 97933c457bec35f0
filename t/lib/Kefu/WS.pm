package Kefu::WS;

# A WebSocket client for the tests: real sockets, every wait bounded.
# Well-formed frames go through Debian's Protocol::WebSocket; hostile ones
# are built byte by byte with ws_frame().

use strict;
use warnings;

use Exporter 'import';
use IO::Socket::INET ();
use IO::Select ();
use Time::HiRes qw(sleep time);
use MIME::Base64 qw(encode_base64);
use Digest::SHA qw(sha1_base64 hmac_sha256);
use MIME::Base64 qw(encode_base64url);
use JSON::PP ();
use Protocol::WebSocket::Frame ();

our @EXPORT = qw(ws_connect http_raw ws_frame ws_close_payload json_enc
    json_dec kefu_port jwt_hs256 kefu_connect);

our $Port;

# TLS for every connection while set: {ca => PEM file to verify the server
# with, name => the name its certificate must have (default localhost)};
# or per call, tls => {...}
our $TLS;
my $JSON = JSON::PP->new->utf8->canonical->allow_nonref;

sub json_enc { $JSON->encode($_[0]) }

# An HS256 JWT, minted independently of the module.  Options: alg (header
# value), header (extra header fields), raw_payload (bytes instead of JSON).
sub jwt_hs256 {
    my ($claims, $secret, %o) = @_;
    my $h = encode_base64url(json_enc({alg => $o{alg} || 'HS256', typ => 'JWT',
                                       %{ $o{header} || {} }}));
    my $p = encode_base64url(defined $o{raw_payload} ? $o{raw_payload}
                                                     : json_enc($claims));
    return "$h.$p." . encode_base64url(hmac_sha256("$h.$p", $secret));
}
sub json_dec { $JSON->decode($_[0]) }

sub kefu_port {
    return $Port || $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
}

# One raw HTTP exchange: returns (status, {lowercased headers}, body, rest)
sub http_raw {
    my ($request, %opt) = @_;
    my $s = _socket(%opt) or die "connect: $!\n";
    print $s $request;
    my $data = _read_until($s, qr/\r\n\r\n/, $opt{timeout} || 10);
    my ($status, $headers, $rest) = _parse_head($data);
    my $len = $headers->{'content-length'};
    if (defined $len) {
        my $deadline = time + ($opt{timeout} || 10);
        my $sel = IO::Select->new($s);
        while (length($rest) < $len && time < $deadline) {
            last unless _readable($sel, $s, $deadline - time);
            sysread($s, my $buf, 65536) or last;
            $rest .= $buf;
        }
    }
    close $s;
    return ($status, $headers, $rest);
}

# ws_connect(path => '/chat', headers => ["Origin: x"], protocols => [..],
#            extra => $bytes_sent_right_behind_the_handshake,
#            expect => 101, port => N)
sub ws_connect {
    my (%opt) = @_;
    my $path = $opt{path} || '/chat';
    my $key = encode_base64(join('', map { chr(int rand 256) } 1 .. 16), '');

    my $req = "GET $path HTTP/1.1\r\nHost: localhost\r\n"
            . "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            . "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: $key\r\n";
    $req .= "Sec-WebSocket-Protocol: " . join(', ', @{ $opt{protocols} }) . "\r\n"
        if $opt{protocols};
    $req .= "$_\r\n" for @{ $opt{headers} || [] };
    $req .= "\r\n";
    $req .= $opt{extra} if defined $opt{extra};

    my $s = _socket(%opt) or die "connect: $!\n";
    print $s $req;

    my $data = _read_until($s, qr/\r\n\r\n/, $opt{timeout} || 10);
    my ($status, $headers, $rest) = _parse_head($data);

    my $expect = exists $opt{expect} ? $opt{expect} : 101;
    die "handshake answered $status, not $expect\n"
        if defined $expect && (!defined $status || $status != $expect);

    my $accept = sha1_base64($key . '258EAFA5-E914-47DA-95CA-C5AB0DC85B11') . '=';

    my $self = bless {
        sock => $s, status => $status, headers => $headers,
        accept_ok => (($headers->{'sec-websocket-accept'} || '') eq $accept),
        frame => Protocol::WebSocket::Frame->new(max_payload_size => 0,
                                                 max_fragments_amount => 0),
        pending => [],
    }, __PACKAGE__;

    $self->{frame}->append($rest) if length $rest;
    return $self;
}

# connect and say hello: returns ($ws, $welcome_or_error)
sub kefu_connect {
    my (%hello) = @_;
    my $port = delete $hello{port};
    my $ws = ws_connect($port ? (port => $port) : ());
    $ws->send_json({type => 'hello', %hello});
    return ($ws, $ws->recv_json);
}

# The first message for which $pred is true, reading for at most $timeout
# seconds (default 10); the messages read meanwhile are kept, in order, and
# returned by later calls (recv_json, recv_type, wait_for, drain) first.
sub wait_for {
    my ($self, $pred, $timeout) = @_;
    my $kept = $self->{kept} ||= [];
    for my $i (0 .. $#$kept) {
        my $m = $kept->[$i];
        next unless ref $m eq 'HASH' && !$m->{_close};
        if ($pred->($m)) { splice @$kept, $i, 1; return $m }
    }
    my $deadline = time + ($timeout // 10);
    while ((my $left = $deadline - time) > 0) {
        my $m = $self->_recv_json($left) or return undef;
        return $m if ref $m eq 'HASH' && !$m->{_close} && $pred->($m);
        push @$kept, $m;
        return undef if $m->{_close};
    }
    return undef;
}

# the first message of that type (the others kept, as wait_for)
sub recv_type {
    my ($self, $type, $timeout) = @_;
    return $self->wait_for(sub { ($_[0]{type} // '') eq $type }, $timeout);
}

# every message (kept ones first) up to and including the first for which
# $pred is true; dies when none comes within $timeout (default 10 s)
sub upto {
    my ($self, $pred, $timeout) = @_;
    my @all;
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $m = @{ $self->{kept} || [] } ? shift @{ $self->{kept} }
              : $self->_recv_json($deadline - time);
        die "upto: the awaited message did not come\n" unless $m;
        push @all, $m;
        return @all if ref $m eq 'HASH' && !$m->{_close} && $pred->($m);
        die "upto: closed before the awaited message\n" if $m->{_close};
    }
}

# every message kept and every one that arrives within the time
sub drain {
    my ($self, $timeout) = @_;
    my @all = splice @{ $self->{kept} || [] };
    while (my $m = $self->_recv_json($timeout)) {
        push @all, $m;
    }
    return @all;
}

# Proves an absence without waiting for it: sends a ping and returns every
# message that came before its pong (kept ones included; the pong is not
# returned).  Whatever the server would answer to what was sent before the
# ping has come by then.  Dies when no pong comes.
my $PingN = 0;
sub until_pong {
    my ($self, $timeout) = @_;
    my $id = 'sync-' . $$ . '-' . ++$PingN;
    $self->send_json({type => 'ping', id => $id});
    my @before = splice @{ $self->{kept} || [] };
    my $deadline = time + ($timeout // 10);
    while ((my $left = $deadline - time) > 0) {
        my $m = $self->_recv_json($left) or last;
        return @before if ($m->{type} // '') eq 'pong' && ($m->{id} // '') eq $id;
        push @before, $m;
        last if $m->{_close};
    }
    die "no pong for $id\n";
}

sub status { $_[0]{status} }
sub header { $_[0]{headers}{lc $_[1]} }
sub accept_ok { $_[0]{accept_ok} }
sub sock { $_[0]{sock} }

# ws_frame($opcode, $payload, fin => 1, mask => 1, rsv => 0, len => override)
sub ws_frame {
    my ($op, $payload, %o) = @_;
    $payload = '' unless defined $payload;
    my $fin = exists $o{fin} ? $o{fin} : 1;
    my $mask = exists $o{mask} ? $o{mask} : 1;
    my $rsv = $o{rsv} || 0;
    my $len = length $payload;
    my $b0 = ($fin ? 0x80 : 0) | ($rsv << 4) | $op;
    my $mbit = $mask ? 0x80 : 0;
    my $hdr;
    my $form = $o{len_form} || ($len < 126 ? 7 : $len < 65536 ? 16 : 64);
    if ($form == 7) { $hdr = pack('CC', $b0, $mbit | $len) }
    elsif ($form == 16) { $hdr = pack('CCn', $b0, $mbit | 126, $len) }
    else { $hdr = pack('CCNN', $b0, $mbit | 127, int($len / 2**32), $len % 2**32) }
    return $hdr . $payload unless $mask;
    my @m = map { int rand 256 } 1 .. 4;
    my $i = 0;
    my $masked = join '', map { chr(ord($_) ^ $m[$i++ % 4]) } split //, $payload;
    return $hdr . pack('C4', @m) . $masked;
}

sub ws_close_payload {
    my ($code, $reason) = @_;
    return '' unless defined $code;
    return pack('n', $code) . (defined $reason ? $reason : '');
}

sub send_raw {
    my ($self, $bytes) = @_;
    my $s = $self->{sock};
    local $SIG{PIPE} = 'IGNORE';
    my $off = 0;
    while ($off < length $bytes) {
        my $n = syswrite($s, $bytes, length($bytes) - $off, $off);
        return 0 unless defined $n;
        $off += $n;
    }
    return 1;
}

# one byte per write, to prove the parser does not care about segmentation
sub send_slowly {
    my ($self, $bytes, $delay) = @_;
    for my $c (split //, $bytes) {
        $self->send_raw($c) or return 0;
        sleep($delay || 0.001);
    }
    return 1;
}

sub send_frame {
    my ($self, $op, $payload, %o) = @_;
    return $self->send_raw(ws_frame($op, $payload, %o));
}

sub send_text {
    my ($self, $text) = @_;
    my $f = Protocol::WebSocket::Frame->new(buffer => $text, type => 'text',
                                            masked => 1,
                                            max_payload_size => 0);
    return $self->send_raw($f->to_bytes);
}

sub send_json { $_[0]->send_text(json_enc($_[1])) }

# Next frame as {op, fin, payload}; {eof => 1} when the server closed the
# connection; undef on timeout.
sub recv_frame {
    my ($self, $timeout) = @_;
    $timeout = 10 unless defined $timeout;
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($self->{sock});

    while (1) {
        my $payload = eval { $self->{frame}->next_bytes };
        return { error => $@ } if $@;
        if (defined $payload) {
            return { op => $self->{frame}->opcode, fin => 1,
                     payload => $payload };
        }
        return { eof => 1 } if $self->{eof};
        my $left = $deadline - time;
        return undef if $left <= 0;
        return undef unless _readable($sel, $self->{sock}, $left);
        my $n = sysread($self->{sock}, my $buf, 65536);
        if (!$n) { $self->{eof} = 1; next }
        $self->{frame}->append($buf);
    }
}

# Next application message, decoded (kept ones first); server pings are
# answered on the way.
sub recv_json {
    my ($self, $timeout) = @_;
    return shift @{ $self->{kept} } if @{ $self->{kept} || [] };
    return $self->_recv_json($timeout);
}

sub _recv_json {
    my ($self, $timeout) = @_;
    # one bound for all the frames read: the server's pings, answered
    # here, do not start it again
    my $deadline = time + ($timeout // 10);
    while (1) {
        my $left = $deadline - time;
        return undef if $left <= 0;
        my $f = $self->recv_frame($left);
        return undef unless $f && defined $f->{op};
        if ($f->{op} == 9) {
            $self->send_frame(10, $f->{payload});
            next;
        }
        return { _close => $self->_close_of($f) } if $f->{op} == 8;
        return json_dec($f->{payload}) if $f->{op} == 1;
        return undef;
    }
}

# Reads until a close frame: returns (code, reason), code undef for none;
# (-1) on timeout or EOF without a close frame.  Text frames before it are
# collected in $self->{before_close}.
sub recv_close {
    my ($self, $timeout) = @_;
    $self->{before_close} = [];
    while (1) {
        my $f = $self->recv_frame($timeout);
        return (-1, 'timeout') unless $f;
        return (-1, 'eof') if $f->{eof};
        return (-1, "bad frame: $f->{error}") if $f->{error};
        if ($f->{op} == 8) {
            my $c = $self->_close_of($f);
            return ($c->[0], $c->[1]);
        }
        push @{ $self->{before_close} }, $f;
    }
}

sub _close_of {
    my ($self, $f) = @_;
    return [undef, ''] if length($f->{payload}) < 2;
    return [unpack('n', $f->{payload}), substr($f->{payload}, 2)];
}

# true when the server closes the TCP connection within the time
sub expect_eof {
    my ($self, $timeout) = @_;
    $timeout = 10 unless defined $timeout;
    my $deadline = time + $timeout;
    my $sel = IO::Select->new($self->{sock});
    while (time < $deadline) {
        return 1 if $self->{eof};
        last unless _readable($sel, $self->{sock}, $deadline - time);
        my $n = sysread($self->{sock}, my $buf, 65536);
        return 1 if !$n;
    }
    return 0;
}

# the client's side of a clean close
sub close_ws {
    my ($self, $code, $reason) = @_;
    $self->send_frame(8, ws_close_payload($code, $reason));
    return $self->recv_close(10);
}

sub _socket {
    my (%opt) = @_;
    my $tls = exists $opt{tls} ? $opt{tls} : $TLS;
    if ($tls) {
        require IO::Socket::SSL;
        my $s = IO::Socket::SSL->new(
            PeerAddr => '127.0.0.1', PeerPort => $opt{port} || kefu_port(),
            Timeout => 3,
            SSL_ca_file => $tls->{ca},
            SSL_verify_mode => IO::Socket::SSL::SSL_VERIFY_PEER(),
            SSL_hostname => $tls->{name} || 'localhost',
            SSL_verifycn_name => $tls->{name} || 'localhost',
            SSL_verifycn_scheme => 'http',
            ($tls->{alpn} ? (SSL_alpn_protocols => $tls->{alpn}) : ()),
        ) or die "TLS connect: " . IO::Socket::SSL::errstr() . "\n";
        return $s;
    }
    return IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                 PeerPort => $opt{port} || kefu_port(),
                                 Timeout => 10, Proto => 'tcp');
}

# select() sees the socket, not what TLS has already decrypted
sub _readable {
    my ($sel, $s, $timeout) = @_;
    return 1 if $s->can('pending') && $s->pending;
    return $sel->can_read($timeout);
}

sub _read_until {
    my ($s, $re, $timeout) = @_;
    my $sel = IO::Select->new($s);
    my $data = '';
    my $deadline = time + $timeout;
    while ($data !~ $re && time < $deadline) {
        last unless _readable($sel, $s, $deadline - time);
        my $n = sysread($s, my $buf, 65536);
        last unless $n;
        $data .= $buf;
    }
    return $data;
}

sub _parse_head {
    my ($data) = @_;
    my ($head, $rest) = split /\r\n\r\n/, $data, 2;
    $rest = '' unless defined $rest;
    my @lines = split /\r\n/, $head || '';
    my ($status) = (shift(@lines) || '') =~ m{^HTTP/1\.\d (\d+)};
    my %h;
    for (@lines) {
        my ($k, $v) = /^([^:]+):\s*(.*)$/ or next;
        $h{lc $k} = defined $h{lc $k} ? "$h{lc $k}, $v" : $v;
    }
    return ($status, \%h, $rest);
}

1;
