-- The two shared tables as the sibling PHP backend creates them (../shared/schema.md), PHP-only columns included.
-- Note the types: TIMESTAMP(3) without time zone, JSON (not JSONB), unbounded VARCHAR.

CREATE TABLE bitrix24account (
    id UUID NOT NULL,
    b24_user_id INTEGER NOT NULL,
    is_b24_user_admin BOOLEAN NOT NULL,
    member_id VARCHAR NOT NULL,
    is_master_account BOOLEAN,
    domain_url VARCHAR NOT NULL,
    status VARCHAR NOT NULL,
    application_token VARCHAR,
    created_at_utc TIMESTAMP(3) WITHOUT TIME ZONE NOT NULL,
    updated_at_utc TIMESTAMP(3) WITHOUT TIME ZONE NOT NULL,
    application_version INTEGER NOT NULL,
    comment TEXT,
    access_token VARCHAR,
    refresh_token VARCHAR,
    expires INTEGER,
    expires_in INTEGER,
    current_scope JSON,
    auth_token_access_token VARCHAR,
    auth_token_refresh_token VARCHAR,
    auth_token_expires BIGINT,
    auth_token_expires_in BIGINT,
    application_scope_current_scope JSON,
    PRIMARY KEY (id),
    CONSTRAINT bitrix24account_b24_user_id_domain_url_key UNIQUE (b24_user_id, domain_url)
);
CREATE INDEX bitrix24account_member_id_idx ON bitrix24account (member_id);
CREATE INDEX bitrix24account_domain_url_idx ON bitrix24account (domain_url);

CREATE TABLE application_installation (
    id UUID NOT NULL,
    status VARCHAR NOT NULL,
    created_at_utc TIMESTAMP(3) WITHOUT TIME ZONE NOT NULL,
    update_at_utc TIMESTAMP(3) WITHOUT TIME ZONE NOT NULL,
    bitrix_24_account_id UUID NOT NULL,
    contact_person_id UUID,
    bitrix_24_partner_contact_person_id UUID,
    bitrix_24_partner_id UUID,
    external_id VARCHAR,
    portal_license_family VARCHAR NOT NULL,
    portal_users_count INTEGER,
    application_token VARCHAR,
    comment TEXT,
    status_code JSON,
    application_status_status_code JSON,
    PRIMARY KEY (id),
    CONSTRAINT application_installation_bitrix_24_account_id_key UNIQUE (bitrix_24_account_id),
    CONSTRAINT application_installation_bitrix_24_account_id_fkey FOREIGN KEY (bitrix_24_account_id)
        REFERENCES bitrix24account (id) ON DELETE CASCADE
);
CREATE INDEX application_installation_status_idx ON application_installation (status);
CREATE INDEX application_installation_portal_license_family_idx ON application_installation (portal_license_family);
