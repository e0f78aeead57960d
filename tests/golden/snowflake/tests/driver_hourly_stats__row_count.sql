-- fcompile 0.1.0 · data test driver_hourly_stats__row_count · features/driver.yml
-- returns one row with the failing figure when the test fails, none when it passes
-- severity: error
SELECT
  "COUNTED"."ROW_COUNT" AS "ROW_COUNT"
FROM (
  SELECT
    COUNT(*) AS "ROW_COUNT"
  FROM "RAW"."DRIVER_STATS" AS "SOURCE"
) AS "COUNTED"
WHERE
  "COUNTED"."ROW_COUNT" < 1
