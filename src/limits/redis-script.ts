import { createHash } from 'node:crypto'

/**
 * One decision, atomically, in Redis. Mirrors `decide()` in memory.ts line by line.
 *
 * KEYS[1]  the partition's state hash: `r:<rule>` -> TAT µs, `qr`/`qu` -> quota period end µs
 *          and credits used, `x` -> when the key's TTL ends, µs. The TTL is only extended when
 *          state would outlive it, then with a quarter of the longest window as slack, so the
 *          key lives at most 1.25x longer than its state matters.
 * KEYS[2]  optional: the idempotency record (the reply of the first admitted decision)
 * ARGV     now µs ('' = Redis TIME), cost, rule count n, quota limit (0 = none), quota period µs,
 *          idempotency TTL ms, then the n rule fields, 'x' (and 'qr', 'qu' with a quota), so
 *          HMGET takes them straight from ARGV, then per rule: interval T µs, limit (window =
 *          T * limit). The client caches this tail per rule set: no per-call formatting.
 *
 * Returns the flat reply of `decisionFromReply`, or the stored reply string on a replay.
 * Numbers handed to redis.call are formatted with 17 significant digits, so µs timestamps
 * (16 digits) survive; tostring() would round them, hence no string building with them.
 */
export const LIMIT_SCRIPT = `
local idem = KEYS[2]
if idem then
  local prev = redis.call('GET', idem)
  if prev then return prev end
end
local now = ARGV[1]
if now == '' then
  local t = redis.call('TIME')
  now = t[1] * 1000000 + t[2]
else
  now = tonumber(now)
end
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local qlimit = tonumber(ARGV[4])
local key = KEYS[1]
local last = 7 + n
if qlimit > 0 then last = last + 2 end
local vals = redis.call('HMGET', key, unpack(ARGV, 7, last))
local reply = {0, 0, 0}
local allowed = true
local code = 1
local wait = 0
local longest = 0
for i = 1, n do
  local T = tonumber(ARGV[last - 1 + 2 * i])
  local W = T * tonumber(ARGV[last + 2 * i])
  if W > longest then longest = W end
  local tat = tonumber(vals[i]) or now
  if tat < now or tat > now + W then tat = now end
  local ahead = tat + cost * T - now
  if ahead > W then
    allowed = false
    code = 1
    local w = ahead - W
    if cost * T > W then w = W end
    if w > wait then wait = w end
  end
  reply[2 + 2 * i] = tat
end
local qr, qu, newPeriod = 0, 0, false
if qlimit > 0 then
  local period = tonumber(ARGV[5])
  if period > longest then longest = period end
  qr = tonumber(vals[n + 2]) or 0
  qu = tonumber(vals[n + 3]) or 0
  if qr <= now then
    qr = now + period
    qu = 0
    newPeriod = true
  end
  if qu + cost > qlimit then
    if allowed then code = 2 end
    allowed = false
    if qr - now > wait then wait = qr - now end
  end
end
local charge = 0
if allowed then charge = cost end
local args = {}
local keep = 0
for i = 1, n do
  local T = tonumber(ARGV[last - 1 + 2 * i])
  local tat = reply[2 + 2 * i] + charge * T
  args[2 * i - 1] = ARGV[6 + i]
  args[2 * i] = tat
  if tat > keep then keep = tat end
  local ahead = tat - now
  reply[2 + 2 * i] = math.floor((T * tonumber(ARGV[last + 2 * i]) - ahead) / T)
  reply[3 + 2 * i] = math.ceil(ahead / 1000)
end
if qlimit > 0 then
  local left = qlimit - qu - charge
  if left < 0 then left = 0 end
  reply[4 + 2 * n] = left
  reply[5 + 2 * n] = math.ceil((qr - now) / 1000)
end
if not allowed then
  reply[2] = code
  reply[3] = math.ceil(wait / 1000)
  return reply
end
reply[1] = 1
if cost > 0 then
  local m = 2 * n
  if qlimit > 0 then
    if newPeriod then
      args[m + 1] = 'qr'
      args[m + 2] = qr
      m = m + 2
    end
    args[m + 1] = 'qu'
    args[m + 2] = qu + cost
    m = m + 2
    if qr > keep then keep = qr end
  end
  local x = tonumber(vals[n + 1]) or 0
  if keep > x then
    -- Extend the TTL with slack, so that a busy partition renews it about four times per
    -- longest window instead of on every request.
    x = keep + math.floor(longest / 4)
    args[m + 1] = 'x'
    args[m + 2] = x
    redis.call('HSET', key, unpack(args))
    redis.call('PEXPIRE', key, math.ceil((x - now) / 1000))
  else
    redis.call('HSET', key, unpack(args))
  end
end
if idem then
  redis.call('SET', idem, table.concat(reply, ','), 'PX', ARGV[6])
end
return reply
`

/** SHA1 of the script, for EVALSHA. */
export const LIMIT_SCRIPT_SHA = createHash('sha1').update(LIMIT_SCRIPT).digest('hex')
