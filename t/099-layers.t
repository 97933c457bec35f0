# The layers (docs/architecture.md, issue 17): scripts/check-layers
# passes on the module's sources: every file in a layer of the page's
# table, no call to a function of a layer above, each header declaring
# its own files' functions, the names the page's map gives in the
# sources.  And it fails on a copy of the sources with a call upward, a
# header declaring another file's function and one that no file
# defines, and a file in no layer; and on a copy of the page naming a
# function and a file the sources do not have.
use strict;
use warnings;
use FindBin;
use Test::More;
use File::Temp qw(tempdir);
use File::Copy qw(copy);

my $Root = "$FindBin::Bin/..";
my $check = "$Root/scripts/check-layers";

my $out = `$check 2>&1`;
is($?, 0, 'the sources pass') or diag $out;
like($out, qr/no call upward/, 'and it says what it checked');
like($out, qr/the \d+ names of the page's map are in the sources/, '... the map\'s names too');

# a copy with what it must find
my $dir = tempdir(CLEANUP => 1);
for my $f (glob "$Root/ngx_kefu_module/*.[ch]") {
    copy($f, $dir) or die "$f: $!";
}
sub append {
    my ($file, $text) = @_;
    open my $fh, '>>', "$dir/$file" or die $!;
    print $fh $text;
    close $fh;
}
# the transport calling a chat operation by name
append('ngx_kefu_ws.c', "\nvoid\nngx_kefu_ws_up(void)\n{\n    ngx_kefu_msg(NULL, NULL);\n}\n");
# a generic header declaring the transport's function, and a function of no file
append('ngx_kefu_util.h', "ngx_int_t ngx_kefu_ws_send_text(ngx_kefu_ws_t *ws, u_char *p, size_t len);\n"
                         . "void ngx_kefu_util_nowhere(void);\n");
append('ngx_kefu_newfile.c', "\n");

$out = `$check $dir $Root/docs/architecture.md 2>&1`;
isnt($?, 0, 'a copy with those fails');
like($out, qr/ngx_kefu_ws\.c \(transport\) calls ngx_kefu_msg\(\) of ngx_kefu_msg\.c \(chat operations\): a layer above/,
     'the call upward');
like($out, qr/ngx_kefu_util\.h declares ngx_kefu_ws_send_text\(\) of ngx_kefu_ws\.c, not its own file/,
     'the header declaring another file\'s function');
like($out, qr/ngx_kefu_util\.h declares ngx_kefu_util_nowhere\(\), which no file defines/,
     'the declaration of nothing');
like($out, qr/ngx_kefu_newfile\.c: in no layer/, 'the file in no layer');

# the page's map naming what is gone (a function, a file, a script)
open my $in, '<', "$Root/docs/architecture.md" or die $!;
my $page = do { local $/; <$in> };
close $in;
ok($page =~ s/`ngx_kefu_ws_flush\(\)`/`ngx_kefu_ws_flushed()`/, 'the page names ngx_kefu_ws_flush()');
ok($page =~ s/`ngx_kefu_redis_gather\.c`/`ngx_kefu_redis_gathered.c`/, '... and ngx_kefu_redis_gather.c');
ok($page =~ s/`lua\/range\.lua`/`lua\/ranged.lua`/, '... and lua/range.lua');
open my $outf, '>', "$dir/architecture.md" or die $!;
print $outf $page;
close $outf;
$out = `$check $Root/ngx_kefu_module $dir/architecture.md 2>&1`;
isnt($?, 0, 'a page naming those fails');
like($out, qr/names ngx_kefu_ws_flushed\(\), which no file defines/, 'the function that is not there');
like($out, qr/names ngx_kefu_redis_gathered\.c, which is no file/, 'the file that is not there');
like($out, qr/names lua\/ranged\.lua, which is no file/, 'the script that is not there');

done_testing();
