import { createHash } from 'node:crypto'

/**
 * A batch of decisions, atomically, in Redis: the script runs them one after the other in
 * arrival order, each exactly as `decide()` in memory.ts would (line by line), so the batch is
 * equivalent to the same decisions sent one by one with nothing in between. One EVALSHA per
 * batch amortises Redis' per-command and per-script-call costs and the client's per-command
 * costs over up to `MAX_BATCH` decisions.
 *
 * KEYS     per decision: the partition's state hash (`r:<rule>` -> TAT µs, `qr`/`qu` -> quota
 *          period end µs and credits used, `x` -> when the key's TTL ends, µs), then its
 *          idempotency record (`<operation hash>:<expiry µs>` of the first admitted request)
 *          when it has one.
 *          The TTL is only extended when state would outlive it, then with a quarter of the
 *          longest window as slack, so the key lives at most 1.25x longer than its state matters.
 * ARGV[1]  m, the number of decisions; ARGV[2] the idempotency TTL ms; ARGV[3] the deadline,
 *          Redis time in µs, after which the batch must not run (empty when the client does
 *          not know Redis' clock yet): a batch the client gave up on (timeout) and answered
 *          with its failure policy may still reach Redis later, and must not charge then
 * ARGV[4 .. m+3]  one per decision: the ARGV position of its rule set (below) when it costs 1,
 *          uses Redis' clock and has no idempotency key (the common case, no parsing), else
 *          `<position>,<cost>,<now µs or empty>,<operation hash (hex) or empty>`; an operation
 *          hash means the decision has an idempotency key
 * ARGV[m+4 ..]    the batch's distinct rule sets, each: n rules, quota limit (0 = none), quota
 *          period µs, the n rule fields, then per rule interval T µs and limit (window =
 *          T * limit). The client caches this per rule set: no per-call formatting.
 *
 * An idempotency record found with the same operation hash makes the decision a replay:
 * judged and charged by the rate limits only, the quota neither checked nor charged. With
 * another hash the key is reused: refused, nothing charged, the state reported as by cost 0.
 * Only an admitted first request writes the record (the modes of `decide()` in memory.ts).
 *
 * Returns `{'late', clock}` past the deadline, charging nothing. Otherwise one flat array: Redis'
 * clock in µs (the client learns the offset to its own clock from it), then per decision either
 * integers: the status (0 admitted, -1 admitted as a replay, 3 idempotency_key_reused, else
 * `retryAfterMs * 4 + code`, code 1 rate_limited, 2 quota_exhausted, whose wait is at least
 * 1 ms), per rule how far its TAT is ahead of now after the decision, µs (the client derives
 * remaining and resetMs from it, as memory.ts does), then with a quota the credits left and ms
 * until the period ends; or one string, `!<message>`, when that decision failed (it is not
 * retried; the client applies its failure policy to it alone).
 * Redis' TIME is read once per batch: the batch is one atomic step, so one instant.
 * Numbers handed to redis.call are formatted with 17 significant digits, so µs timestamps
 * (16 digits) survive; tostring() would round them, hence no string building with them.
 */
