-- The security-key offer: codes an administrator loads (`wharf promo load`), each redeemable once for a free
-- hardware security key, and claimed one per maintainer of a critical project. A code is spent once claimed_at is
-- set; claimed_by names who claimed it (NULL once that account is deleted: the code stays spent). The unique
-- index on claimed_by gives an account at most one code (NULLs are distinct).
CREATE TABLE promo_codes (
    id         INTEGER PRIMARY KEY,
    code       TEXT    NOT NULL UNIQUE,
    batch      TEXT    NOT NULL DEFAULT '',
    loaded_at  BIGINT  NOT NULL,
    claimed_by INTEGER REFERENCES users (id) ON DELETE SET NULL,
    claimed_at BIGINT,
    CHECK (claimed_by IS NULL OR claimed_at IS NOT NULL)
);
CREATE UNIQUE INDEX promo_codes_claimed_by ON promo_codes (claimed_by);
CREATE INDEX promo_codes_free ON promo_codes (id) WHERE claimed_at IS NULL;
