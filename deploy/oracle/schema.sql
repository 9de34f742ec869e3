-- Tables of the drain-stream-to-db function in Oracle Autonomous Database.
-- The same names as the SQLite store (see docs/internals.md). Safe to run
-- again: a table that already exists (ORA-00955) is left as it is.
--
-- Text sizes are what the functions check: name and comment_text in bytes
-- (BYTE), as ocifn.records counts their UTF-8; reason in characters (CHAR), as
-- ocifn.store cuts it. A table made earlier with CHAR sizes for name and
-- comment_text holds everything these accept and needs no change.
--
-- Run as the application user, e.g. with SQLcl:
--   sql -cloudconfig wallet.zip APP@mydb_high @deploy/oracle/schema.sql

DECLARE
    table_exists EXCEPTION;
    PRAGMA EXCEPTION_INIT(table_exists, -955);
BEGIN
    EXECUTE IMMEDIATE q'[
        CREATE TABLE person (
            name          VARCHAR2(255 BYTE) NOT NULL,
            age           NUMBER(3) NOT NULL,
            comment_text  VARCHAR2(4000 BYTE),
            src_partition NUMBER(10) NOT NULL,
            src_offset    NUMBER(19) NOT NULL,
            updated_at    TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL,
            CONSTRAINT person_pk PRIMARY KEY (name),
            CONSTRAINT person_age_ck CHECK (age BETWEEN 0 AND 150)
        )
    ]';
EXCEPTION
    WHEN table_exists THEN
        NULL;
END;
/

DECLARE
    table_exists EXCEPTION;
    PRAGMA EXCEPTION_INIT(table_exists, -955);
BEGIN
    EXECUTE IMMEDIATE q'[
        CREATE TABLE dead_letter (
            src_partition NUMBER(10) NOT NULL,
            src_offset    NUMBER(19) NOT NULL,
            message_key   RAW(2000),
            raw_value     BLOB NOT NULL,
            reason        VARCHAR2(400 CHAR) NOT NULL,
            received_at   TIMESTAMP WITH TIME ZONE DEFAULT SYSTIMESTAMP NOT NULL,
            CONSTRAINT dead_letter_pk PRIMARY KEY (src_partition, src_offset)
        )
    ]';
EXCEPTION
    WHEN table_exists THEN
        NULL;
END;
/
