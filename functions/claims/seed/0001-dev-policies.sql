-- The dev contract (DESIGN.md): alice owns P-1001 (active) and P-1002 (inactive); bob owns
-- P-2001 (active). Re-running restores these rows and leaves everything else alone.
INSERT INTO policies (policy_id, owner, status, holder_name) VALUES
    ('P-1001', 'alice', 'active',   'Alice Example'),
    ('P-1002', 'alice', 'inactive', 'Alice Example'),
    ('P-2001', 'bob',   'active',   'Bob Example')
ON CONFLICT (policy_id) DO UPDATE
    SET owner = EXCLUDED.owner, status = EXCLUDED.status, holder_name = EXCLUDED.holder_name;
