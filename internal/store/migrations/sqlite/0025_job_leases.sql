-- A day's run of a daily job is leased, not only claimed: the instance that takes it holds it until lease_until,
-- renews it while the job runs and marks the day done when the job finishes. An instance that dies in the middle
-- leaves a lease that ends, and the next instance to ask takes the day over (store.DB.LeaseDay). The days claimed
-- before leases existed count as done.
ALTER TABLE job_days ADD COLUMN holder TEXT NOT NULL DEFAULT '';
ALTER TABLE job_days ADD COLUMN lease_until BIGINT NOT NULL DEFAULT 0;
ALTER TABLE job_days ADD COLUMN done BOOLEAN NOT NULL DEFAULT true;
