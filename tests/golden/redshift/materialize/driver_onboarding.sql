-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml:44
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (SET timezone TO 'UTC'): a naive time compared with a zoned one is read in the session's time zone
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "driver_id",
  "__fc_event_ts",
  "onboarded_at",
  "signup_date"
FROM (
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."updated_at" AS "__fc_event_ts",
    "src"."onboarded_at" AS "onboarded_at",
    "src"."signup_date" AS "signup_date"
  FROM "raw"."driver_profile" AS "src"
  WHERE
    "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
) AS "in_window"
WHERE
  "__fc_event_ts" >= %(start)s AND "__fc_event_ts" <= %(end)s
QUALIFY
  ROW_NUMBER() OVER (
    PARTITION BY "driver_id"
    ORDER BY
      "__fc_event_ts" DESC NULLS LAST,
      "onboarded_at" DESC NULLS LAST,
      "signup_date" DESC NULLS LAST
  ) = 1
