-- DEVELOPMENT ONLY: one database per Peony service (database peony_<svc>, see
-- docs/architecture.md), owned by the dev role. Run by the postgres image on first start.
CREATE DATABASE peony_members OWNER peony;
CREATE DATABASE peony_wallet OWNER peony;
CREATE DATABASE peony_booking OWNER peony;
CREATE DATABASE peony_notify OWNER peony;
