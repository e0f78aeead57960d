-- fcompile 0.1.0 · data test driver_hourly_stats__unique_key_time · features/driver.yml
-- returns the failing rows: none when the test passes
-- severity: error
SELECT
  "SOURCE"."DRIVER_ID" AS "DRIVER_ID",
  "SOURCE"."EVENT_TIMESTAMP" AS "EVENT_TIMESTAMP",
  "SOURCE"."CREATED" AS "CREATED",
  COUNT(*) AS "DUPLICATE_ROWS"
FROM "RAW"."DRIVER_STATS" AS "SOURCE"
WHERE
  "SOURCE"."DRIVER_ID" IS NOT NULL AND "SOURCE"."EVENT_TIMESTAMP" IS NOT NULL
GROUP BY
  "SOURCE"."DRIVER_ID",
  "SOURCE"."EVENT_TIMESTAMP",
  "SOURCE"."CREATED"
HAVING
  COUNT(*) > 1
