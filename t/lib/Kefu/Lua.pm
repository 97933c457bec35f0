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
    return _shake($out);
}

# the top-level functions the script never calls left out, as
# ngx_kefu_lua.sh's shake() does: a "local function <name>(" block (to the
# next line "end", or the line itself when it ends with " end") is kept
# when its name is a word of a line outside every block or of a kept block
sub _shake {
    my ($src) = @_;
    my @l = split /\n/, $src;
    my (@own, %idx, %edge);
    my $nb = 0;
    for (my $i = 0; $i < @l; $i++) {
        $own[$i] = 0;
        next unless $l[$i] =~ /^local function ([A-Za-z_]\w*)\(/;
        my ($w, $j) = ($1, $i);
        if ($l[$i] !~ / end$/) { $j++ while $j < $#l && $l[$j] ne 'end' }
        $idx{$w} = ++$nb;
        $own[$_] = $nb for $i .. $j;
        $i = $j;
    }
    for my $i (0 .. $#l) {
        for my $w (split /[^A-Za-z0-9_]+/, $l[$i]) {
            $edge{$own[$i]}{$idx{$w}} = 1 if $idx{$w} && $idx{$w} != $own[$i];
        }
    }
    my %live = (0 => 1);
    my @todo = (0);
    while (@todo) {
        my $b = pop @todo;
        for my $k (keys %{ $edge{$b} || {} }) {
            push @todo, $k unless $live{$k}++;
        }
    }
    return join '', map { "$l[$_]\n" } grep { $live{$own[$_]} } 0 .. $#l;
}

1;
