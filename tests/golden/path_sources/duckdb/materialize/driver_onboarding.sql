-- fcompile 0.1.0 · feature view driver_onboarding · features/driver.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- offline-only view (online: false): compiled for review, not loaded into the online store
SELECT
  "driver_id",
  "__fc_event_ts",
  MAX("onboarded_at") AS "onboarded_at",
  MAX("signup_date") AS "signup_date"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "onboarded_at",
    "signup_date"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      CAST("src"."updated_at" AS TIMESTAMPTZ) AS "__fc_event_ts",
      "src"."onboarded_at" AS "onboarded_at",
      "src"."signup_date" AS "signup_date"
    FROM READ_PARQUET('data/driver_profile.parquet') AS "src"
    WHERE
      (
        "src"."driver_id" IS NOT NULL AND "src"."updated_at" IS NOT NULL
      )
      AND "src"."updated_at" BETWEEN CAST($start AS TIMESTAMP) - INTERVAL '1' DAY AND CAST($end AS TIMESTAMP) + INTERVAL '1' DAY
  ) AS "in_window"
  WHERE
    "__fc_event_ts" >= MAKE_TIMESTAMPTZ(EPOCH_US($start))
    AND "__fc_event_ts" <= MAKE_TIMESTAMPTZ(EPOCH_US($end))
  QUALIFY
    RANK() OVER (PARTITION BY "driver_id" ORDER BY "__fc_event_ts" DESC NULLS LAST) = 1
) AS "newest"
GROUP BY
  "driver_id",
  "__fc_event_ts"
