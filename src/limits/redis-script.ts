import { createHash } from 'node:crypto'

/**
 * One decision, atomically, in Redis. Mirrors `decide()` in memory.ts line by line.
 *
 * KEYS[1]  the partition's state hash: `r:<rule>` -> TAT µs, `qr`/`qu` -> quota period end µs
 *          and credits used, `x` -> µs after which nothing in the hash matters (the TTL)
 * KEYS[2]  optional: the idempotency record (the reply of the first admitted decision)
 * ARGV     now µs ('' = Redis TIME), cost, rule count, quota limit (0 = none), quota period µs,
 *          idempotency TTL ms, then per rule: field, interval µs, window µs
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
local now
if ARGV[1] == '' then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
else
  now = tonumber(ARGV[1])
end
local cost = tonumber(ARGV[2])
local n = tonumber(ARGV[3])
local qlimit = tonumber(ARGV[4])
local fields = {}
for i = 1, n do fields[i] = ARGV[4 + 3 * i] end
fields[n + 1] = 'x'
if qlimit > 0 then
  fields[n + 2] = 'qr'
  fields[n + 3] = 'qu'
end
local vals = redis.call('HMGET', KEYS[1], unpack(fields))
local reply = {}
local tats = {}
local allowed = true
local ruleRefused = false
local wait = 0
for i = 1, n do
  local T = tonumber(ARGV[5 + 3 * i])
  local W = tonumber(ARGV[6 + 3 * i])
  local tat = tonumber(vals[i]) or now
  if tat < now or tat > now + W then tat = now end
  tats[i] = tat
  local nxt = tat + cost * T
  if nxt - now > W then
    allowed = false
    ruleRefused = true
    local w = nxt - W - now
    if cost * T > W then w = W end
    if w > wait then wait = w end
  end
end
local qr = 0
local qu = 0
if qlimit > 0 then
  qr = tonumber(vals[n + 2]) or 0
  qu = tonumber(vals[n + 3]) or 0
  if qr <= now then
    qr = now + tonumber(ARGV[5])
    qu = 0
  end
  if qu + cost > qlimit then
    allowed = false
    local w = qr - now
    if w > wait then wait = w end
  end
end
local charge = 0
if allowed then charge = cost end
for i = 1, n do
  local T = tonumber(ARGV[5 + 3 * i])
  local ahead = tats[i] + charge * T - now
  reply[2 + 2 * i] = math.floor((tonumber(ARGV[6 + 3 * i]) - ahead) / T)
  reply[3 + 2 * i] = math.ceil(ahead / 1000)
end
if qlimit > 0 then
  local left = qlimit - qu - charge
  if left < 0 then left = 0 end
  reply[2 + 2 * n + 2] = left
  reply[3 + 2 * n + 2] = math.ceil((qr - now) / 1000)
end
if not allowed then
  reply[1] = 0
  if ruleRefused then reply[2] = 1 else reply[2] = 2 end
  reply[3] = math.ceil(wait / 1000)
  return reply
end
reply[1] = 1
reply[2] = 0
reply[3] = 0
if cost > 0 then
  local keep = tonumber(vals[n + 1]) or 0
  local args = {}
  for i = 1, n do
    local tat = tats[i] + cost * tonumber(ARGV[5 + 3 * i])
    args[2 * i - 1] = fields[i]
    args[2 * i] = tat
    if tat > keep then keep = tat end
  end
  if qlimit > 0 then
    args[2 * n + 1] = 'qr'
    args[2 * n + 2] = qr
    args[2 * n + 3] = 'qu'
    args[2 * n + 4] = qu + cost
    if qr > keep then keep = qr end
  end
  args[#args + 1] = 'x'
  args[#args + 1] = keep
  redis.call('HSET', KEYS[1], unpack(args))
  redis.call('PEXPIRE', KEYS[1], math.ceil((keep - now) / 1000) + 1)
end
if idem then
  redis.call('SET', idem, table.concat(reply, ','), 'PX', tonumber(ARGV[6]))
end
return reply
`

/** SHA1 of the script, for EVALSHA. */
export const LIMIT_SCRIPT_SHA = createHash('sha1').update(LIMIT_SCRIPT).digest('hex')
