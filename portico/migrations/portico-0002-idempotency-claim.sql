-- depends: portico-0001-reliability
-- The first step of an Idempotency-Key request in one statement: take the key's lock (held to
-- the end of the transaction, so a concurrent request with the key gets 409) and, only once it
-- is held, read the stored response. Each query of a VOLATILE function runs with a fresh
-- snapshot, so the lookup sees whatever the lock's previous holder committed; one plain SELECT
-- of both would read with a snapshot taken before the lock was held.
CREATE FUNCTION portico_idempotency_claim(p_consumer text, p_key text)
RETURNS TABLE (acquired boolean, fingerprint text, status integer, headers jsonb, body jsonb)
LANGUAGE plpgsql VOLATILE AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock(hashtextextended(p_consumer || chr(31) || p_key, 0)) THEN
        RETURN QUERY SELECT false, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb;
        RETURN;
    END IF;
    RETURN QUERY
        SELECT true, k.fingerprint, k.status, k.headers, k.body
        FROM portico_idempotency_keys k
        WHERE k.consumer = p_consumer AND k.key = p_key AND k.expires_at > now();
    IF NOT FOUND THEN
        RETURN QUERY SELECT true, NULL::text, NULL::integer, NULL::jsonb, NULL::jsonb;
    END IF;
END
$$;
