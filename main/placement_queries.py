"""The placement path's plain SQL (main/placements.py runs it through `Bitrix24Account.objects.raw()`, every value a
named parameter).

The ORM compiles its queries on every request, which cost more than the database takes to answer them: in process,
with the fake Bitrix24 answering at once, a repeated placement took 2.9 ms with the ORM's queries and 1.9 ms with
these, a first call 8.1 ms and 5.6 ms; `make bench`'s goals (a first call under 60 ms with 50 ms of Bitrix24's
latency, a repeat under 5 ms) need the difference. The portal's current installation is the master account's, else
the newest, as `InstallationQuerySet.of_portal` says; `x IS NULL` puts NULLs last on every database.
"""

# The account already holding an access token that has not expired, with its portal's installation status.
REPEAT_LOOKUP = """
    SELECT a.id, a.b24_user_id, a.is_b24_user_admin, a.member_id, a.is_master_account, a.domain_url, a.status,
        a.application_token, a.created_at_utc, a.updated_at_utc, a.application_version, a.comment, a.access_token,
        a.refresh_token, a.expires, a.expires_in, a.current_scope,
        (
            SELECT i.status FROM application_installation i JOIN bitrix24account m ON m.id = i.bitrix_24_account_id
            WHERE m.member_id = a.member_id
            ORDER BY m.is_master_account IS NULL, m.is_master_account DESC, i.created_at_utc DESC LIMIT 1
        ) AS installation_status
    FROM bitrix24account a
    WHERE a.domain_url = %(domain)s AND a.member_id = %(member_id)s AND a.access_token = %(access_token)s
        AND a.expires > %(now)s
    LIMIT 1
"""

# What saving a verified placement decides on, in one statement: the user's row; the row holding this user id at
# this address if another portal's; a row of the portal, if any; each with the portal's current installation.
SAVE_LOOKUP = """
    SELECT a.id, a.b24_user_id, a.is_b24_user_admin, a.member_id, a.is_master_account, a.domain_url, a.status,
        a.application_token, a.created_at_utc, a.updated_at_utc, a.application_version, a.comment, a.access_token,
        a.refresh_token, a.expires, a.expires_in, a.current_scope,
        i.id AS installation_id, i.status AS installation_status, i.comment AS installation_comment
    FROM bitrix24account a
    LEFT JOIN application_installation i ON i.id = (
        SELECT ci.id FROM application_installation ci JOIN bitrix24account m ON m.id = ci.bitrix_24_account_id
        WHERE m.member_id = %(member_id)s
        ORDER BY m.is_master_account IS NULL, m.is_master_account DESC, ci.created_at_utc DESC LIMIT 1
    )
    WHERE (a.member_id = %(member_id)s AND a.b24_user_id = %(user_id)s)
        OR (a.b24_user_id = %(user_id)s AND a.domain_url = %(domain)s)
        OR a.id = (SELECT p.id FROM bitrix24account p WHERE p.member_id = %(member_id)s LIMIT 1)
"""
# A placement's first call in one statement, for its common cases: a new user of a portal whose app may act, or the
# user's own row, at the same address, while it may act. Anything else (a block to lift, a portal that moved, an
# address another portal held, a refusal) returns no row and takes `_save`'s locked path. The locked path alone
# costs a placement's first call 2.4 ms more (BEGIN, a locking read, COMMIT: `make bench`'s first call went from
# 59.2 to 61.6 ms on gevent, against a goal of 60). PostgreSQL and SQLite; MySQL has no conditional upsert that
# returns its row, and takes the locked path.
UPSERT_WHILE_ACTIVE = """
    INSERT INTO bitrix24account (
        id, b24_user_id, domain_url, member_id, status, is_b24_user_admin, access_token, refresh_token, expires,
        expires_in, current_scope, application_version, created_at_utc, updated_at_utc
    )
    SELECT %(id)s, %(b24_user_id)s, %(domain_url)s, %(member_id)s, %(status)s, %(is_b24_user_admin)s,
        %(access_token)s, %(refresh_token)s, %(expires)s, %(expires_in)s, %(current_scope)s, %(application_version)s,
        %(created_at_utc)s, %(updated_at_utc)s
    WHERE NOT EXISTS (
        SELECT 1 FROM bitrix24account o
        WHERE o.member_id = %(member_id)s AND o.b24_user_id = %(b24_user_id)s AND o.domain_url <> %(domain_url)s
    ) AND COALESCE((
        SELECT i.status FROM application_installation i JOIN bitrix24account m ON m.id = i.bitrix_24_account_id
        WHERE m.member_id = %(member_id)s
        ORDER BY m.is_master_account IS NULL, m.is_master_account DESC, i.created_at_utc DESC LIMIT 1
    ), %(status)s) NOT IN (%(blocked)s, %(deleted)s)
    ON CONFLICT (b24_user_id, domain_url) DO UPDATE SET
        access_token = EXCLUDED.access_token, refresh_token = EXCLUDED.refresh_token, expires = EXCLUDED.expires,
        expires_in = EXCLUDED.expires_in, current_scope = EXCLUDED.current_scope,
        application_version = EXCLUDED.application_version, updated_at_utc = EXCLUDED.updated_at_utc
    WHERE bitrix24account.member_id = EXCLUDED.member_id AND bitrix24account.status IN (%(new)s, %(status)s)
    RETURNING id, b24_user_id, is_b24_user_admin, member_id, is_master_account, domain_url, status,
        application_token, created_at_utc, updated_at_utc, application_version, comment, access_token, refresh_token,
        expires, expires_in, current_scope
"""
UPSERT_VENDORS = ("postgresql", "sqlite")
