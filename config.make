# nginx addon make fragment for ngx_kefu_module, read by ./configure after
# it wrote the Makefile: the generated scripts follow their .lua files.

cat << END                                            >> $NGX_MAKEFILE

$KEFU_LUA_GEN/ngx_kefu_lua.c:	$KEFU_LUA $KEFU_DIR/lua/ngx_kefu_lua.sh
	sh $KEFU_DIR/lua/ngx_kefu_lua.sh $KEFU_DIR/lua $KEFU_LUA_GEN

END
