-- queue: a booking's phone, sealed with AES-256-GCM under the data key (crates/web/src/crypto.rs,
-- purpose `phone`); NULL for bookings made before it was asked for. The person look-up hash
-- (`person_hash`) of new bookings is keyed from the data key (`<key id>.<hmac hex>`); rows written
-- before this migration keep their unkeyed SHA-256 and are still found (look-ups ask for both
-- forms). They cannot be re-keyed here: the ID number is not stored, only its hash.
ALTER TABLE appointments ADD COLUMN phone_sealed TEXT;