export const LIMIT_SCRIPT = `
-- locals: global lookups cost a table access each, and this runs per decision
local tonumber, unpack, call, ceil, floor = tonumber, unpack, redis.call, math.ceil, math.floor
local m = tonumber(ARGV[1])
local idemTtl = ARGV[2]
local idemTtlUs = tonumber(idemTtl) * 1000
local tm = call('TIME')
local clock = tm[1] * 1000000 + tm[2]
local deadline = tonumber(ARGV[3])
if deadline and clock > deadline then return { 'late', clock } end
local specs = {}
local out = { clock }
local o = 1
-- scratch tables reused by every decision of the batch (read up to their explicit lengths)
local tats = {}
local args = {}

local function spec(pos)
  local s = specs[pos]
  if s then return s end
  local n = tonumber(ARGV[pos])
  local qlimit = tonumber(ARGV[pos + 1])
  s = { n = n, qlimit = qlimit, period = tonumber(ARGV[pos + 2]), T = {}, L = {}, W = {} }
  local fields = {}
  for i = 1, n do fields[i] = ARGV[pos + 2 + i] end
  fields[n + 1] = 'x'
  if qlimit > 0 then
    fields[n + 2] = 'qr'
    fields[n + 3] = 'qu'
  end
  s.fields = fields
  local longest = 0
  for i = 1, n do
    local T = tonumber(ARGV[pos + 1 + n + 2 * i])
    local L = tonumber(ARGV[pos + 2 + n + 2 * i])
    s.T[i] = T
    s.L[i] = L
    s.W[i] = T * L
    if T * L > longest then longest = T * L end
  end
  if qlimit > 0 and s.period > longest then longest = s.period end
  s.longest = longest
  specs[pos] = s
  return s
end

local function decide(key, idem, op, s, cost, now)
  -- mode 0: first request (or none of an idempotency key), 1: replay, 2: key reused
  local mode = 0
  if idem then
    -- '<operation hash>:<expiry µs>': judged on the decision's clock, as memory.ts does, so
    -- a request's nowMs moves the record's expiry too; the key's own TTL only cleans up
    -- (a record of another layout, e.g. an older version's, counts as none)
    local prev = call('GET', idem)
    local ends = prev and tonumber(string.sub(prev, #op + 2))
    if ends and ends > now then
      if string.sub(prev, 1, #op) == op then
        mode = 1
      else
        mode = 2
        cost = 0
      end
    end
  end
  local n = s.n
  local qlimit = s.qlimit
  local fields = s.fields
  local T, W = s.T, s.W
  local vals = call('HMGET', key, unpack(fields))
  local allowed = true
  local code = 1
  local wait = 0
  for i = 1, n do
    local t = T[i]
    local w = W[i]
    local tat = tonumber(vals[i]) or now
    if tat < now or tat > now + w then tat = now end
    local ahead = tat + cost * t - now
    if ahead > w then
      allowed = false
      local d = ahead - w
      if cost * t > w then d = w end
      if d > wait then wait = d end
    end
    tats[i] = tat
  end
  local qr, qu, newPeriod = 0, 0, false
  if qlimit > 0 then
    qr = tonumber(vals[n + 2]) or 0
    qu = tonumber(vals[n + 3]) or 0
    if qr <= now then
      qr = now + s.period
      qu = 0
      newPeriod = true
    end
    -- a replay's operation has paid its quota already
    if mode == 0 and qu + cost > qlimit then
      if allowed then code = 2 end
      allowed = false
      if qr - now > wait then wait = qr - now end
    end
  end
  local charge = 0
  if allowed then charge = cost end
  local qcharge = 0
  if mode == 0 then qcharge = charge end
  local base = o
  if mode == 2 then
    out[base + 1] = 3
  elseif not allowed then
    out[base + 1] = ceil(wait / 1000) * 4 + code
  elseif mode == 1 then
    out[base + 1] = -1
  else
    out[base + 1] = 0
  end
  local keep = 0
  for i = 1, n do
    local tat = tats[i] + charge * T[i]
    args[2 * i - 1] = fields[i]
    args[2 * i] = tat
    if tat > keep then keep = tat end
    out[base + 1 + i] = tat - now
  end
  local len = 1 + n
  if qlimit > 0 then
    local left = qlimit - qu - qcharge
    if left < 0 then left = 0 end
    out[base + len + 1] = left
    out[base + len + 2] = ceil((qr - now) / 1000)
    len = len + 2
  end
  o = base + len
  if not allowed then return end
  if cost > 0 then
    local a = 2 * n
    if qlimit > 0 and qcharge > 0 then
      if newPeriod then
        args[a + 1] = 'qr'
        args[a + 2] = qr
        a = a + 2
      end
      args[a + 1] = 'qu'
      args[a + 2] = qu + cost
      a = a + 2
      if qr > keep then keep = qr end
    end
    local x = tonumber(vals[n + 1]) or 0
    if keep > x then
      -- Extend the TTL with slack, so that a busy partition renews it about four times per
      -- longest window instead of on every request.
      x = keep + floor(s.longest / 4)
      args[a + 1] = 'x'
      args[a + 2] = x
      call('HSET', key, unpack(args, 1, a + 2))
      call('PEXPIRE', key, ceil((x - now) / 1000))
    elseif a > 0 then
      -- (a replay of a quota-only key has nothing to write)
      call('HSET', key, unpack(args, 1, a))
    end
  end
  if idem and mode == 0 then
    call('SET', idem, op .. ':' .. string.format('%.0f', now + idemTtlUs), 'PX', idemTtl)
  end
end

local k = 1
for d = 1, m do
  local a = ARGV[3 + d]
  local pos = tonumber(a)
  local cost, now, idem, op = 1, nil, nil, nil
  if not pos then
    local p, c, t, h = string.match(a, '^(%d+),(%d+),(%d*),(%x*)$')
    pos = tonumber(p)
    cost = tonumber(c)
    if t ~= '' then now = tonumber(t) end
    if h ~= '' then
      idem = KEYS[k + 1]
      op = h
    end
  end
  if not now then now = clock end
  local key = KEYS[k]
  if idem then k = k + 2 else k = k + 1 end
  local before = o
  local ok, err = pcall(decide, key, idem, op, spec(pos), cost, now)
  if not ok then
    local j = before + 1
    while out[j] ~= nil do
      out[j] = nil
      j = j + 1
    end
    o = before + 1
    if type(err) == 'table' then err = err.err end
    out[o] = '!' .. tostring(err)
  end
end
return out
`

/** SHA1 of the script, for EVALSHA. */
export const LIMIT_SCRIPT_SHA = createHash('sha1').update(LIMIT_SCRIPT).digest('hex')
