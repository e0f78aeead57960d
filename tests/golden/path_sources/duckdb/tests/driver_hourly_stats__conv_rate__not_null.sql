-- fcompile 0.1.0 · data test driver_hourly_stats__conv_rate__not_null · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  "source"."driver_id" AS "driver_id",
  "source"."event_timestamp" AS "event_timestamp",
  "source"."created" AS "created",
  "source"."conversion_rate" AS "conv_rate"
FROM READ_PARQUET('data/driver_stats.parquet') AS "source"
WHERE
  "source"."conversion_rate" IS NULL
