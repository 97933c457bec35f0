# docs/tokens.md's minting examples, exactly as the page shows them, run
# with Debian's runtimes (Python, Node.js, PHP, Go, Java): what each
# mints is accepted by the module: a visitor's hello (with a UTF-8 name)
# and an agent's hello over a real WebSocket, a service token on the HTTP
# API; the same program with another secret is refused.  And
# scripts/kefu-token mints every role, service included.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::API;
use File::Temp qw(tempdir);
use Encode qw(encode_utf8 decode_utf8);

our $S = 'shop1-secret-0123456789abcdef';
our $Dir = tempdir(CLEANUP => 1);

# the examples: each fenced block after a "<!-- t/083-tokens.t: FILE -->"
our %Files;
{
    open my $fh, '<', kefu_root() . '/docs/tokens.md' or die $!;
    my $doc = do { local $/; <$fh> };
    while ($doc =~ /^<!-- t\/083-tokens\.t: (\S+) -->\n```\w*\n(.*?)^```$/msg) {
        $Files{$1} = $2;
        open my $out, '>', "$Dir/$1" or die $!;
        print $out $2;
        close $out;
    }
}

our $Root = kefu_root();
$ENV{GOCACHE} ||= "$Root/build/go-cache";
$ENV{GOPATH} ||= "$Root/build/go";
$ENV{HOME} ||= $Dir;

# [language, file, command, build step]: Go and Java are compiled once
# (what "go run" and "java Mint.java" do on each call)
our @Langs = (
    ['Python',  'mint.py',   "python3 $Dir/mint.py"],
    ['Node.js', 'mint.js',   "node $Dir/mint.js"],
    ['PHP',     'mint.php',  "php $Dir/mint.php"],
    ['Go',      'mint.go',   "$Dir/mint-go", "cd $Dir && go build -o mint-go mint.go"],
    ['Java',    'Mint.java', "java -cp $Dir Mint", "javac -d $Dir $Dir/Mint.java"],
);

# runs an example: the token it prints (one line), or dies with its output
sub mint {
    my ($cmd, $secret, @args) = @_;
    local $ENV{KEFU_SECRET} = $secret;
    my $q = join ' ', map { my $a = $_; $a =~ s/'/'\\''/g; "'$a'" } @args;
    my $out = `$cmd $q 2>&1`;
    die "$cmd failed ($?): $out\n" if $? != 0;
    chomp $out;
    die "$cmd printed no token: $out\n" unless $out =~ /^[\w-]+\.[\w-]+\.[\w-]+$/;
    return $out;
}

run_tests();

__DATA__

=== TEST 1: every language's token is accepted: visitor and agent hellos, a service call to the API
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
--- ws
is(scalar(keys %main::Files), 5, 'docs/tokens.md has the five examples');
api_ready('/kefu/api/sites/shop1/agents',
          token => api_token(secret => $main::S, site => 'shop1'));
my $name = "\x{674e}\x{96f7}";     # 李雷
for my $l (@main::Langs) {
    my ($lang, $file, $cmd, $build) = @$l;
    ok($main::Files{$file}, "$lang: the example is in the docs ($file)") or next;
    if ($build) {
        my $out = `$build 2>&1`;
        is($?, 0, "$lang: it compiles") or do { diag($out); next };
    }
    my $ok = eval {
        my $sub = lc($lang) =~ s/\W//gr;
        my $tok = main::mint($cmd, $main::S, 'shop1', 'visitor', "c-$sub", encode_utf8($name));
        my ($ws, $w) = kefu_connect(role => 'visitor', site => 'shop1', token => $tok);
        is($w->{type}, 'welcome', "$lang: a visitor's token is welcomed")
            or diag(explain($w));
        is($w->{id}, "c-$sub", "$lang: as the token's sub");
        is($w->{name}, $name, "$lang: with its UTF-8 name");

        $tok = main::mint($cmd, $main::S, 'shop1', 'agent', "a-$sub", 'Agent', 'presales,vip');
        ($ws, $w) = kefu_connect(role => 'agent', site => 'shop1', token => $tok);
        is($w->{type}, 'welcome', "$lang: an agent's token (with groups) is welcomed")
            or diag(explain($w));

        $tok = main::mint($cmd, $main::S, 'shop1', 'service', "erp-$sub");
        my ($st, $j) = api(GET => '/kefu/api/sites/shop1/agents', undef, token => $tok);
        is($st, 200, "$lang: a service token is accepted by the HTTP API") or diag(explain($j));

        $tok = main::mint($cmd, 'another-secret-0123456789abcdef', 'shop1', 'service', "erp-$sub");
        ($st) = api(GET => '/kefu/api/sites/shop1/agents', undef, token => $tok);
        is($st, 401, "$lang: signed with another secret, it is refused");
        1;
    };
    fail("$lang: $@") unless $ok;
}



=== TEST 2: scripts/kefu-token mints every role, service included
--- http_config
    kefu_redis 127.0.0.1:$TEST_NGINX_REDIS_PORT;
    kefu_site shop1 secret=shop1-secret-0123456789abcdef;
--- config
    location = /chat { kefu_chat; }
    location /kefu/api/ { kefu_api; }
--- ws
my $kt = "$main::Root/scripts/kefu-token --site shop1 --secret $main::S";
api_ready('/kefu/api/sites/shop1/agents',
          token => api_token(secret => $main::S, site => 'shop1'));
for my $role (qw(visitor agent admin)) {
    my $tok = `$kt --role $role --sub kt-$role --name Kay`;
    chomp $tok;
    my ($ws, $w) = kefu_connect(role => $role, site => 'shop1', token => $tok);
    is($w->{type}, 'welcome', "kefu-token --role $role: welcomed") or diag(explain($w));
}
my $tok = `$kt --role service --sub erp`;
chomp $tok;
my ($st) = api(GET => '/kefu/api/sites/shop1/agents', undef, token => $tok);
is($st, 200, 'kefu-token --role service: accepted by the HTTP API');
my ($ws, $w) = kefu_connect(role => 'service', site => 'shop1', token => $tok);
is($w->{type}, 'error', 'and not on a WebSocket');
like(`$kt --role nobody --sub x 2>&1`, qr/invalid choice/, 'an unknown role is refused');
--- timeout: 60
