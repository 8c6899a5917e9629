-- Cases (办件) from intake to result. Personal data is stored sealed (AES-256-GCM, see
-- crates/web/src/crypto.rs) with keyed look-up hashes and masked copies for display; never in
-- clear. The case keeps the catalogue versions and the workflow it was applied under, so later
-- edits never change a running case.

-- Daily sequence of case numbers per 6-digit region code (see onestop_domain::case_no).
CREATE TABLE case_counters (
    region_code TEXT NOT NULL,
    day TEXT NOT NULL,
    next_seq BIGINT NOT NULL,
    PRIMARY KEY (region_code, day)
);

CREATE TABLE cases (
    id {pk},
    case_no TEXT NOT NULL UNIQUE,
    -- Keyed hash of the random tracking code printed on the receipt (shown once, never stored).
    tracking_hash TEXT NOT NULL UNIQUE,
    region_id BIGINT NOT NULL REFERENCES regions(id),
    region_path TEXT NOT NULL,
    hall_id BIGINT REFERENCES halls(id),
    -- service | bundle, and the id of one of them.
    subject TEXT NOT NULL,
    subject_id BIGINT NOT NULL,
    title TEXT NOT NULL,
    -- JSON array of the catalogue version ids (one per service) the case was applied under.
    catalogue_versions TEXT NOT NULL,
    -- The workflow version in force at submission (NULL: the generated default), and the
    -- definition itself, which is what the case runs on.
    workflow_version_id BIGINT,
    workflow_definition TEXT NOT NULL,
    -- JSON: task step key -> {department_id, department_name}, resolved at submission.
    step_departments TEXT NOT NULL,
    applicant_name TEXT NOT NULL,
    applicant_id_sealed TEXT NOT NULL,
    applicant_id_hash TEXT NOT NULL,
    applicant_id_masked TEXT NOT NULL,
    applicant_phone_sealed TEXT NOT NULL,
    applicant_phone_masked TEXT NOT NULL,
    -- Keyed hash of the phone's last four digits salted with the case number (public look-up).
    phone_last4_hash TEXT NOT NULL,
    -- The validated form, sealed as a whole, and a masked copy for display.
    form_sealed TEXT NOT NULL,
    form_masked TEXT NOT NULL,
    -- online | window
    channel TEXT NOT NULL,
    -- The served ticket of the visit, for a case taken in at a window from the queue.
    ticket_id BIGINT,
    -- onestop_domain::intake::CaseStatus::as_str
    status TEXT NOT NULL,
    -- 1 即办件, 2 承诺件
    case_type BIGINT NOT NULL,
    -- JSON of onestop_domain::intake::IntakeState, WorkflowState and CaseClock.
    intake_state TEXT NOT NULL,
    workflow_state TEXT NOT NULL,
    clock TEXT NOT NULL,
    -- not_started | running | paused | stopped
    clock_state TEXT NOT NULL,
    received_on TEXT NOT NULL,
    accepted_on TEXT,
    promised_deadline TEXT,
    legal_deadline TEXT,
    -- none | yellow | red, as the warnings sweeper last saw it.
    warning TEXT NOT NULL DEFAULT 'none',
    -- 首问负责: the first staff member who handled the applicant.
    first_handler TEXT,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    concluded_at BIGINT,
    certificate_number TEXT
);
CREATE INDEX cases_region ON cases (region_path, status);
CREATE INDEX cases_hall ON cases (hall_id, status);
CREATE INDEX cases_applicant ON cases (applicant_id_hash);
CREATE INDEX cases_intake_due ON cases (status, received_on);
CREATE INDEX cases_warning ON cases (warning, status);

-- Materials of a case: an uploaded file (by digest) or an e-certificate already issued and reused.
-- status: provided | pending (容缺, promised on commitment) | missing (listed in the one notice).
CREATE TABLE case_materials (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    name TEXT NOT NULL,
    upload_id BIGINT REFERENCES uploads(id),
    sha256 TEXT,
    certificate_number TEXT,
    status TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX case_materials_case ON case_materials (case_id);

-- Per-step records (办理环节记录): one row per opened task step, in the department's shared inbox
-- until claimed or assigned; closed with the handler's action and opinion.
CREATE TABLE case_steps (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    step_key TEXT NOT NULL,
    step_name TEXT NOT NULL,
    department_id BIGINT REFERENCES departments(id),
    department_name TEXT NOT NULL,
    role TEXT NOT NULL,
    region_path TEXT NOT NULL,
    hall_id BIGINT,
    handler TEXT,
    assigned_by TEXT,
    claimed_at BIGINT,
    opinion TEXT,
    action TEXT,
    started_at BIGINT NOT NULL,
    ended_at BIGINT,
    due_on TEXT,
    warning TEXT NOT NULL DEFAULT 'none'
);
CREATE INDEX case_steps_case ON case_steps (case_id);
CREATE INDEX case_steps_inbox ON case_steps (department_id, ended_at);
CREATE INDEX case_steps_handler ON case_steps (handler, ended_at);

-- Everything that happened to a case, in order (the follow-up page's milestones come from here).
CREATE TABLE case_events (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    at BIGINT NOT NULL,
    actor TEXT NOT NULL,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX case_events_case ON case_events (case_id, id);

-- Printable notices (受理通知书, 不予受理决定书, 容缺受理通知书, 一次性告知单, ...).
CREATE TABLE case_notices (
    id {pk},
    case_id BIGINT NOT NULL REFERENCES cases(id),
    kind TEXT NOT NULL,
    issued_at BIGINT NOT NULL,
    issued_by TEXT NOT NULL,
    content TEXT NOT NULL
);
CREATE INDEX case_notices_case ON case_notices (case_id);

-- A retried submission with the same Idempotency-Key gets the first answer (one case). The
-- answer holds the tracking code, so it is sealed; rows are purged after a day.
CREATE TABLE idempotency_keys (
    scope TEXT NOT NULL,
    idem_key TEXT NOT NULL,
    request_hash TEXT NOT NULL,
    case_id BIGINT NOT NULL,
    response_sealed TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (scope, idem_key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

-- Phone verification codes of online applicants (only a hash of the code is kept).
CREATE TABLE phone_codes (
    id {pk},
    phone_hash TEXT NOT NULL,
    code_hash TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    attempts BIGINT NOT NULL DEFAULT 0,
    used_at BIGINT
);
CREATE INDEX phone_codes_phone ON phone_codes (phone_hash, created_at);
