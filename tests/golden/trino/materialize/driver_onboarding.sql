-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml
-- the two ? are bound parameters, in order: start, end: the event-time window, both ends inclusive; the newest row per entity key in it
-- the first statement sets the session's time zone to UTC, for this statement and the rest of the session: a naive time compared with a zoned one is read in the session's time zone
-- offline-only view (online: false): compiled for review, not loaded into the online store
SET TIME ZONE 'UTC';

SELECT
  "driver_id",
  "__fc_event_ts",
  MAX("onboarded_at") AS "onboarded_at",
  MAX("signup_date") AS "signup_date"
FROM (
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
      RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC) AS "__fc_rank"
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
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts"
