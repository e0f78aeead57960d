-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml:44
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (ALTER SESSION SET TIMEZONE = 'UTC'): a naive time compared with a zoned one is read in the session's time zone
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS",
  "ONBOARDED_AT",
  "SIGNUP_DATE"
FROM (
  SELECT
    "SRC"."DRIVER_ID" AS "DRIVER_ID",
    "SRC"."UPDATED_AT" AS "__FC_EVENT_TS",
    "SRC"."ONBOARDED_AT" AS "ONBOARDED_AT",
    "SRC"."SIGNUP_DATE" AS "SIGNUP_DATE"
  FROM "RAW"."DRIVER_PROFILE" AS "SRC"
  WHERE
    "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."UPDATED_AT" IS NOT NULL
) AS "IN_WINDOW"
WHERE
  "__FC_EVENT_TS" >= :start AND "__FC_EVENT_TS" <= :end
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "DRIVER_ID"
    ORDER BY
      "__FC_EVENT_TS" DESC NULLS LAST,
      "ONBOARDED_AT" DESC NULLS LAST,
      "SIGNUP_DATE" DESC NULLS LAST
  ) = 1
