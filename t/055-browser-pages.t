# The widget on real shop pages, in headless Chromium
# (t/browser/055-pages.mjs): a GBK page, a refused token, a frozen server.
# Also: the widget's files are ASCII, so they need no charset.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use Encode ();
use File::Temp ();

our $S = 'browser55-secret-0123456789abcdef';

# the shop page, written in GBK
our $Dir = File::Temp::tempdir(CLEANUP => 1);
{
    open my $f, '>:raw', "$Dir/shop.html" or die $!;
    print $f Encode::encode('gbk', "<!doctype html>\n<html><head><meta charset=\"gbk\"><link rel=\"icon\" href=\"data:,\"><title>\x{56fd}\x{8d27}\x{8336}\x{53f6}</title></head>\n"
        . "<body><h1>\x{56fd}\x{8d27}\x{8336}\x{53f6}\x{65d7}\x{8230}\x{5e97}</h1><p>\x{6b22}\x{8fce}\x{5149}\x{4e34}</p>\n"
        . "<script src=\"/widget/widget.js\" data-site=\"b55\" data-group=\"GROUP\" async></script>\n</body></html>\n");
    close $f;
}
$ENV{TEST_NGINX_GBK_DIR} = $Dir;

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b55', secret => $S,
    locations => "location /gbk/ { alias \$TEST_NGINX_GBK_DIR/; charset gbk; }\n");

run_tests();

__DATA__

=== TEST 1: the widget's files are ASCII: any page charset reads them right
--- ws
for my $f (qw(widget.js widget.css)) {
    open my $fh, '<:raw', main::kefu_root() . "/html/widget/$f" or die $!;
    local $/;
    my $s = <$fh>;
    ok($s !~ /[^\x00-\x7f]/, "html/widget/$f is ASCII");
}



=== TEST 2: a GBK page, a frozen server, a refused token
--- ws
my $g = 'g' . int(rand 1e9);
{
    local @ARGV = ("$main::Dir/shop.html");
    local $^I = '';
    while (<>) { s/data-group="[^"]*"/data-group="$g"/; print; }
}
local $ENV{KEFU_NGINX_PID} = nginx_pid();
browser_run('055-pages.mjs', site => 'b55', secret => $main::S, group => $g);
--- timeout: 150
