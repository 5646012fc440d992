-- Public numbers of one queue. ARGV: 1 now_ms
-- Returns {waiting, active, paused, admit_per_tick, max_active, admitted_last_minute,
--          1 if the queue's epoch exists else 0}
-- (settings are '' when the concert still uses the configured defaults).
local now = tonumber(ARGV[1])
local config = redis.call('HMGET', KEYS[7], 'paused', 'admit_per_tick', 'max_active')
return {redis.call('ZCARD', KEYS[2]),
        redis.call('ZCOUNT', KEYS[3], '(' .. now, '+inf'),
        config[1] or '0', config[2] or '', config[3] or '',
        tonumber(redis.call('HGET', KEYS[10], 'admitted_last_minute') or '0'),
        redis.call('EXISTS', KEYS[11])}
