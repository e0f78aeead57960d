-- fcompile 0.1.0 · feature view driver_lifetime_stats · features/driver.yml
-- $start and $end are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
SELECT
  "driver_id",
  "__fc_event_ts",
  MAX("lifetime_trip_count") AS "lifetime_trip_count",
  BOOL_OR(CAST("is_premium" AS BOOLEAN)) AS "is_premium",
  MAX("vehicle_class") AS "vehicle_class"
FROM (
  SELECT
    "driver_id",
    "__fc_event_ts",
    "lifetime_trip_count",
    "is_premium",
    "vehicle_class"
  FROM (
    SELECT
      "src"."driver_id" AS "driver_id",
      CAST("src"."updated_at" AS TIMESTAMPTZ) AS "__fc_event_ts",
      "src"."lifetime_trip_count" AS "lifetime_trip_count",
      "src"."is_premium" AS "is_premium",
      "src"."vehicle_class" AS "vehicle_class"
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
