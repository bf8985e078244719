-- One database per service, each owned by a role of its own. A service can
-- neither connect to another's database nor read its tables.
-- The postgres image runs this once, when it creates an empty data volume.
-- NOTE: these passwords are for a local stack only. A real deployment sets its own.

CREATE ROLE identity LOGIN PASSWORD 'identity';
CREATE DATABASE identity OWNER identity;
REVOKE CONNECT ON DATABASE identity FROM PUBLIC;

CREATE ROLE school_directory LOGIN PASSWORD 'school_directory';
CREATE DATABASE school_directory OWNER school_directory;
REVOKE CONNECT ON DATABASE school_directory FROM PUBLIC;

CREATE ROLE messaging LOGIN PASSWORD 'messaging';
CREATE DATABASE messaging OWNER messaging;
REVOKE CONNECT ON DATABASE messaging FROM PUBLIC;

CREATE ROLE attendance LOGIN PASSWORD 'attendance';
CREATE DATABASE attendance OWNER attendance;
REVOKE CONNECT ON DATABASE attendance FROM PUBLIC;

CREATE ROLE documents LOGIN PASSWORD 'documents';
CREATE DATABASE documents OWNER documents;
REVOKE CONNECT ON DATABASE documents FROM PUBLIC;
