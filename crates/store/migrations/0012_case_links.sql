-- Cases, continued (casecore): delegation of an absent person's work for a period, the visits
-- (served queue tickets) linked to a case, and who a delegated step was meant for.

-- 委托: while `from_user` is away (starts_on..=ends_on, local dates), steps that would be
-- claimed by or assigned to them go to `to_user`. Distinct from a one-off reassignment.
CREATE TABLE case_delegations (
    id {pk},
    region_path TEXT NOT NULL,
    from_user TEXT NOT NULL,
    to_user TEXT NOT NULL,
    starts_on TEXT NOT NULL,
    ends_on TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX case_delegations_from ON case_delegations (from_user, ends_on);

-- The step record names the person a delegated step was meant for (handler is the delegate).
ALTER TABLE case_steps ADD COLUMN delegated_from TEXT;

-- Every visit of the applicant to a window for a case: the served ticket, and why (submit: the
-- visit that took the case in; materials: a visit to hand in missing or pending materials;
-- result: a visit to collect the result). 最多跑一次 is computed from these rows: a case with at
-- most one row was finished in at most one visit. cases.ticket_id keeps the first visit.
CREATE TABLE case_tickets (
    case_id BIGINT NOT NULL REFERENCES cases(id),
    ticket_id BIGINT NOT NULL,
    purpose TEXT NOT NULL,
    linked_at BIGINT NOT NULL,
    PRIMARY KEY (case_id, ticket_id)
);
CREATE INDEX case_tickets_ticket ON case_tickets (ticket_id);
INSERT INTO case_tickets (case_id, ticket_id, purpose, linked_at)
    SELECT id, ticket_id, 'submit', created_at FROM cases WHERE ticket_id IS NOT NULL;
