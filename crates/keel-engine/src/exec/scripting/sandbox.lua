-- Keel's script sandbox, run once per Lua state with the state's real globals. Scripts never see those:
-- they run in `env`, a read-only view of an allow-listed API (Redis 7's locked globals), where reading an
-- unknown name fails and writing anything fails, and so do the library tables and metatables they reach.
local G, error_text, redis, load_redis = ...
local dbg = G.debug
local setmetatable, getmetatable, rawset, rawget = G.setmetatable, G.getmetatable, G.rawset, G.rawget
local type, tostring, error, select, unpack, next = G.type, G.tostring, G.error, G.select, G.unpack, G.next
local lua_pcall, lua_xpcall, loadstring, setfenv = G.pcall, G.xpcall, G.loadstring, G.setfenv

local readonly = setmetatable({}, {__mode = 'k'})
local function deny() error('Attempt to modify a readonly table', 2) end

-- What getmetatable() hands out for a protected table: a read-only table of `fields`. The metatable itself
-- is never handed out: its __index leads to the table it protects, which scripts must not reach.
local function sealed(fields)
  local view = setmetatable({}, {__index = fields, __newindex = deny})
  getmetatable(view).__metatable = view
  readonly[view] = true
  return view
end

-- The table behind each read-only view of one, so that pairs() lists what the view reads.
local viewed = setmetatable({}, {__mode = 'k'})

-- A read-only view whose reads go to `lookup` (a table, or an __index function). Its sealed metatable's
-- __index is the view itself.
local function protect(lookup)
  local mt = {__index = lookup, __newindex = deny}
  local proxy = setmetatable({}, mt)
  mt.__metatable = sealed({__index = proxy, __newindex = deny})
  readonly[proxy] = true
  if type(lookup) == 'table' then viewed[proxy] = lookup end
  return proxy
end

-- Reading a name the API does not have fails (Redis's locked globals), blaming the script's line.
local function missing_text(name)
  return "Script attempted to access nonexistent global variable '" .. tostring(name) .. "'"
end
local function missing(_, name) error(missing_text(name), 2) end

-- A read-only view of what `get` returns, where reading a missing name fails.
local function strict(get)
  return protect(function(_, name)
    local value = get(name)
    if value == nil then error(missing_text(name), 2) end
    return value
  end)
end

local function pack(...) return {n = select('#', ...), ...} end

-- An error as scripts see it: Rust errors become their message; Redis error tables become their text.
local function plain_error(e)
  if type(e) == 'userdata' then return (error_text(e)) end
  if type(e) == 'table' and type(e.err) == 'string' then return e.err end
  return e
end

local function is_kill(e)
  return type(e) == 'userdata' and select(2, error_text(e)) == 'kill'
end

-- The globals scripts see: reads go through to the API in use (a table, so a global costs two table
-- lookups and no call), whose own metatable fails a missing name; writes fail.
local env_mt = {__newindex = deny}
local env = setmetatable({}, env_mt)
env_mt.__metatable = sealed({__index = env, __newindex = deny})
readonly[env] = true

local runtime_api = {
  xpcall = lua_xpcall, tostring = tostring, next = next, assert = G.assert, tonumber = G.tonumber,
  rawequal = G.rawequal, collectgarbage = G.collectgarbage, getmetatable = getmetatable, rawget = rawget,
  type = type, select = select, unpack = unpack, gcinfo = G.gcinfo, pairs = G.pairs, ipairs = G.ipairs,
  _VERSION = G._VERSION, error = error, coroutine = protect(G.coroutine), _G = env,
  string = protect(G.string), math = protect(G.math), table = protect(G.table),
  cjson = protect(G.cjson), bit = protect(G.bit), cmsgpack = protect(G.cmsgpack), struct = protect(G.struct),
  redis = protect(redis), os = protect(G.os),
}
-- pairs() over a library lists its contents, as over Redis's read-only tables; the view stays read-only.
runtime_api.pairs = function(t)
  local target = viewed[t]
  -- The iterator's state is the view, not the table behind it, which scripts must not reach.
  if target then return function(_, k) return next(target, k) end, t, nil end
  return G.pairs(t)
end
-- Lua 5.1's unpack counts its results in an int and overflows on huge ranges (Redis patched its copy):
-- the range is checked here, in doubles, first.
local lua_unpack, tonumber = unpack, G.tonumber
runtime_api.unpack = function(t, i, j)
  i = tonumber(i) or 1
  j = tonumber(j) or #t
  if i <= j and j - i >= 7999 then error('too many results to unpack', 0) end
  -- Lua's own check counts the arguments on the stack too: pass only the table when it can.
  if i == 1 and j == #t then return lua_unpack(t) end
  return lua_unpack(t, i, j)
end
runtime_api.setmetatable = function(t, mt)
  if readonly[t] then deny() end
  return setmetatable(t, mt)
end
runtime_api.rawset = function(t, k, v)
  if readonly[t] then deny() end
  return rawset(t, k, v)
end
-- Redis 7's pcall hands scripts the text of a redis.call error, not its table; a SCRIPT KILL goes through.
runtime_api.pcall = function(f, ...)
  local r = pack(lua_pcall(f, ...))
  if not r[1] then
    if is_kill(r[2]) then error(r[2], 0) end
    r[2] = plain_error(r[2])
  end
  return unpack(r, 1, r.n)
end
-- Code loaded at run time runs in the sandbox too, and only as source: Lua 5.1 trusts bytecode blindly.
runtime_api.loadstring = function(code, name)
  if type(code) == 'string' and code:byte(1) == 27 then
    return nil, 'attempt to load a binary chunk'
  end
  local f, e = loadstring(code, name)
  if f then setfenv(f, env) end
  return f, e
end
runtime_api.load = function(reader, name)
  local parts = {}
  while true do
    local piece = reader()
    if piece == nil or piece == '' then break end
    if type(piece) ~= 'string' then return nil, 'reader function must return a string' end
    parts[#parts + 1] = piece
  end
  return runtime_api.loadstring(G.table.concat(parts), name)
end

-- While a library loads it sees `redis` (register_function, log, version) and nothing else, and reading
-- anything missing, even from `redis`, fails (Redis's library API).
local load_api = setmetatable({redis = strict(function(name) return load_redis[name] end)}, {__index = missing})
setmetatable(runtime_api, {__index = missing})
env_mt.__index = runtime_api

-- Metatables of basic types are sealed as well.
local string_mt = getmetatable('')
string_mt.__metatable = sealed({__index = runtime_api.string})

-- Redis's __redis__err__handler: the error as a table with the script's source and line.
local function err_handler(err)
  if type(err) == 'userdata' then
    local text, kind = error_text(err)
    err = (kind == 'redis') and {err = text} or text
  end
  local level = 2
  local info = dbg.getinfo(level, 'nSl')
  while info and (info.what == 'C' or info.source == '@keel_sandbox') do
    level = level + 1
    info = dbg.getinfo(level, 'nSl')
  end
  if type(err) ~= 'table' then err = {err = 'ERR ' .. tostring(err)} end
  if info then
    err.source = info.source
    err.line = info.currentline
  end
  return err
end
runtime_api.__redis__err__handler = err_handler

local function use_api(which)
  env_mt.__index = (which == 'load') and load_api or runtime_api
end

-- The engine runs scripts itself (`engine::run_script`): under `err_handler`, with their KEYS and ARGV set
-- in `runtime_api`.
return {env = env, use_api = use_api, err_handler = err_handler, runtime_api = runtime_api}
