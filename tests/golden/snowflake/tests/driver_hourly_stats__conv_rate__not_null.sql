-- fcompile 0.1.0 · data test driver_hourly_stats__conv_rate__not_null · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  "SOURCE"."DRIVER_ID" AS "DRIVER_ID",
  "SOURCE"."EVENT_TIMESTAMP" AS "EVENT_TIMESTAMP",
  "SOURCE"."CREATED" AS "CREATED",
  "SOURCE"."CONVERSION_RATE" AS "CONV_RATE"
FROM "RAW"."DRIVER_STATS" AS "SOURCE"
WHERE
  "SOURCE"."CONVERSION_RATE" IS NULL
