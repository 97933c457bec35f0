# Attachments in headless Chromium (t/browser/057-attachments.mjs): a
# visitor pastes an image into the widget, the agent sees the thumbnail
# in the console and opens it; the agent sends a PDF, the visitor
# downloads it; the widget's errors: too large, a type not allowed, quota.
use FindBin;
use lib "$FindBin::Bin/..";
use t::Kefu;
use Kefu::Browser;
use File::Temp qw(tempdir);

our $S = 'browser54-secret-0123456789abcdef';
$ENV{TEST_NGINX_UPLOAD_DIR} = tempdir('kefu-uploads.XXXXXX', TMPDIR => 1, CLEANUP => 1);

# no skip: without Chromium the file fails and says why
browser_blocks(site => 'b54', secret => $S,
    site_params => 'upload_max_size=300k upload_quota=2',
    http => "kefu_upload_path \$TEST_NGINX_UPLOAD_DIR;\n",
    locations => "location /files { kefu_upload; client_max_body_size 1m; }\n");

run_tests();

__DATA__

=== TEST 1: paste an image, the agent opens it; the agent sends a PDF, the visitor downloads it; errors
--- ws
browser_run('057-attachments.mjs', site => 'b54', secret => $main::S);
--- timeout: 120
