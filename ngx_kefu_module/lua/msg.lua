-- msg: a message stored, on one Redis (no "kefu_redis cluster"): the
-- conversation's side and the site's (its event on the stream) in one
-- step, lib/msg.lua with here.  Evaluated with no keys: it spans the
-- conversation's slot and the site's (one Redis holds both).
--@include msg
return m_run(true)
