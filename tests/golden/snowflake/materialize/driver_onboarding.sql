-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml
-- :start and :end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "DRIVER_ID",
  "__FC_EVENT_TS",
  MAX("ONBOARDED_AT") AS "ONBOARDED_AT",
  MAX("SIGNUP_DATE") AS "SIGNUP_DATE"
FROM (
  SELECT
    "DRIVER_ID",
    "__FC_EVENT_TS",
    "ONBOARDED_AT",
    "SIGNUP_DATE"
  FROM (
    SELECT
      "SRC"."DRIVER_ID" AS "DRIVER_ID",
      TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, "SRC"."UPDATED_AT"), 6) AS "__FC_EVENT_TS",
      "SRC"."ONBOARDED_AT" AS "ONBOARDED_AT",
      "SRC"."SIGNUP_DATE" AS "SIGNUP_DATE"
    FROM "RAW"."DRIVER_PROFILE" AS "SRC"
    WHERE
      (
        "SRC"."DRIVER_ID" IS NOT NULL AND "SRC"."UPDATED_AT" IS NOT NULL
      )
      AND "SRC"."UPDATED_AT" BETWEEN CAST(:start AS TIMESTAMP) - INTERVAL '1 DAY' AND CAST(:end AS TIMESTAMP) + INTERVAL '1 DAY'
  ) AS "IN_WINDOW"
  WHERE
    "__FC_EVENT_TS" >= TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, :start), 6)
    AND "__FC_EVENT_TS" <= TO_TIMESTAMP_NTZ(DATE_PART(EPOCH_MICROSECOND, :end), 6)
  QUALIFY
    RANK() OVER (PARTITION BY "DRIVER_ID" ORDER BY "__FC_EVENT_TS" DESC NULLS LAST) = 1
) AS "NEWEST"
GROUP BY
  "DRIVER_ID",
  "__FC_EVENT_TS"
