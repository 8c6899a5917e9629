-- The hall floor: queue categories, window mappings and states, tickets and their events,
-- daily ticket counters, counters and histograms per leaf and time bucket, appointment slots
-- and bookings. Times are BIGINT ms; days are TEXT 'YYYY-MM-DD' in the hall's time zone.

CREATE TABLE queue_categories (
    id {pk},
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    prefix TEXT NOT NULL,
    name TEXT NOT NULL,
    closed_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX queue_categories_hall_prefix ON queue_categories (hall_id, prefix);

-- Which categories a window serves, with its rank there (1 = main category).
CREATE TABLE window_categories (
    window_id BIGINT NOT NULL REFERENCES windows(id),
    category_id BIGINT NOT NULL REFERENCES queue_categories(id),
    rank BIGINT NOT NULL,
    PRIMARY KEY (window_id, category_id)
);

-- The floor state of a window: closed, open or paused; who is on duty; what it holds.
-- Every action at a window first updates this row, which serialises a window's actions.
CREATE TABLE window_status (
    window_id BIGINT PRIMARY KEY REFERENCES windows(id),
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    state TEXT NOT NULL,
    clerk_id BIGINT,
    clerk_name TEXT NOT NULL DEFAULT '',
    current_ticket_id BIGINT,
    updated_at BIGINT NOT NULL
);
CREATE INDEX window_status_hall ON window_status (hall_id);

-- One row per hall, day and prefix: `UPDATE .. SET seq = seq + 1 RETURNING seq` hands out numbers.
CREATE TABLE ticket_counters (
    hall_id BIGINT NOT NULL,
    day TEXT NOT NULL,
    prefix TEXT NOT NULL,
    seq BIGINT NOT NULL,
    PRIMARY KEY (hall_id, day, prefix)
);

CREATE TABLE tickets (
    id {pk},
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    day TEXT NOT NULL,
    ticket_no TEXT NOT NULL,
    code TEXT NOT NULL,
    category_id BIGINT NOT NULL REFERENCES queue_categories(id),
    origin_category_id BIGINT NOT NULL,
    priority TEXT NOT NULL,
    source TEXT NOT NULL,
    slot_start BIGINT,
    slot_end BIGINT,
    appointment_id BIGINT,
    state TEXT NOT NULL,
    window_id BIGINT,
    target_window_id BIGINT,
    issued_at BIGINT NOT NULL,
    called_at BIGINT,
    recalls BIGINT NOT NULL DEFAULT 0,
    service_started_at BIGINT,
    finished_at BIGINT,
    returned_at BIGINT,
    served_by BIGINT,
    device_id BIGINT
);
CREATE UNIQUE INDEX tickets_hall_day_no ON tickets (hall_id, day, ticket_no);
CREATE UNIQUE INDEX tickets_code ON tickets (code);
CREATE INDEX tickets_hall_state ON tickets (hall_id, state);
CREATE INDEX tickets_category_finished ON tickets (category_id, finished_at);

-- Append-only: one row per state change of a ticket.
CREATE TABLE ticket_events (
    id {pk},
    ticket_id BIGINT NOT NULL,
    hall_id BIGINT NOT NULL,
    at BIGINT NOT NULL,
    action TEXT NOT NULL,
    state TEXT NOT NULL,
    window_id BIGINT,
    category_id BIGINT NOT NULL,
    actor TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id);
CREATE INDEX ticket_events_hall_at ON ticket_events (hall_id, at);

-- Counters per leaf (hall, window, category; window 0 = before any window) and bucket
-- ('hour' or 'day', starting at bucket_start). Waiting and service times also go into fixed
-- histogram buckets (minutes: 1, 2, 5, 10, 15, 20, 30, 45, 60, 90, more), so percentiles and
-- maxima need no scan of tickets.
CREATE TABLE queue_counters (
    hall_id BIGINT NOT NULL,
    window_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    bucket TEXT NOT NULL,
    bucket_start BIGINT NOT NULL,
    taken BIGINT NOT NULL DEFAULT 0,
    called BIGINT NOT NULL DEFAULT 0,
    served BIGINT NOT NULL DEFAULT 0,
    no_show BIGINT NOT NULL DEFAULT 0,
    transferred BIGINT NOT NULL DEFAULT 0,
    wait_count BIGINT NOT NULL DEFAULT 0,
    wait_sum_ms BIGINT NOT NULL DEFAULT 0,
    wait_max_ms BIGINT NOT NULL DEFAULT 0,
    service_count BIGINT NOT NULL DEFAULT 0,
    service_sum_ms BIGINT NOT NULL DEFAULT 0,
    service_max_ms BIGINT NOT NULL DEFAULT 0,
    wh0 BIGINT NOT NULL DEFAULT 0, wh1 BIGINT NOT NULL DEFAULT 0, wh2 BIGINT NOT NULL DEFAULT 0,
    wh3 BIGINT NOT NULL DEFAULT 0, wh4 BIGINT NOT NULL DEFAULT 0, wh5 BIGINT NOT NULL DEFAULT 0,
    wh6 BIGINT NOT NULL DEFAULT 0, wh7 BIGINT NOT NULL DEFAULT 0, wh8 BIGINT NOT NULL DEFAULT 0,
    wh9 BIGINT NOT NULL DEFAULT 0, wh10 BIGINT NOT NULL DEFAULT 0,
    sh0 BIGINT NOT NULL DEFAULT 0, sh1 BIGINT NOT NULL DEFAULT 0, sh2 BIGINT NOT NULL DEFAULT 0,
    sh3 BIGINT NOT NULL DEFAULT 0, sh4 BIGINT NOT NULL DEFAULT 0, sh5 BIGINT NOT NULL DEFAULT 0,
    sh6 BIGINT NOT NULL DEFAULT 0, sh7 BIGINT NOT NULL DEFAULT 0, sh8 BIGINT NOT NULL DEFAULT 0,
    sh9 BIGINT NOT NULL DEFAULT 0, sh10 BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (hall_id, window_id, category_id, bucket, bucket_start)
);
CREATE INDEX queue_counters_bucket ON queue_counters (bucket, bucket_start);

-- Bookable slots per hall, category and day, within the hall's opening hours.
CREATE TABLE appointment_slots (
    id {pk},
    hall_id BIGINT NOT NULL REFERENCES halls(id),
    category_id BIGINT NOT NULL REFERENCES queue_categories(id),
    day TEXT NOT NULL,
    starts_at BIGINT NOT NULL,
    ends_at BIGINT NOT NULL,
    capacity BIGINT NOT NULL,
    booked BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX appointment_slots_unique ON appointment_slots (category_id, starts_at);
CREATE INDEX appointment_slots_hall_day ON appointment_slots (hall_id, day);

-- A booking. The ID number is kept only as a keyed hash (for check-in and the no-show rule).
CREATE TABLE appointments (
    id {pk},
    slot_id BIGINT NOT NULL REFERENCES appointment_slots(id),
    hall_id BIGINT NOT NULL,
    category_id BIGINT NOT NULL,
    code TEXT NOT NULL,
    person_hash TEXT NOT NULL,
    name_masked TEXT NOT NULL,
    state TEXT NOT NULL,
    ticket_id BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE UNIQUE INDEX appointments_code ON appointments (code);
CREATE INDEX appointments_person ON appointments (person_hash, state);
CREATE INDEX appointments_slot ON appointments (slot_id);
