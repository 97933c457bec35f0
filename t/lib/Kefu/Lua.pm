package Kefu::Lua;

# A script's source as the build makes it (ngx_kefu_module/lua/
# ngx_kefu_lua.sh): each "--@include <name>" replaced by lua/lib/<name>.lua,
# once a script, and lines that are only a "--" comment or blank left out.
# For tests that run a script by hand (EVAL), as a worker that died after
# it would have.

use strict;
use warnings;

use Exporter 'import';
use FindBin;

our @EXPORT_OK = qw(lua_script);

my $DIR = "$FindBin::Bin/../ngx_kefu_module/lua";

sub lua_script {
    my ($name) = @_;
    my (%seen, $out);
    my $emit;
    $emit = sub {
        my ($file) = @_;
        open my $fh, '<', $file or die "$file: $!";
        while (my $l = <$fh>) {
            chomp $l;
            if ($l =~ /^\s*--\@include\s+(\S+)/) {
                my $f = "$DIR/lib/$1.lua";
                $emit->($f) unless $seen{$f}++;
                next;
            }
            next if $l =~ /^\s*--/ || $l =~ /^\s*$/;
            $out .= "$l\n";
        }
        close $fh;
    };
    $emit->("$DIR/$name.lua");
    return $out;
}

1;
