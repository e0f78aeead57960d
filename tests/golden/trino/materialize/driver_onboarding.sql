-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml:44
-- the two ? are bound parameters, in order: start, end: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (SET TIME ZONE 'UTC'): a naive time compared with a zoned one is read in the session's time zone
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "ranked"."driver_id",
  "ranked"."__fc_event_ts",
  "ranked"."onboarded_at",
  "ranked"."signup_date"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "onboarded_at",
    "signup_date",
    ROW_NUMBER() OVER (
      PARTITION BY "driver_id"
      ORDER BY
        "__fc_event_ts" DESC,
        "onboarded_at" DESC,
        "signup_date" DESC
    ) AS "__fc_rank"
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
    "__fc_event_ts" >= ? AND "__fc_event_ts" <= ?
) AS "ranked"
WHERE
  "ranked"."__fc_rank" = 1
