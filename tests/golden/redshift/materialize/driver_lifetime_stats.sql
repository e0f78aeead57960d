-- fcompile 0.1.0 · feature view driver_lifetime_stats · features/driver.yml:34
-- %(start)s and %(end)s are bound parameters: the event-time window, both ends inclusive; the newest row per entity key in it
-- run in a UTC session (SET timezone TO 'UTC'): a naive time compared with a zoned one is read in the session's time zone
SELECT
  "driver_id",
  "__fc_event_ts",
  "lifetime_trip_count",
  "is_premium",
  "vehicle_class"
FROM (
  SELECT
    "src"."driver_id" AS "driver_id",
    "src"."updated_at" AS "__fc_event_ts",
    "src"."lifetime_trip_count" AS "lifetime_trip_count",
    "src"."is_premium" AS "is_premium",
    "src"."vehicle_class" AS "vehicle_class"
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
      "lifetime_trip_count" DESC NULLS LAST,
      "is_premium" DESC NULLS LAST,
      "vehicle_class" DESC NULLS LAST
  ) = 1
