-- A queue's scheduled opening and its draw (API.md, "Scheduled opening,
-- fair draw"), kept with the operator's other settings so that a loss of
-- Redis never unschedules an opening or changes the draw.
--
-- `opens_at_ms` (Unix ms, the gateway's clock) is NULL for a queue that was
-- never scheduled; it only moves from NULL to a future time, to another
-- future time, or to "now" (open at the next tick), never after it passed.
-- `draw_seed` is the secret picked when the first opening was set (64
-- lowercase hex characters, published from the opening on); `draw_base` is
-- the join sequence number from which pre-queue tickets are numbered in
-- draw order (they take `draw_base` + the first 51 bits of their draw hash).
ALTER TABLE queue_settings
    ADD COLUMN opens_at_ms BIGINT,
    ADD COLUMN draw_seed TEXT CHECK (draw_seed ~ '^[0-9a-f]{64}$'),
    ADD COLUMN draw_base BIGINT CHECK (draw_base > 0),
    ADD CONSTRAINT queue_settings_draw_check
        CHECK ((opens_at_ms IS NULL) = (draw_seed IS NULL) AND (draw_seed IS NULL) = (draw_base IS NULL));
