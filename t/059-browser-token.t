# The standalone widget page takes a token out of its own address
# (t/browser/059-token.mjs, in headless Chromium); here, after the pages
# closed: the access log has the token only in the request that brought it
# in the query (never in a Referer, a reload, widget.js or the chat
# session; never the fragment's), and the page trail in Redis has none.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;

our $S = 'browser58-secret-0123456789abcdef';

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b58', secret => $S,
    http => "log_format tok58 '\$request \"\$http_referer\"';\n",
    chat => 'kefu_chat; access_log logs/tok58.log tok58;',
    root => 'access_log logs/tok58.log tok58;');

run_tests();

__DATA__

=== TEST 1: a token in the query or the fragment: gone from the address, the page trail and the access log
--- ws
my $r = int(rand 1e9);
my @subs = ("tq$r", "tf$r");
{
    local $ENV{KEFU_SUB1} = $subs[0];
    local $ENV{KEFU_SUB2} = $subs[1];
    browser_run('059-token.mjs', site => 'b58', secret => $main::S);
}

# a chat session's line is written when it ends: three sessions (the
# query's page, its reload, the fragment's page)
my $log = Test::Nginx::Socket::server_root() . '/logs/tok58.log';
my @l;
for (1 .. 200) {
    @l = do { open my $f, '<', $log or last; <$f> };
    last if grep(m{^GET /chat}, @l) >= 3;
    select(undef, undef, undef, 0.05);
}
chomp @l;
is(scalar(grep m{^GET /chat}, @l), 3, 'the three chat sessions are logged');
ok(scalar(grep m{^GET /widget/widget\.js}, @l) >= 1, "the page's requests are logged");
my @tok = grep /token/, @l;
is(scalar @tok, 1, 'one line names a token') or diag join "\n", @l;
like($tok[0] // '', qr{^GET /widget/\?site=b58&lang=en&group=\S+&token=\S+ HTTP/1\.1 "-"$},
     'it is the request that brought it in the query, with no Referer');
ok(!grep(m{^GET /widget/\?site=b58&lang=zh}, @tok), "the fragment's token never reached the server");

# the page trails: what the pages reported, without a token
for my $sub (@subs) {
    my $pages = `redis-cli -p $ENV{TEST_NGINX_REDIS_PORT} --no-raw LRANGE 'kefu:{s:b58}:v:$sub:pages' 0 -1`;
    like($pages, qr{/widget/\?site=b58}, "$sub: the page trail has the widget's address");
    unlike($pages, qr/token/, "$sub: without the token");
}
--- timeout: 150
