-- Public numbers of one queue. ARGV: 1 now_ms
-- Returns {waiting, active, paused, admit_per_tick, max_active, admitted_last_minute,
--          1 if the queue's epoch exists else 0, opens_at ms, draw_commitment,
--          draw_seed (only once drawn), seats_available}
-- (settings are '' when the concert still uses the configured defaults or
-- has no scheduled opening; seats_available '' when not counted yet).
local now = tonumber(ARGV[1])
local exists = redis.call('EXISTS', KEYS[11])
if exists == 1 then schedule(now) end -- an opening that has come is drawn first
local config = redis.call('HMGET', KEYS[7], 'paused', 'admit_per_tick', 'max_active',
  'opens_at', 'draw_commitment', 'drawn', 'draw_seed', 'seats_available')
local seed = ''
if config[6] == '1' then seed = config[7] or '' end
return {redis.call('ZCARD', KEYS[2]),
        redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'),
        config[1] or '0', config[2] or '', config[3] or '',
        tonumber(redis.call('HGET', KEYS[10], 'admitted_last_minute') or '0'),
        exists, config[4] or '', config[5] or '', seed, config[8] or ''}
