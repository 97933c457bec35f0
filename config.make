# nginx addon make fragment for ngx_kefu_module, read by ./configure after
# it wrote the Makefile: the generated scripts follow their .lua files.
# The header is written by the same run (only when it changed, so that a
# script edit does not rebuild every object); its rule makes that run come
# before the objects that include it.

cat << END                                            >> $NGX_MAKEFILE

$KEFU_LUA_GEN/ngx_kefu_lua.c:	$KEFU_LUA $KEFU_DIR/lua/ngx_kefu_lua.sh
	sh $KEFU_DIR/lua/ngx_kefu_lua.sh $KEFU_DIR/lua $KEFU_LUA_GEN

$KEFU_LUA_GEN/ngx_kefu_lua.h:	$KEFU_LUA_GEN/ngx_kefu_lua.c
	@:

END
